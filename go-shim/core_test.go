//go:build cgo

package multipass

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// These tests run the real core through cgo, with the stand-in CLI serving
// tests/fixtures/list-mixed.json.

// fakeCLI prepares a control directory for the stand-in CLI and returns the
// CLI's path and the directory.
func fakeCLI(t testing.TB) (binary, dir string) {
	t.Helper()
	binary, err := filepath.Abs("../tests/fake-multipass/multipass")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("the stand-in CLI is missing: %v", err)
	}
	listing, err := os.ReadFile("../tests/fixtures/list-mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "list.json"), listing, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MULTIPASS_FAKE_DIR", dir)
	return binary, dir
}

// loadedResolver acquires the source o names from the registry (started,
// with its event loop), waits for its first listing, and returns it with a
// resolver for vm.test (TTL 30); the test's cleanup releases both.
func loadedResolver(t *testing.T, o sourceOptions) (coreSource, coreResolver) {
	t.Helper()
	l, err := sources.acquire(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sources.release(l) })
	eventually(t, "the first listing loaded", l.src.ready)
	res, err := l.src.newResolver(resolverOptions{zones: []string{"vm.test."}, ttl: 30}, l.src.waits.await)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(res.destroy) // cleanups run last-in first-out: before the release
	return l.src, res
}

// noWait is a waitFunc for a resolver whose questions never wait.
func noWait(uint64, time.Duration, <-chan struct{}) {}

// polling is a waitFunc that waits for the look by asking src every few
// milliseconds (the product's event loop sleeps on the wake-up pipe).
func polling(src coreSource) waitFunc {
	return func(seq uint64, limit time.Duration, _ <-chan struct{}) {
		for end := time.Now().Add(limit); src.unitsFinished() < seq && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestCoreResolve(t *testing.T) {
	binary, _ := fakeCLI(t)
	o := newSourceOptions()
	o.binary = binary
	src, err := openSource(o)
	if err != nil {
		t.Fatal(err)
	}
	defer src.destroy()
	if src.ready() {
		t.Error("expected a source that never ran not to be ready")
	}
	if err := src.start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the source loaded the listing", src.ready)

	res, err := src.newResolver(resolverOptions{zones: []string{"vm.test."}, ttl: 42}, polling(src))
	if err != nil {
		t.Fatal(err)
	}
	defer res.destroy()

	origin, mname, rname, err := res.zone(0)
	if err != nil || origin != "vm.test." || mname != "ns1.vm.test." || rname != "hostmaster.vm.test." {
		t.Errorf("expected the SOA names of vm.test., got %q %q %q %v", origin, mname, rname, err)
	}

	a := res.resolve("PrImArY.vm.test.", dns.TypeA)
	if a.outcome != answered || a.rrtype != dns.TypeA || a.ttl != 42 || string(a.addrs) != "\x0a\x6e\x18\x57" {
		t.Errorf("expected primary's A 10.110.24.87 with TTL 42, got %+v", a)
	}
	if a := res.resolve("primary.vm.test.", dns.TypeAAAA); a.outcome != noData || a.rcode != dns.RcodeSuccess || a.zone != 0 {
		t.Errorf("expected NODATA for AAAA, got %+v", a)
	}
	if a := res.resolve("calm-squirrel.vm.test", dns.TypeA); a.outcome != noData {
		t.Errorf("expected NODATA for a stopped VM, got %+v", a)
	}
	if a := res.resolve("nope.vm.test.", dns.TypeA); a.outcome != nxDomain || a.rcode != dns.RcodeNameError || a.soa.serial == 0 {
		t.Errorf("expected NXDOMAIN with the SOA numbers, got %+v", a)
	}
	if a := res.resolve("example.org.", dns.TypeA); a.outcome != notMine {
		t.Errorf("expected not mine, got %+v", a)
	}
	for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		if a := res.resolve("vm.test.", qtype); a.outcome != refused || a.rcode != dns.RcodeRefused {
			t.Errorf("expected REFUSED for a zone transfer (%s), got %+v", dns.TypeToString[qtype], a)
		}
	}

	// Issue 25: a question that did not wait for its look (its wait ran
	// out, or its resolver went) is not told the name is missing.
	impatient, err := src.newResolver(resolverOptions{zones: []string{"vm.test."}, ttl: 42}, noWait)
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.destroy()
	if a := impatient.resolve("never-looked-for.vm.test.", dns.TypeA); a.outcome != serverFailure {
		t.Errorf("expected SERVFAIL for a name whose look did not end, got %+v", a)
	}
	if a := impatient.resolve("primary.vm.test.", dns.TypeA); a.outcome != answered {
		t.Errorf("expected a known name to answer without a look, got %+v", a)
	}

	res.destroy()
	if a := res.resolve("primary.vm.test.", dns.TypeA); a.outcome != serverFailure {
		t.Errorf("expected SERVFAIL from a destroyed resolver, got %+v", a)
	}
}

// A VM launched after the last listing resolves on its first question: the
// question parks its goroutine (not an OS thread) while the look runs, and
// many such questions at once (far more than the 16 that once were the cap)
// create no thread each.
func TestCoreNewVMResolvesOnFirstQuestionWithoutAThreadPerWait(t *testing.T) {
	binary, dir := fakeCLI(t)
	o := newSourceOptions()
	o.binary = binary
	o.refresh = time.Hour
	_, res := loadedResolver(t, o)

	listing, err := os.ReadFile(filepath.Join(dir, "list.json"))
	if err != nil {
		t.Fatal(err)
	}
	launched := strings.Replace(string(listing), `"name": "primary"`, `"name": "fresh"`, 1)
	if launched == string(listing) {
		t.Fatal("the fixture has no VM named primary to rename")
	}
	writeFile(t, filepath.Join(dir, "list.json"), launched)

	threads := pprof.Lookup("threadcreate")
	before := threads.Count()
	var wg sync.WaitGroup
	const others = 200
	for i := 0; i < others; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res.resolve("nosuch-"+strconv.Itoa(i)+".vm.test.", dns.TypeA)
		}(i)
	}
	a := res.resolve("fresh.vm.test.", dns.TypeA)
	wg.Wait()
	if a.outcome != answered || string(a.addrs) != "\x0a\x6e\x18\x57" {
		t.Errorf("expected the new VM's address on the first question, got %+v", a)
	}
	if grown := threads.Count() - before; grown > 8 {
		t.Errorf("%d OS threads created for %d questions waiting for a refresh", grown, others+1)
	}
}

// The core's log lines come through the C ABI's queue, the wake-up pipe
// says when there are some, and reads end of file once the source stopped.
func TestCoreLogsAndWakeUps(t *testing.T) {
	binary, dir := fakeCLI(t)
	writeFile(t, filepath.Join(dir, "mode"), "no-daemon\n")
	o := newSourceOptions()
	o.binary = binary
	src, err := openSource(o)
	if err != nil {
		t.Fatal(err)
	}
	defer src.destroy()
	ev, err := src.events()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if err := src.start(); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Read(make([]byte, 8)); err != nil {
		t.Fatalf("expected a wake-up for the first refresh, got %v", err)
	}
	eventually(t, "the core logged the CLI's failure", func() bool {
		l, ok := src.nextLog()
		return ok && strings.Contains(l.text, "cannot connect to the multipass socket") && l.level >= levelWarning
	})
	// The core may log the failure just before it counts it.
	eventually(t, "the stats count the failed refresh", func() bool { return src.stats().full.failed > 0 })
	if st := src.stats(); st.full.ok != 0 || !st.lastSuccess.IsZero() || st.full.failing <= 0 {
		t.Errorf("expected failed refreshes only, failing for a while, got %+v", st)
	}
	if src.ready() {
		t.Error("expected a source that never loaded not to be ready")
	}

	src.stop()
	read := make(chan error, 1)
	go func() { _, err := io.ReadAll(ev); read <- err }()
	select {
	case err := <-read:
		if err != nil {
			t.Errorf("expected end of file from the stopped source's pipe, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wake-up pipe did not close when the source stopped")
	}
	if n := src.unitsFinished(); n == 0 {
		t.Error("expected the core to count the units that ended")
	}
}

// The whole plugin over the real core: Corefile, OnStartup, ServeDNS,
// Ready, OnShutdown.
func TestCorePlugin(t *testing.T) {
	binary, _ := fakeCLI(t)
	c := caddy.NewTestController("dns", "multipass vm.test 10.110.24.0/24 {\nbinary "+binary+"\naddresses all\n}")
	m, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	m.Next = test.NextHandler(dns.RcodeRefused, nil)
	if err := m.startup(nil, nil); err != nil {
		t.Fatal(err)
	}
	defer m.shutdown()
	eventually(t, "the plugin is ready", m.Ready)

	cases := []test.Case{
		{Qname: "K8s-Node-01.vm.test.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("K8s-Node-01.vm.test. 10 IN A 10.110.24.141"),
			test.A("K8s-Node-01.vm.test. 10 IN A 172.17.0.1"),
			test.A("K8s-Node-01.vm.test. 10 IN A 192.168.1.57"),
		}},
		{Qname: "87.24.110.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{
			test.PTR("87.24.110.10.in-addr.arpa. 10 IN PTR primary.vm.test."),
		}},
		{Qname: "nope.vm.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{
			test.SOA("vm.test. 5 IN SOA ns1.vm.test. hostmaster.vm.test. 303 303 303 303 5"),
		}},
	}
	// No zone transfer: CoreDNS's server writes the REFUSED.
	axfr := new(dns.Msg)
	axfr.SetQuestion("vm.test.", dns.TypeAXFR)
	if rcode, _ := m.ServeDNS(context.TODO(), dnstest.NewRecorder(&test.ResponseWriter{}), axfr); rcode != dns.RcodeRefused {
		t.Errorf("expected REFUSED for AXFR, got %s", dns.RcodeToString[rcode])
	}
	for i, tc := range cases {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := m.ServeDNS(context.TODO(), rec, tc.Msg()); err != nil {
			t.Errorf("Test %d: %v", i, err)
			continue
		}
		if rec.Msg == nil {
			t.Errorf("Test %d (%s): no reply", i, tc.Qname)
			continue
		}
		if err := test.SortAndCheck(rec.Msg, tc); err != nil {
			t.Errorf("Test %d: %v", i, err)
		}
	}
}

// A question that comes after OnShutdown (a server still draining its
// last questions during a reload) gets SERVFAIL from the destroyed
// resolver: no crash, no answer from a source that is gone.
func TestCorePluginAfterShutdown(t *testing.T) {
	binary, _ := fakeCLI(t)
	m, err := parse(caddy.NewTestController("dns", "multipass vm.test {\nbinary "+binary+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.startup(nil, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the plugin is ready", m.Ready)
	req := new(dns.Msg).SetQuestion("primary.vm.test.", dns.TypeA)
	if rcode, _ := m.ServeDNS(context.TODO(), dnstest.NewRecorder(&test.ResponseWriter{}), req); rcode != dns.RcodeSuccess {
		t.Fatalf("expected an answer while running, got %s", dns.RcodeToString[rcode])
	}
	m.shutdown()
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if rcode, _ := m.ServeDNS(context.TODO(), rec, req); rcode != dns.RcodeServerFailure || rec.Msg != nil {
		t.Errorf("expected SERVFAIL for the server to write, got %s (wrote %v)", dns.RcodeToString[rcode], rec.Msg)
	}
	if m.Ready() {
		t.Error("expected a block that shut down not to be ready")
	}
}

// BenchmarkCoreServeDNS measures the hit path: one A question answered by
// the real core and written with WriteMsg.
func BenchmarkCoreServeDNS(b *testing.B) {
	binary, err := filepath.Abs("../tests/fake-multipass/multipass")
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv("MULTIPASS_FAKE_DIR", "")
	c := caddy.NewTestController("dns", "multipass vm.test {\nbinary "+binary+"\n}")
	m, err := parse(c)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.startup(nil, nil); err != nil {
		b.Fatal(err)
	}
	defer m.shutdown()
	for !m.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	req := new(dns.Msg)
	req.SetQuestion("primary.vm.test.", dns.TypeA)
	w := &test.ResponseWriter{}
	ctx := context.TODO()

	b.ReportAllocs()
	for b.Loop() {
		if rcode, _ := m.ServeDNS(ctx, w, req); rcode != dns.RcodeSuccess {
			b.Fatalf("expected NOERROR, got %s", dns.RcodeToString[rcode])
		}
	}
}
