package multipass

import (
	"fmt"

	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// startup runs in OnStartup: it acquires the block's source (starting the
// refresher when no other block or instance runs it yet) and creates the
// block's resolver.
func (m *Multipass) startup() error {
	s, err := sources.acquire(m.source)
	if err != nil {
		return plugin.Error("multipass", err)
	}
	res, err := s.newResolver(m.resolver)
	if err != nil {
		sources.release(s)
		return plugin.Error("multipass", err)
	}
	soas, err := soaTemplates(res, len(m.Zones))
	if err != nil {
		res.destroy()
		sources.release(s)
		return plugin.Error("multipass", err)
	}
	m.core, m.soas = res, soas
	m.shared.Store(s)
	return nil
}

// shutdown runs in OnShutdown: it destroys the resolver and releases the
// source (stopping it when this was its last user). Idempotent.
func (m *Multipass) shutdown() error {
	s := m.shared.Swap(nil)
	if s == nil {
		return nil
	}
	m.core.destroy()
	sources.release(s)
	return nil
}

// soaTemplates builds, once, the SOA record of every zone without the numbers
// that change with the inventory.
func soaTemplates(res coreResolver, zones int) ([]dns.SOA, error) {
	soas := make([]dns.SOA, zones)
	for i := range soas {
		origin, mname, rname, err := res.zone(i)
		if err != nil {
			return nil, fmt.Errorf("zone %d: %w", i, err)
		}
		soas[i] = dns.SOA{
			Hdr:  dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET},
			Ns:   mname,
			Mbox: rname,
		}
	}
	return soas, nil
}
