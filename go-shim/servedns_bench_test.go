package multipass_test

// BenchmarkServeDNS compares the multipass plugin (real core through cgo,
// the stand-in CLI serving a generated listing) with CoreDNS's hosts plugin
// (a hosts file holding the same names), in the same run:
//
//	go test -run '^$' -bench BenchmarkServeDNS -benchmem -cpu 1 .
//
// Both plugins are built the way CoreDNS builds them: caddy.Start runs their
// registered setup on a Corefile, then the OnStartup hooks, and starts the
// server; the handler is taken from the server block's config. Every reply is packed to
// wire format (as the server does before sending it). Fleets come from
// tests/fixtures/make_fleet.py (needs python3). Unknown single-label names
// are left out on purpose: the multipass plugin may wait up to its miss wait
// for an on-demand refresh there (bench/dns_bench.py measures that mix).

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/hosts"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	_ "github.com/coredns-multipass/coredns-multipass/go-shim"
)

const benchZone = "vm.test."

// benchFleet is a generated listing, the stand-in CLI serving it and a hosts
// file with the same names.
type benchFleet struct {
	names []string // VM names, in listing order
	cli   string   // a script running the stand-in on this fleet
	hosts string   // hosts file path
}

func makeBenchFleet(b *testing.B, size int) *benchFleet {
	b.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		b.Fatal(err)
	}
	fake := filepath.Join(root, "tests", "fake-multipass", "multipass")
	makeFleet := filepath.Join(root, "tests", "fixtures", "make_fleet.py")
	if _, err := exec.LookPath("python3"); err != nil {
		b.Skip("python3 is needed for the stand-in CLI and make_fleet.py")
	}
	dir := b.TempDir()
	listing, err := exec.Command("python3", makeFleet, fmt.Sprint(size)).Output()
	if err != nil {
		b.Fatalf("make_fleet.py %d: %v", size, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "list.json"), listing, 0o644); err != nil {
		b.Fatal(err)
	}
	// One CLI path per fleet: blocks with equal options share a source.
	cli := filepath.Join(dir, "multipass")
	script := fmt.Sprintf("#!/bin/sh\nMULTIPASS_FAKE_DIR='%s' exec '%s' \"$@\"\n", dir, fake)
	if err := os.WriteFile(cli, []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}

	f := &benchFleet{cli: cli, hosts: filepath.Join(dir, "hosts")}
	var hosts strings.Builder
	width := max(5, len(fmt.Sprint(size)))
	for n := 1; n <= size; n++ {
		name := fmt.Sprintf("vm-%0*d", width, n)
		f.names = append(f.names, name)
		fmt.Fprintf(&hosts, "10.%d.%d.%d %s.%s\n", n>>16&255, n>>8&255, n&255, name, strings.TrimSuffix(benchZone, "."))
	}
	if err := os.WriteFile(f.hosts, []byte(hosts.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return f
}

// benchConfigs are the server block configs of the instances the benchmark
// starts, caught by its benchcapture directive.
var benchConfigs []*dnsserver.Config

func init() {
	plugin.Register("benchcapture", func(c *caddy.Controller) error {
		benchConfigs = append(benchConfigs, dnsserver.GetConfig(c))
		return nil
	})
}

// startPlugin starts a CoreDNS instance as CoreDNS does (caddy.Start: the
// registered setup, the OnStartup hooks, a server on 127.0.0.1) whose one
// server block, for the bench zone, runs corefile, a single plugin; it
// returns that plugin's handler (the server's last: no next plugin) and a
// function that stops the instance and runs its OnShutdown hooks.
func startPlugin(b *testing.B, corefile string) (plugin.Handler, func()) {
	b.Helper()
	directive := strings.Fields(corefile)[0]
	directives := dnsserver.Directives
	dnsserver.Directives = []string{"bind", "benchcapture", "hosts", "multipass"}
	defer func() { dnsserver.Directives = directives }()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	inst, err := caddy.Start(caddy.CaddyfileInput{ServerTypeName: "dns", Contents: []byte(fmt.Sprintf(
		"%s:%d {\nbind 127.0.0.1\nbenchcapture\n%s\n}\n", benchZone, port, corefile))})
	if err != nil {
		b.Fatalf("start %s: %v", directive, err)
	}
	h := benchConfigs[len(benchConfigs)-1].Handler(directive)
	if h == nil {
		b.Fatalf("%s registered no handler", directive)
	}
	return h, func() { inst.Stop(); inst.ShutdownCallbacks() }
}

// waitAnswer polls h until qname A gets an answer (the first listing has
// loaded).
func waitAnswer(b *testing.B, h plugin.Handler, qname string) {
	b.Helper()
	req := new(dns.Msg).SetQuestion(qname, dns.TypeA)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		h.ServeDNS(context.Background(), rec, req)
		if rec.Msg != nil && rec.Msg.Rcode == dns.RcodeSuccess && len(rec.Msg.Answer) == 1 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("%s: no answer for %s", h.Name(), qname)
}

// packingWriter packs every reply into wire format, as the server does before
// sending it, so that encoding each plugin's answer (the SOA of a NODATA
// reply, the owner names) counts; the buffer is reused.
type packingWriter struct {
	test.ResponseWriter
	buf []byte
}

// WriteMsg implements dns.ResponseWriter.
func (w *packingWriter) WriteMsg(m *dns.Msg) error {
	packed, err := m.PackBuffer(w.buf)
	w.buf = packed[:cap(packed)]
	return err
}

type benchQuery struct {
	name  string
	build func(names []string, i int) *dns.Msg
	rcode int // expected response code
	// answers expected for each plugin (hosts and multipass differ for AAAA
	// only in the authority section)
	answers int
}

var benchQueries = []benchQuery{
	{name: "hit", rcode: dns.RcodeSuccess, answers: 1, build: func(names []string, i int) *dns.Msg {
		return new(dns.Msg).SetQuestion(names[i]+"."+benchZone, dns.TypeA)
	}},
	{name: "mixed_case", rcode: dns.RcodeSuccess, answers: 1, build: func(names []string, i int) *dns.Msg {
		q := []byte(names[i] + "." + benchZone)
		for k := range q {
			if (k+i)%2 == 0 && q[k] >= 'a' && q[k] <= 'z' {
				q[k] -= 'a' - 'A'
			}
		}
		return new(dns.Msg).SetQuestion(string(q), dns.TypeA)
	}},
	{name: "aaaa", rcode: dns.RcodeSuccess, answers: 0, build: func(names []string, i int) *dns.Msg {
		return new(dns.Msg).SetQuestion(names[i]+"."+benchZone, dns.TypeAAAA)
	}},
}

func BenchmarkServeDNS(b *testing.B) {
	for _, size := range []int{10, 10000} {
		f := makeBenchFleet(b, size)
		plugins := []struct {
			name     string
			corefile string
		}{
			{"multipass", fmt.Sprintf("multipass %s {\n binary %s\n refresh 1h\n}", benchZone, f.cli)},
			{"hosts", fmt.Sprintf("hosts %s %s {\n reload 0\n}", f.hosts, benchZone)},
		}
		// Start each plugin once per fleet; every sub-benchmark reuses it.
		handlers := make([]plugin.Handler, len(plugins))
		for i, p := range plugins {
			h, stop := startPlugin(b, p.corefile)
			defer stop()
			waitAnswer(b, h, f.names[0]+"."+benchZone)
			handlers[i] = h
		}
		for _, q := range benchQueries {
			reqs := make([]*dns.Msg, len(f.names))
			for i := range f.names {
				reqs[i] = q.build(f.names, i)
			}
			for i, p := range plugins {
				h := handlers[i]
				b.Run(fmt.Sprintf("plugin=%s/vms=%d/query=%s", p.name, size, q.name), func(b *testing.B) {
					ctx := context.Background()
					rec := dnstest.NewRecorder(&test.ResponseWriter{})
					h.ServeDNS(ctx, rec, reqs[0])
					if rec.Msg == nil || rec.Msg.Rcode != q.rcode || len(rec.Msg.Answer) != q.answers {
						b.Fatalf("%s %s: unexpected reply %v", p.name, q.name, rec.Msg)
					}
					w := &packingWriter{buf: make([]byte, 0, 512)}
					b.ReportAllocs()
					n := 0
					for b.Loop() {
						h.ServeDNS(ctx, w, reqs[n])
						if n++; n == len(reqs) {
							n = 0
						}
					}
				})
			}
		}
	}
}
