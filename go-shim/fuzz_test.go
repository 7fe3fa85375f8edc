//go:build cgo

package multipass

import (
	"context"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// fuzzZones are the zones of the fuzzed plugin: two forward zones and the
// reverse zone of 10.110.24.0/24.
var fuzzZones = []string{"vm.test.", "example.org.", "24.110.10.in-addr.arpa."}

// startFuzzPlugin returns the whole plugin over the real core (cgo), with
// tests/fixtures/list-mixed.json loaded through the stand-in CLI. Its
// refresher is then stopped: the inventory stays and stays ready, and a
// question for a missing name no longer waits for an on-demand refresh (which
// would slow fuzzing to a few inputs a second).
func startFuzzPlugin(tb testing.TB) *Multipass {
	tb.Helper()
	binary, _ := fakeCLI(tb)

	c := caddy.NewTestController("dns", "multipass vm.test Example.ORG 10.110.24.0/24 {\n"+
		"binary "+binary+"\nrefresh 24h\naddresses all\n}")
	m, err := parse(c)
	if err != nil {
		tb.Fatal(err)
	}
	m.Next = test.NextHandler(dns.RcodeRefused, nil)
	if err := m.startup(nil, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.shutdown() })
	eventually(tb, "the plugin loaded the listing", m.Ready)
	m.lease.Load().src.stop()
	return m
}

// asciiUpper upper-cases ASCII letters only (DNS 0x20 is ASCII-only).
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// serve asks m one question and returns the code ServeDNS returned and the
// message it wrote (nil when it wrote none).
func serve(t *testing.T, m *Multipass, req *dns.Msg) (int, *dns.Msg) {
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	code, err := m.ServeDNS(context.Background(), rec, req)
	if err != nil {
		t.Fatalf("ServeDNS(%q): %v", req.Question[0].Name, err)
	}
	return code, rec.Msg
}

// FuzzResolve asks the plugin (Go shim + real core) arbitrary names and
// types, as CoreDNS would hand them over after unpacking a query, and checks
// the message it writes: it packs, echoes the question, every answer is owned
// by the name exactly as asked, the rcode matches the sections, and the case
// of the name changes nothing but the owner's case.
func FuzzResolve(f *testing.F) {
	m := startFuzzPlugin(f)
	seeds := []struct {
		name  string
		qtype uint16
	}{
		{"primary.vm.test.", dns.TypeA},
		{"PrImArY.Vm.TeSt.", dns.TypeA},
		{"primary.vm.test.", dns.TypeAAAA},
		{"k8s-node-01.vm.test.", dns.TypeANY},
		{"calm-squirrel.vm.test.", dns.TypeA},
		{"old-builder-2.vm.test.", dns.TypeA},
		{"nope.vm.test.", dns.TypeMX},
		{"x.primary.vm.test.", dns.TypeA},
		{"vm.test.", dns.TypeSOA},
		{"vm.test.", dns.TypeAXFR},
		{"primary.vm.test.", dns.TypeIXFR},
		{"VM.test.", dns.TypeNS},
		{"primary.example.org.", dns.TypeA},
		{"87.24.110.10.in-addr.arpa.", dns.TypePTR},
		{"1.24.110.10.in-addr.arpa.", dns.TypePTR},
		{"24.110.10.in-addr.arpa.", dns.TypeSOA},
		{"example.com.", dns.TypeA},
		{".", dns.TypeNS},
		{`a\.b.vm.test.`, dns.TypeA},
		{`primary\.vm.test.`, dns.TypeA},
		{`\000\255.vm.test.`, dns.TypeA},
		{"$(touch pwned);x.vm.test.", dns.TypeA},
		{strings.Repeat("a", 63) + ".vm.test.", dns.TypeA},
		{strings.Repeat(`\000`, 63) + "." + strings.Repeat(`\000`, 63) + "." + strings.Repeat(`\000`, 63) + ".vm.test.", dns.TypeA},
	}
	for _, s := range seeds {
		f.Add(s.name, s.qtype)
	}

	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		// Only what a CoreDNS server can receive: a question that packs,
		// unpacked again as the server does.
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), qtype)
		wire, err := q.Pack()
		if err != nil {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(wire); err != nil || len(req.Question) != 1 {
			return
		}
		asked := req.Question[0].Name

		code, msg := serve(t, m, req)
		if msg == nil {
			// Handed to the next plugin (REFUSED here): a name outside the zones.
			if code != dns.RcodeRefused {
				t.Fatalf("%q type %d: no reply written and code %d (want the next plugin's REFUSED)", asked, qtype, code)
			}
			if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
				return // REFUSED inside the zones too: no zone transfers
			}
			for _, z := range fuzzZones {
				if dns.IsSubDomain(z, strings.ToLower(asked)) {
					t.Fatalf("%q type %d: inside zone %s but handed to the next plugin", asked, qtype, z)
				}
			}
			return
		}
		checkReply(t, asked, qtype, code, msg)

		// DNS 0x20: the same decision whatever the case; owners follow the asker.
		upper := req.Copy()
		upper.Question[0].Name = asciiUpper(asked)
		code2, msg2 := serve(t, m, upper)
		if msg2 == nil {
			t.Fatalf("%q: answered, but not when asked in upper case", asked)
		}
		checkReply(t, upper.Question[0].Name, qtype, code2, msg2)
		if msg.Rcode != msg2.Rcode || len(msg.Answer) != len(msg2.Answer) || len(msg.Ns) != len(msg2.Ns) {
			t.Fatalf("%q: the case of the name changed the answer:\n%v\n%v", asked, msg, msg2)
		}
		for i := range msg.Answer {
			a, b := dns.Copy(msg.Answer[i]), dns.Copy(msg2.Answer[i])
			b.Header().Name = a.Header().Name
			if a.String() != b.String() {
				t.Fatalf("%q: the case of the name changed answer %d: %v vs %v", asked, i, a, b)
			}
		}
	})
}

// checkReply checks one written reply to (asked, qtype).
func checkReply(t *testing.T, asked string, qtype uint16, code int, msg *dns.Msg) {
	t.Helper()
	if code != dns.RcodeSuccess {
		t.Fatalf("%q type %d: wrote a reply but returned code %d", asked, qtype, code)
	}
	if _, err := msg.Pack(); err != nil {
		t.Fatalf("%q type %d: the reply does not pack: %v\n%v", asked, qtype, err, msg)
	}
	if !msg.Response || !msg.Authoritative || len(msg.Question) != 1 || msg.Question[0].Name != asked ||
		msg.Question[0].Qtype != qtype {
		t.Fatalf("%q type %d: header or question not echoed:\n%v", asked, qtype, msg)
	}
	for _, rr := range msg.Answer {
		if rr.Header().Name != asked {
			t.Fatalf("%q type %d: answer owned by %q, not the name as asked", asked, qtype, rr.Header().Name)
		}
		if rr.Header().Rrtype == dns.TypeA && qtype != dns.TypeA && qtype != dns.TypeANY {
			t.Fatalf("%q type %d: A records in the answer", asked, qtype)
		}
	}
	switch {
	case msg.Rcode == dns.RcodeNameError || (msg.Rcode == dns.RcodeSuccess && len(msg.Answer) == 0):
		if len(msg.Answer) != 0 || len(msg.Ns) != 1 {
			t.Fatalf("%q type %d: NXDOMAIN/NODATA without exactly one SOA in authority:\n%v", asked, qtype, msg)
		}
		soa, ok := msg.Ns[0].(*dns.SOA)
		if !ok || !dns.IsSubDomain(soa.Hdr.Name, strings.ToLower(asked)) {
			t.Fatalf("%q type %d: the authority is not the SOA of the name's zone:\n%v", asked, qtype, msg)
		}
	case msg.Rcode == dns.RcodeSuccess:
		if len(msg.Ns) != 0 {
			t.Fatalf("%q type %d: an answer with an authority section:\n%v", asked, qtype, msg)
		}
	default:
		t.Fatalf("%q type %d: rcode %s from a loaded inventory", asked, qtype, dns.RcodeToString[msg.Rcode])
	}
}
