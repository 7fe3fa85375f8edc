package multipass

import (
	"net"

	"github.com/miekg/dns"
)

// transferBatch is how many records go to the transfer plugin at once: it
// packs them into messages of up to 64 KiB itself.
const transferBatch = 256

// zoneTransfer answers a transfer of the zone whose SOA template is soa
// (owner, mname, rname; see soaTemplates) and whose index is i, as
// transfer.Transferer says: the SOA alone for an IXFR whose serial is not
// older than the zone's (RFC 1982), else the SOA, every record, the SOA
// again. The content comes from one snapshot in one call to the core
// (coreResolver.transfer); the records go out from a goroutine.
func zoneTransfer(res coreResolver, i int, soa dns.SOA, serial uint32) (<-chan []dns.RR, error) {
	z, err := res.transfer(i)
	if err != nil {
		return nil, err
	}
	head := soaRecord(soa, z.soa)
	ch := make(chan []dns.RR, 2)
	ch <- []dns.RR{head}
	if serial != 0 && !serialOlder(serial, z.soa.serial) {
		close(ch)
		zoneTransfers.count(soa.Hdr.Name, "up_to_date")
		return ch, nil
	}
	zoneTransfers.count(soa.Hdr.Name, "full")
	go func() {
		defer close(ch)
		batch := make([]dns.RR, 0, transferBatch)
		for _, r := range z.records {
			batch = append(batch, record(r))
			if len(batch) == transferBatch {
				ch <- batch
				batch = make([]dns.RR, 0, transferBatch)
			}
		}
		ch <- append(batch, dns.Copy(head))
	}()
	return ch, nil
}

// serialOlder tells whether serial a is older than b (RFC 1982: b is
// greater); a pair 2^31 apart is undefined and counts as older, so that
// the secondary gets the whole zone.
func serialOlder(a, b uint32) bool {
	return a != b && (b-a < 1<<31 || b-a == 1<<31)
}

// soaRecord fills a zone's SOA template with the numbers of a moment.
func soaRecord(tmpl dns.SOA, v soaValues) *dns.SOA {
	soa := tmpl
	soa.Hdr.Ttl = v.ttl
	soa.Serial = v.serial
	soa.Refresh = v.refresh
	soa.Retry = v.retry
	soa.Expire = v.expire
	soa.Minttl = v.minimum
	return &soa
}

// record is a zone record as miekg/dns holds it.
func record(r zoneRecord) dns.RR {
	hdr := dns.RR_Header{Name: r.owner, Rrtype: r.rrtype, Class: dns.ClassINET, Ttl: r.ttl}
	switch r.rrtype {
	case dns.TypeNS:
		return &dns.NS{Hdr: hdr, Ns: r.target}
	case dns.TypePTR:
		return &dns.PTR{Hdr: hdr, Ptr: r.target}
	}
	return &dns.A{Hdr: hdr, A: net.IPv4(r.addr[0], r.addr[1], r.addr[2], r.addr[3]).To4()}
}
