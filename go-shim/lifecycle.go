package multipass

import (
	"fmt"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// instanceMark tells the CoreDNS (caddy) instances apart: setup stores one
// in its instance's Storage, shared by every block of that instance. Not
// zero-sized: pointers to distinct zero-sized values may compare equal.
type instanceMark struct{ _ byte }

type instanceKey struct{}

// instanceOf returns the mark of c's instance, making it on first use.
func instanceOf(c *caddy.Controller) *instanceMark {
	if mark, ok := c.Get(instanceKey{}).(*instanceMark); ok {
		return mark
	}
	mark := new(instanceMark)
	c.Set(instanceKey{}, mark)
	return mark
}

// startup runs in OnStartup: it acquires the block's source (starting it
// when no other block or instance lists the same daemon yet) and creates
// the block's resolver.
func (m *Multipass) startup() error {
	l, err := sources.acquire(m.sourceOpts)
	if err != nil {
		return plugin.Error("multipass", err)
	}
	res, err := l.src.newResolver(m.resolverOpts, l.src.waits.await)
	if err != nil {
		sources.release(l)
		return plugin.Error("multipass", err)
	}
	origins, soas, err := soaTemplates(res, len(m.Zones))
	if err != nil {
		res.destroy()
		sources.release(l)
		return plugin.Error("multipass", err)
	}
	m.resolver, m.origins, m.soas = res, origins, soas
	m.lease.Store(l)
	m.releaseIfRestartFails()
	return nil
}

// releaseIfRestartFails covers a reload that fails after this OnStartup (a
// server that cannot listen, another plugin's OnStartup): caddy then drops
// this instance without its OnShutdown and calls OnRestartFailed on the
// instance that keeps running, which is still in caddy's list while this one
// starts. Its hooks run in this goroutine after OnStartup returns.
func (m *Multipass) releaseIfRestartFails() {
	for _, inst := range caddy.Instances() {
		inst.StorageMu.RLock()
		mine := inst.Storage[instanceKey{}] == m.instance
		inst.StorageMu.RUnlock()
		if !mine {
			inst.OnRestartFailed = append(inst.OnRestartFailed, m.shutdown)
		}
	}
}

// shutdown runs in OnShutdown (or for a failed restart, see above): it
// releases the source, so that questions still waiting for a refresh wake
// at once, then destroys the resolver. Idempotent.
func (m *Multipass) shutdown() error {
	l := m.lease.Swap(nil)
	if l == nil {
		return nil
	}
	sources.release(l)
	m.resolver.destroy()
	return nil
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
