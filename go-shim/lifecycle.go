package multipass

import (
	"sync"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// instanceMark tells the CoreDNS (caddy) instances apart: setup stores one
// in its instance's Storage (under instanceKey), shared by its blocks. Not
// zero-sized: pointers to distinct zero-sized values may compare equal.
type instanceMark struct{ _ byte }

// instanceKey and hookedKey are keys of an instance's Storage: its mark, and
// whether it has releaseOrphans among its OnRestartFailed hooks.
type instanceKey struct{}
type hookedKey struct{}

// instanceOf returns the mark of c's instance, making it on first use.
func instanceOf(c *caddy.Controller) *instanceMark {
	mark, ok := c.Get(instanceKey{}).(*instanceMark)
	if !ok {
		mark = new(instanceMark)
		c.Set(instanceKey{}, mark)
	}
	return mark
}

// started holds the blocks between startup and shutdown, with their mark.
var started sync.Map // *Multipass: *instanceMark

// startup runs in OnStartup of the block's instance, mark: it acquires the
// block's source (starting it when no other block or instance lists the
// same daemon yet) and creates the block's resolver. notify, the transfer
// plugin's of the block (nil without one), is called for every zone whose
// serial moves (see notifier).
func (m *Multipass) startup(mark *instanceMark, notify func(zone string) error) error {
	l, err := sources.acquire(m.sourceOpts)
	if err != nil {
		return plugin.Error("multipass", err)
	}
	if m.resolver, err = l.src.newResolver(m.resolverOpts, l.src.waits.await); err != nil {
		sources.release(l)
		return plugin.Error("multipass", err)
	}
	m.lease.Store(l)
	if m.origins, m.soas, err = soaTemplates(m.resolver, len(m.Zones)); err != nil {
		m.shutdown()
		return plugin.Error("multipass", err)
	}
	started.Store(m, mark)
	hookRestartFailed(mark)
	if notify != nil {
		m.notifier = newNotifier(m.origins, m.zoneSerial, notify, m.sourceOpts.notifyInterval())
		l.src.onUnitEnd(l, m.notifier.check)
		go m.notifier.check() // a reloaded block, or a source loaded already
	}
	return nil
}

// zoneSerial is zone i's serial now, once the block's source has loaded
// (before, the question would wait for a look).
func (m *Multipass) zoneSerial(i int) (uint32, bool) {
	l := m.lease.Load()
	if l == nil || !l.src.loaded.Load() {
		return 0, false
	}
	a := m.resolver.resolve(m.origins[i], dns.TypeSOA)
	return a.soa.serial, a.outcome == answered
}

// shutdown runs in OnShutdown (or in releaseOrphans): it releases the
// source, so that questions still waiting for a refresh wake at once, then
// destroys the resolver. Idempotent.
func (m *Multipass) shutdown() error {
	l := m.lease.Swap(nil)
	if l == nil {
		return nil
	}
	started.Delete(m)
	if m.notifier != nil {
		l.src.onUnitEnd(l, nil)
		m.notifier.stop()
	}
	sources.release(l)
	m.resolver.destroy()
	return nil
}

// restarting runs in OnRestart, when a reload of the block's instance
// begins: the block's questions waiting for a look wake at once and no new
// one waits, so that neither the old server's graceful stop (which waits
// for the questions it is serving) nor this block's OnShutdown waits for
// them. The core answers them from the newest snapshot; the new instance
// serves what comes after.
func (m *Multipass) restarting() error {
	if m.lease.Load() != nil {
		m.resolver.stopWaiting()
	}
	return nil
}

// restartFailed runs in OnRestartFailed: the reload failed, and the block
// serves on, its questions waiting for looks again.
func (m *Multipass) restartFailed() error {
	if m.lease.Load() != nil {
		m.resolver.resumeWaiting()
	}
	return nil
}

// hookRestartFailed covers a reload that fails after this OnStartup (a
// server that cannot listen, another plugin's OnStartup): caddy then drops
// the new instance without its OnShutdown and runs OnRestartFailed of the
// instance it restarted, which is in caddy's list while the new one starts.
// Every instance but mine gets releaseOrphans there, once.
func hookRestartFailed(mine *instanceMark) {
	for _, inst := range caddy.Instances() {
		inst.StorageMu.Lock()
		if inst.Storage[instanceKey{}] != mine && inst.Storage[hookedKey{}] == nil {
			inst.Storage[hookedKey{}] = true
			inst.OnRestartFailed = append(inst.OnRestartFailed, releaseOrphans)
		}
		inst.StorageMu.Unlock()
	}
}

// releaseOrphans shuts down the blocks of instances that caddy no longer
// lists: a new instance whose start failed, or an old one whose OnShutdown
// never ran because another plugin's failed first. The blocks of an
// instance that serves, old or new, keep running.
func releaseOrphans() error {
	live := map[*instanceMark]bool{}
	for _, inst := range caddy.Instances() {
		inst.StorageMu.RLock()
		mark, _ := inst.Storage[instanceKey{}].(*instanceMark)
		inst.StorageMu.RUnlock()
		live[mark] = true
	}
	started.Range(func(m, mark any) bool {
		if !live[mark.(*instanceMark)] {
			m.(*Multipass).shutdown()
		}
		return true
	})
	return nil
}
