package multipass

import (
	"errors"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/miekg/dns"
)

// transferring returns a started handler whose core holds the content of
// vm.test (zone 0) at serial 42.
func transferring(t *testing.T) (*Multipass, *fakeCore) {
	t.Helper()
	m, core := newFakeMultipass(t, fall.F{})
	m.lease.Store(&lease{src: &sharedSource{}})
	soa := soaValues{serial: 42, refresh: 300, retry: 60, expire: 604800, minimum: 5, ttl: 5}
	core.zones = map[int]zoneContent{0: {soa: soa, records: []zoneRecord{
		{owner: "vm.test.", rrtype: dns.TypeNS, ttl: 10, target: "ns1.vm.test."},
		{owner: "ns1.vm.test.", rrtype: dns.TypeA, ttl: 10, addr: [4]byte{127, 0, 0, 1}},
		{owner: "primary.vm.test.", rrtype: dns.TypeA, ttl: 10, addr: [4]byte{10, 110, 24, 87}},
	}}}
	for i := 0; i < 1000; i++ { // more than one batch
		core.zones[0] = zoneContent{soa: soa, records: append(core.zones[0].records,
			zoneRecord{owner: "vm-" + string(rune('a'+i%26)) + ".vm.test.", rrtype: dns.TypeA, ttl: 10, addr: [4]byte{10, 0, byte(i / 256), byte(i)}})}
	}
	return m, core
}

func received(t *testing.T, ch <-chan []dns.RR) []dns.RR {
	t.Helper()
	var all []dns.RR
	for rrs := range ch {
		all = append(all, rrs...)
	}
	return all
}

func TestAnAXFRIsTheSOATheRecordsAndTheSOA(t *testing.T) {
	m, _ := transferring(t)
	before := countOf(zoneTransfers, "vm.test.", "full")
	ch, err := m.Transfer("vm.test.", 0)
	if err != nil {
		t.Fatal(err)
	}
	rrs := received(t, ch)
	if len(rrs) != 1005 {
		t.Fatalf("%d records, want 1005 (SOA, 1003, SOA)", len(rrs))
	}
	want := "vm.test.\t5\tIN\tSOA\tns1.vm.test. hostmaster.vm.test. 42 300 60 604800 5"
	if rrs[0].String() != want || rrs[len(rrs)-1].String() != want {
		t.Errorf("first %s, last %s, want %s", rrs[0], rrs[len(rrs)-1], want)
	}
	if countOf(zoneTransfers, "vm.test.", "full") != before+1 {
		t.Errorf("the transfer was not counted")
	}
	for i, w := range []string{"vm.test.\t10\tIN\tNS\tns1.vm.test.", "ns1.vm.test.\t10\tIN\tA\t127.0.0.1",
		"primary.vm.test.\t10\tIN\tA\t10.110.24.87"} {
		if rrs[i+1].String() != w {
			t.Errorf("record %d: %s, want %s", i+1, rrs[i+1], w)
		}
	}
}

func TestAnIXFRGetsTheSOAAloneUnlessItsSerialIsOlder(t *testing.T) {
	m, _ := transferring(t)
	for _, tc := range []struct {
		serial uint32
		whole  bool
	}{
		{42, false}, {43, false}, {41, true}, {1, true},
		{0xffffffff, true}, // just before 0 in RFC 1982: older than 42
		{42 + 1<<31, true}, // undefined: the whole zone
		{42 + 1<<31 - 1, false},
	} {
		ch, err := m.Transfer("vm.test.", tc.serial)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(received(t, ch)); (n > 1) != tc.whole {
			t.Errorf("IXFR from serial %d: %d records, whole zone %t", tc.serial, n, tc.whole)
		}
	}
}

func TestTransfersOfOtherZonesAreAnotherPlugins(t *testing.T) {
	m, _ := transferring(t)
	for _, zone := range []string{"other.test.", "sub.vm.test.", "test.", "."} {
		if _, err := m.Transfer(zone, 0); err != transfer.ErrNotAuthoritative {
			t.Errorf("Transfer(%q): %v, want ErrNotAuthoritative", zone, err)
		}
	}
	if _, err := m.Transfer("VM.Test.", 0); err != nil {
		t.Errorf("the zone in another case: %v", err)
	}
	m.lease.Store(nil) // shut down
	if _, err := m.Transfer("vm.test.", 0); err != transfer.ErrNotAuthoritative {
		t.Errorf("after shutdown: %v", err)
	}
}

func TestNoTransferBeforeTheFirstLoad(t *testing.T) {
	m, _ := transferring(t)
	if _, err := m.Transfer("24.110.10.in-addr.arpa.", 0); err == nil || errors.Is(err, transfer.ErrNotAuthoritative) {
		t.Errorf("a zone the core cannot give yet: %v, want the core's error", err)
	}
}
