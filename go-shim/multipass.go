// Package multipass is a CoreDNS plugin that gives every Canonical multipass
// VM a DNS name: primary.vm.internal answers with the address of the VM
// "primary". It is a thin shim over the coredns-multipass core, a C++ library
// with a C ABI (include/multipass/multipass.h) that lists the VMs and decides
// every answer; this package parses the Corefile, asks the core for each
// question and writes the reply. Apart from fallthrough it holds no policy:
// it only routes, handing names outside the zones, classes other than IN and
// opcodes other than QUERY to the next plugin.
package multipass

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/miekg/dns"
)

// Multipass is the plugin handler: it answers names of multipass VMs in its zones.
type Multipass struct {
	Next  plugin.Handler
	Zones []string
	Fall  fall.F

	sourceOpts   sourceOptions
	resolverOpts resolverOptions

	// Set by startup, before the server serves; lease also for Ready,
	// which the ready plugin may call while startup runs.
	lease    atomic.Pointer[lease]
	resolver coreResolver
	origins  plugin.Zones // the zones as the core normalised them, index as in Zones
	soas     []dns.SOA    // per zone: owner, mname and rname filled in
	notifier *notifier    // with the transfer plugin in the block: its NOTIFYs
}

// ServeDNS implements the plugin.Handler interface.
func (m *Multipass) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	// As asked: the core matches case-insensitively and the answer echoes
	// the asker's case (DNS 0x20). CoreDNS's server passes on only messages
	// with a question.
	qname, qtype := r.Question[0].Name, r.Question[0].Qtype
	switch {
	case r.Opcode != dns.OpcodeQuery:
		return m.handOn(ctx, w, r, dns.RcodeNotImplemented)
	case r.Question[0].Qclass != dns.ClassINET:
		return m.handOn(ctx, w, r, dns.RcodeRefused)
	case !inZones(qname, m.origins):
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}

	a := m.resolver.resolve(qname, qtype)
	switch a.outcome {
	case answered, noData:
	case nxDomain, notMine:
		if a.outcome == notMine || m.Fall.Through(qname) {
			return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
		}
	case refused:
		return dns.RcodeRefused, nil
	default:
		return dns.RcodeServerFailure, nil
	}
	if a.zone < 0 || a.zone >= len(m.soas) {
		return dns.RcodeServerFailure, nil
	}

	msg := new(dns.Msg)
	msg.SetReply(r)
	msg.Authoritative = true
	msg.Rcode = a.rcode
	msg.Answer = m.records(qname, &a)
	if len(msg.Answer) == 0 {
		msg.Ns = []dns.RR{m.soa(&a)}
	}

	w.WriteMsg(msg)
	return dns.RcodeSuccess, nil
}

// handOn gives a message that is no class IN QUERY to the next plugin
// (forward, chaos, file for a NOTIFY...): the VMs' names exist in class IN
// only, and the core answers questions, nothing else. The last plugin of a
// chain returns rcode instead, for the server to write: REFUSED for another
// class, as CoreDNS's server itself answers one when no plugin of the
// listener takes other classes; NOTIMP for another opcode.
func (m *Multipass) handOn(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, rcode int) (int, error) {
	if m.Next == nil {
		return rcode, nil
	}
	return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
}

// inZones tells whether qname lies in one of zones (as the core normalised
// them), ignoring case: plugin.Zones.Matches without its allocations, for
// every question of a server such as `. { multipass vm.internal; forward }`.
// A name the core then finds outside (an escaped dot) goes to the next plugin.
func inZones(qname string, zones []string) bool {
	for _, z := range zones {
		n := len(qname) - len(z)
		if z == "." || (n >= 0 && strings.EqualFold(qname[n:], z) && (n == 0 || qname[n-1] == '.')) {
			return true
		}
	}
	return false
}

// Name implements the plugin.Handler interface.
func (m *Multipass) Name() string { return "multipass" }

// records returns the answer records of a, owned by qname exactly as asked.
func (m *Multipass) records(qname string, a *answer) []dns.RR {
	if a.outcome != answered {
		return nil
	}
	hdr := dns.RR_Header{Name: qname, Rrtype: a.rrtype, Class: dns.ClassINET, Ttl: a.ttl}
	switch a.rrtype {
	case dns.TypeA:
		rrs := make([]dns.RR, len(a.addrs)/net.IPv4len)
		for i := range rrs {
			rrs[i] = &dns.A{Hdr: hdr, A: net.IP(a.addrs[i*net.IPv4len : (i+1)*net.IPv4len])}
		}
		return rrs
	case dns.TypePTR:
		return []dns.RR{&dns.PTR{Hdr: hdr, Ptr: a.target}}
	case dns.TypeNS:
		return []dns.RR{&dns.NS{Hdr: hdr, Ns: a.target}}
	case dns.TypeSOA:
		soa := m.soa(a)
		soa.Hdr.Name = qname
		soa.Hdr.Ttl = a.ttl
		return []dns.RR{soa}
	}
	return nil
}

// soa returns the SOA record of the zone of a, owned by the zone's origin.
func (m *Multipass) soa(a *answer) *dns.SOA {
	return soaRecord(m.soas[a.zone], a.soa)
}

// Transfer implements the transfer.Transferer interface: with the transfer
// plugin in the block, AXFR and IXFR of a zone of the block (its apex
// exactly) get the zone's whole content; other zones are another plugin's.
func (m *Multipass) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	if m.lease.Load() == nil {
		return nil, transfer.ErrNotAuthoritative
	}
	for i, origin := range m.origins {
		if strings.EqualFold(origin, zone) {
			return zoneTransfer(m.resolver, i, m.soas[i], serial)
		}
	}
	return nil, transfer.ErrNotAuthoritative
}

// soaTemplates returns the zones as the core normalised them and, once,
// the SOA record of every zone without the numbers that change with the
// inventory.
func soaTemplates(res coreResolver, zones int) (plugin.Zones, []dns.SOA, error) {
	origins := make(plugin.Zones, zones)
	soas := make([]dns.SOA, zones)
	for i := range soas {
		origin, mname, rname, err := res.zone(i)
		if err != nil {
			return nil, nil, fmt.Errorf("zone %d: %w", i, err)
		}
		origins[i] = origin
		soas[i] = dns.SOA{
			Hdr:  dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET},
			Ns:   mname,
			Mbox: rname,
		}
	}
	return origins, soas, nil
}

// Ready implements the ready.Readiness interface: true once the block's
// source has loaded a listing (and while its events are heard). It never
// runs the CLI.
func (m *Multipass) Ready() bool {
	l := m.lease.Load()
	return l != nil && l.src.loaded.Load()
}
