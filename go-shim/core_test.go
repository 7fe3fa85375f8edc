//go:build cgo

package multipass

import (
	"context"
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

// loadedResolver opens and starts a source as o says, waits for its first
// listing, and returns it with a resolver for vm.test (TTL 30); the test's
// cleanup destroys both.
func loadedResolver(t *testing.T, o sourceOptions) (coreSource, coreResolver) {
	t.Helper()
	src, err := openSource(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.destroy)
	t.Cleanup(src.stop) // cleanups run last-in first-out: stop, then destroy
	if err := src.start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first listing loaded", src.ready)
	res, err := src.newResolver(resolverOptions{zones: []string{"vm.test."}, ttl: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(res.destroy)
	return src, res
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

	res, err := src.newResolver(resolverOptions{zones: []string{"vm.test."}, ttl: 42})
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

	res.destroy()
	if a := res.resolve("primary.vm.test.", dns.TypeA); a.outcome != serverFailure {
		t.Errorf("expected SERVFAIL from a destroyed resolver, got %+v", a)
	}
}

// A VM launched after the last refresh resolves on its first question: the
// question parks its goroutine (not an OS thread) while the on-demand refresh
// runs, and many such questions at once create no thread each. (Fewer than
// maxRefreshWaiters: past it a question is answered at once, by design.)
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
	const others = maxRefreshWaiters - 4
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

// The core's log lines come through the C ABI's queue, and the queue says
// closed once the source stopped.
func TestCoreLogs(t *testing.T) {
	binary, dir := fakeCLI(t)
	if err := os.WriteFile(filepath.Join(dir, "mode"), []byte("no-daemon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := newSourceOptions()
	o.binary = binary
	o.refresh = time.Second
	src, err := openSource(o)
	if err != nil {
		t.Fatal(err)
	}
	defer src.destroy()
	if err := src.start(); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the core logged the CLI's failure", func() bool {
		l, st := src.nextLog(100 * time.Millisecond)
		if st == logEntry {
			return strings.Contains(l.text, "cannot connect to the multipass socket") && l.level >= levelWarning
		}
		return false
	})
	// The core may log the failure just before it counts it.
	eventually(t, "the stats count the failed refresh", func() bool { return src.stats().refreshesFailed > 0 })
	if st := src.stats(); st.refreshesOK != 0 || !st.lastSuccess.IsZero() {
		t.Errorf("expected failed refreshes only, got %+v", st)
	}
	if src.ready() {
		t.Error("expected a source that never loaded not to be ready")
	}

	src.stop()
	eventually(t, "the log queue closed", func() bool {
		_, st := src.nextLog(100 * time.Millisecond)
		return st == logClosed
	})
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
	if err := m.startup(); err != nil {
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
	if err := m.startup(); err != nil {
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
