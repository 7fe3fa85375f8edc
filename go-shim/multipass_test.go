package multipass

import (
	"context"
	"fmt"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// newFakeMultipass returns a started handler over fakeCore, whose next
// plugin answers REFUSED.
func newFakeMultipass(t testing.TB, f fall.F) (*Multipass, *fakeCore) {
	t.Helper()
	core := &fakeCore{answers: fakeAnswers()}
	origins, soas, err := soaTemplates(core, len(fakeZones))
	if err != nil {
		t.Fatal(err)
	}
	m := &Multipass{
		Next:     test.NextHandler(dns.RcodeRefused, nil),
		Zones:    fakeZones,
		Fall:     f,
		resolver: core,
		origins:  origins,
		soas:     soas,
	}
	return m, core
}

const soaVM = "vm.test. 5 IN SOA ns1.vm.test. hostmaster.vm.test. 42 7200 1800 86400 5"
const soaRev = "24.110.10.in-addr.arpa. 5 IN SOA ns1.24.110.10.in-addr.arpa. hostmaster.24.110.10.in-addr.arpa. 42 7200 1800 86400 5"

var multipassCases = []test.Case{
	{
		Qname: "primary.vm.test.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("primary.vm.test. 30 IN A 10.110.24.87")},
	},
	{
		// DNS 0x20: the owner is the name exactly as asked.
		Qname: "PrImArY.vm.test.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("PrImArY.vm.test. 30 IN A 10.110.24.87")},
	},
	{
		Qname: "k8s-node-01.vm.test.", Qtype: dns.TypeA,
		Answer: []dns.RR{
			test.A("k8s-node-01.vm.test. 30 IN A 10.110.24.141"),
			test.A("k8s-node-01.vm.test. 30 IN A 172.17.0.1"),
			test.A("k8s-node-01.vm.test. 30 IN A 192.168.1.57"),
		},
	},
	{
		// NODATA: a known name, another type.
		Qname: "primary.vm.test.", Qtype: dns.TypeAAAA,
		Ns: []dns.RR{test.SOA(soaVM)},
	},
	{
		// NODATA: a VM without an address.
		Qname: "Calm-Squirrel.vm.test.", Qtype: dns.TypeA,
		Ns: []dns.RR{test.SOA(soaVM)},
	},
	{
		Qname: "nope.vm.test.", Qtype: dns.TypeA,
		Rcode: dns.RcodeNameError,
		Ns:    []dns.RR{test.SOA(soaVM)},
	},
	{
		// The SOA in authority is owned by the zone, whatever the case asked.
		Qname: "X.Primary.VM.test.", Qtype: dns.TypeA,
		Rcode: dns.RcodeNameError,
		Ns:    []dns.RR{test.SOA(soaVM)},
	},
	{
		Qname: "vm.test.", Qtype: dns.TypeSOA,
		Answer: []dns.RR{test.SOA(soaVM)},
	},
	{
		Qname: "VM.test.", Qtype: dns.TypeSOA,
		Answer: []dns.RR{test.SOA("VM.test. 5 IN SOA ns1.vm.test. hostmaster.vm.test. 42 7200 1800 86400 5")},
	},
	{
		Qname: "vm.test.", Qtype: dns.TypeNS,
		Answer: []dns.RR{test.NS("vm.test. 30 IN NS ns1.vm.test.")},
	},
	{
		Qname: "vm.test.", Qtype: dns.TypeMX,
		Ns: []dns.RR{test.SOA(soaVM)},
	},
	{
		Qname: "87.24.110.10.in-addr.arpa.", Qtype: dns.TypePTR,
		Answer: []dns.RR{test.PTR("87.24.110.10.in-addr.arpa. 30 IN PTR primary.vm.test.")},
	},
	{
		Qname: "99.24.110.10.in-addr.arpa.", Qtype: dns.TypePTR,
		Rcode: dns.RcodeNameError,
		Ns:    []dns.RR{test.SOA(soaRev)},
	},
}

func TestMultipass(t *testing.T) {
	m, core := newFakeMultipass(t, fall.Zero)
	ctx := context.TODO()

	for i, tc := range multipassCases {
		req := tc.Msg()
		rec := dnstest.NewRecorder(&test.ResponseWriter{})

		rcode, err := m.ServeDNS(ctx, rec, req)
		if err != nil {
			t.Errorf("Test %d (%s): expected no error, got %v", i, tc.Qname, err)
			continue
		}
		if rcode != dns.RcodeSuccess {
			t.Errorf("Test %d (%s): expected ServeDNS to return NOERROR (it wrote the reply), got %s", i, tc.Qname, dns.RcodeToString[rcode])
		}
		if got := core.asked[len(core.asked)-1]; got != tc.Qname {
			t.Errorf("Test %d: expected the core to be asked %q exactly, got %q", i, tc.Qname, got)
		}
		resp := rec.Msg
		if resp == nil {
			t.Errorf("Test %d (%s): no reply written", i, tc.Qname)
			continue
		}
		if !resp.Authoritative || !resp.Response {
			t.Errorf("Test %d (%s): expected an authoritative response, got aa=%t qr=%t", i, tc.Qname, resp.Authoritative, resp.Response)
		}
		if resp.Id != req.Id || len(resp.Question) != 1 || resp.Question[0] != req.Question[0] {
			t.Errorf("Test %d (%s): the reply does not echo the question: %v", i, tc.Qname, resp.Question)
		}
		if err := test.SortAndCheck(resp, tc); err != nil {
			t.Errorf("Test %d: %v", i, err)
		}
		// SortAndCheck compares only some fields of a SOA: compare all.
		for j, rr := range append(resp.Answer, resp.Ns...) {
			if want := append(tc.Answer, tc.Ns...)[j].String(); rr.String() != want {
				t.Errorf("Test %d: expected %q, got %q", i, want, rr.String())
			}
		}
	}
}

// Questions the core does not claim, fall through on NXDOMAIN, and the
// answers that the server writes (SERVFAIL).
func TestMultipassNext(t *testing.T) {
	tests := []struct {
		fall  fall.F
		qname string
		qtype uint16
		rcode int  // what ServeDNS returns
		wrote bool // whether the plugin wrote a reply itself
	}{
		// Not mine: always the next plugin (REFUSED here).
		{fall.Zero, "example.org.", dns.TypeA, dns.RcodeRefused, false},
		{fall.Root, "example.org.", dns.TypeA, dns.RcodeRefused, false},
		// NXDOMAIN: the next plugin only where fallthrough covers the name.
		{fall.Zero, "nope.vm.test.", dns.TypeA, dns.RcodeSuccess, true},
		{fall.Root, "nope.vm.test.", dns.TypeA, dns.RcodeRefused, false},
		{fall.F{Zones: []string{"vm.test."}}, "Nope.VM.test.", dns.TypeA, dns.RcodeRefused, false},
		{fall.F{Zones: []string{"vm.test."}}, "99.24.110.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, true},
		{fall.F{Zones: []string{"other.test."}}, "nope.vm.test.", dns.TypeA, dns.RcodeSuccess, true},
		// NODATA and answers never fall through.
		{fall.Root, "primary.vm.test.", dns.TypeAAAA, dns.RcodeSuccess, true},
		{fall.Root, "primary.vm.test.", dns.TypeA, dns.RcodeSuccess, true},
		// A zone transfer: REFUSED, returned for the server to write.
		{fall.Root, "vm.test.", dns.TypeAXFR, dns.RcodeRefused, false},
		// SERVFAIL (no listing yet): returned for the server to write.
		{fall.Zero, "booting.vm.test.", dns.TypeA, dns.RcodeServerFailure, false},
		{fall.Root, "booting.vm.test.", dns.TypeA, dns.RcodeServerFailure, false},
	}

	for i, tc := range tests {
		m, _ := newFakeMultipass(t, tc.fall)
		req := new(dns.Msg)
		req.SetQuestion(tc.qname, tc.qtype)
		rec := dnstest.NewRecorder(&test.ResponseWriter{})

		rcode, err := m.ServeDNS(context.TODO(), rec, req)
		if err != nil {
			t.Errorf("Test %d (%s): expected no error, got %v", i, tc.qname, err)
		}
		if rcode != tc.rcode {
			t.Errorf("Test %d (%s): expected ServeDNS to return %s, got %s", i, tc.qname, dns.RcodeToString[tc.rcode], dns.RcodeToString[rcode])
		}
		if wrote := rec.Msg != nil; wrote != tc.wrote {
			t.Errorf("Test %d (%s): expected a written reply %t, got %t", i, tc.qname, tc.wrote, wrote)
		}
	}
}

// A name outside every zone goes to the next plugin without a call of the
// core (routing, not policy: the zones are the core's own).
func TestMultipassForeignNamesSkipTheCore(t *testing.T) {
	m, core := newFakeMultipass(t, fall.Zero)
	for _, name := range []string{"example.org.", "test.", "vm.test.example.", "10.in-addr.arpa."} {
		req := new(dns.Msg)
		req.SetQuestion(name, dns.TypeA)
		if rcode, _ := m.ServeDNS(context.TODO(), dnstest.NewRecorder(&test.ResponseWriter{}), req); rcode != dns.RcodeRefused {
			t.Errorf("%s: expected the next plugin's REFUSED, got %s", name, dns.RcodeToString[rcode])
		}
	}
	if len(core.asked) != 0 {
		t.Errorf("expected no question to reach the core, got %q", core.asked)
	}
	req := new(dns.Msg)
	req.SetQuestion("Primary.VM.Test.", dns.TypeA)
	m.ServeDNS(context.TODO(), dnstest.NewRecorder(&test.ResponseWriter{}), req)
	if len(core.asked) != 1 {
		t.Errorf("expected a name in the zones (any case) to reach the core, got %q", core.asked)
	}
}

// Only class IN QUERY messages are answered: another class or opcode, for a
// VM's name too, goes to the next plugin without a call of the core, or, in
// the last plugin of a chain, is REFUSED (a class) or NOTIMP (an opcode) for
// the server to write.
func TestMultipassOnlyClassINQueries(t *testing.T) {
	const nextRcode = dns.RcodeYXDomain // what the next plugin returns here
	tests := []struct {
		class  uint16
		opcode int
		last   int // what ServeDNS returns without a next plugin
	}{
		{dns.ClassCHAOS, dns.OpcodeQuery, dns.RcodeRefused},
		{dns.ClassHESIOD, dns.OpcodeQuery, dns.RcodeRefused},
		{dns.ClassANY, dns.OpcodeQuery, dns.RcodeRefused},
		{dns.ClassNONE, dns.OpcodeQuery, dns.RcodeRefused},
		{dns.ClassINET, dns.OpcodeNotify, dns.RcodeNotImplemented},
		{dns.ClassINET, dns.OpcodeUpdate, dns.RcodeNotImplemented},
		{dns.ClassINET, dns.OpcodeStatus, dns.RcodeNotImplemented},
		{dns.ClassCHAOS, dns.OpcodeNotify, dns.RcodeNotImplemented},
	}
	for _, tc := range tests {
		for _, name := range []string{"primary.vm.test.", "vm.test.", "87.24.110.10.in-addr.arpa.", "example.org."} {
			what := fmt.Sprintf("%s %s %s", dns.OpcodeToString[tc.opcode], dns.ClassToString[tc.class], name)
			for _, last := range []bool{false, true} {
				m, core := newFakeMultipass(t, fall.Root)
				m.Next = test.NextHandler(nextRcode, nil)
				want := nextRcode
				if last {
					m.Next, want = nil, tc.last
				}
				req := new(dns.Msg)
				req.SetQuestion(name, dns.TypeA)
				req.Opcode = tc.opcode
				req.Question[0].Qclass = tc.class
				rec := dnstest.NewRecorder(&test.ResponseWriter{})
				rcode, err := m.ServeDNS(context.TODO(), rec, req)
				if err != nil || rcode != want {
					t.Errorf("%s (last plugin: %t): expected %s, got %s (%v)", what, last, dns.RcodeToString[want], dns.RcodeToString[rcode], err)
				}
				if rec.Msg != nil {
					t.Errorf("%s (last plugin: %t): expected no reply written by the plugin, got\n%v", what, last, rec.Msg)
				}
				if len(core.asked) != 0 {
					t.Errorf("%s (last plugin: %t): expected no question for the core, got %q", what, last, core.asked)
				}
			}
		}
	}

	// Class IN QUERY for the same name: answered.
	m, _ := newFakeMultipass(t, fall.Zero)
	req := new(dns.Msg)
	req.SetQuestion("primary.vm.test.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if rcode, _ := m.ServeDNS(context.TODO(), rec, req); rcode != dns.RcodeSuccess || rec.Msg == nil || len(rec.Msg.Answer) != 1 {
		t.Errorf("expected class IN QUERY to be answered, got %s %v", dns.RcodeToString[rcode], rec.Msg)
	}
}

func TestInZones(t *testing.T) {
	zones := []string{"vm.test.", "24.110.10.in-addr.arpa."}
	for name, want := range map[string]bool{
		"vm.test.": true, "VM.Test.": true, "a.vm.test.": true, "x.A.VM.TEST.": true,
		"87.24.110.10.in-addr.arpa.": true, "24.110.10.IN-ADDR.ARPA.": true,
		"avm.test.": false, "test.": false, "vm.test.example.": false, ".": false,
		"110.10.in-addr.arpa.": false, "": false,
	} {
		if got := inZones(name, zones); got != want {
			t.Errorf("inZones(%q): expected %t, got %t", name, want, got)
		}
	}
	if !inZones("example.org.", []string{"."}) {
		t.Error("expected the root zone to hold every name")
	}
}

// BenchmarkServeDNSForeignName is the cost of the plugin for a name outside
// its zones, on a server such as `. { multipass vm.test; forward ... }`.
func BenchmarkServeDNSForeignName(b *testing.B) {
	m, _ := newFakeMultipass(b, fall.Zero)
	m.Next = test.NextHandler(dns.RcodeSuccess, nil)
	req := new(dns.Msg)
	req.SetQuestion("www.example.org.", dns.TypeA)
	w := &test.ResponseWriter{}
	b.ReportAllocs()
	for b.Loop() {
		m.ServeDNS(context.TODO(), w, req)
	}
}
