package multipass

import (
	"sync"
	"sync/atomic"
	"time"
)

// registry shares one source per daemon between the server blocks and the
// CoreDNS instances that list it: the CLI runs once per listing however many
// blocks ask, and a reload (whose new OnStartup runs before the old
// OnShutdown) keeps the running source and its inventory. The blocks using
// a source get their shortest probe and refresh and their longest timeout.
type registry struct {
	open func(sourceOptions) (coreSource, error)

	mu      sync.Mutex
	sources map[daemon]*sharedSource
}

var sources = &registry{open: openSource, sources: map[daemon]*sharedSource{}}

// sharedSource is a coreSource with its event loop and its users.
type sharedSource struct {
	coreSource
	daemon daemon
	waits  *waiters
	loaded atomic.Bool         // a listing has loaded and watch hears the core
	leases map[*lease]struct{} // guarded by registry.mu
	done   chan struct{}       // closed when the event loop has returned

	hooksMu sync.Mutex
	hooks   map[*lease]func() // called after each unit that ended (see onUnitEnd)
}

// lease is one block's use of a source, with the intervals it asked for.
type lease struct {
	src       *sharedSource
	intervals intervals
}

// acquire returns a lease on the source for o's daemon, opening and
// starting it (with its event loop) when nobody uses one yet. Every acquire
// needs a release.
func (g *registry) acquire(o sourceOptions) (*lease, error) {
	g.mu.Lock()
	defer g.mu.Unlock()

	s, ok := g.sources[o.daemon]
	if !ok {
		var err error
		if s, err = g.start(o); err != nil {
			return nil, err
		}
		g.sources[o.daemon] = s
	}
	l := &lease{src: s, intervals: o.intervals}
	s.leases[l] = struct{}{}
	s.adjust()
	return l, nil
}

// start opens and starts a source, and its event loop. Needs g.mu.
func (g *registry) start(o sourceOptions) (*sharedSource, error) {
	src, err := g.open(o)
	if err != nil {
		return nil, err
	}
	ev, err := src.events()
	if err == nil {
		if err = src.start(); err != nil {
			ev.Close()
		}
	}
	if err != nil {
		src.stop()
		src.destroy()
		return nil, err
	}
	s := &sharedSource{coreSource: src, daemon: o.daemon, waits: newWaiters(),
		leases: map[*lease]struct{}{}, done: make(chan struct{}), hooks: map[*lease]func(){}}
	go func() { defer close(s.done); watch(src, ev, s.waits, &s.loaded, s.unitEnded) }()
	return s, nil
}

// onUnitEnd has f called, from the source's event loop, after each unit
// that ended once the source has loaded; nil removes it. f must not block.
func (s *sharedSource) onUnitEnd(l *lease, f func()) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	if f == nil {
		delete(s.hooks, l)
		return
	}
	if s.hooks == nil {
		s.hooks = map[*lease]func(){}
	}
	s.hooks[l] = f
}

// unitEnded calls the leases' hooks (watch's ended).
func (s *sharedSource) unitEnded() {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	for _, f := range s.hooks {
		f()
	}
}

// release ends a lease; the source's last one stops and destroys it.
func (g *registry) release(l *lease) {
	s := l.src
	s.onUnitEnd(l, nil)
	g.mu.Lock()
	delete(s.leases, l)
	last := len(s.leases) == 0
	if last {
		delete(g.sources, s.daemon)
	} else {
		s.adjust()
	}
	g.mu.Unlock()
	if !last {
		return
	}
	s.stop() // the event loop drains the last log lines, then returns
	<-s.done
	s.destroy()
}

// each calls f for every source in use, alive meanwhile (under g.mu).
func (g *registry) each(f func(*sharedSource)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.sources {
		f(s)
	}
}

// adjust gives the source the shortest probe and refresh its leases ask
// for, and the longest timeout: a deadline that suits the slowest daemon's
// block suits every block. Needs registry.mu.
func (s *sharedSource) adjust() {
	var iv intervals
	for l := range s.leases {
		iv.refresh = shortest(iv.refresh, l.intervals.refresh)
		iv.timeout = max(iv.timeout, l.intervals.timeout)
		iv.probe = shortest(iv.probe, l.intervals.probe) // 0 is off, not shortest
	}
	if iv.probe >= iv.refresh {
		iv.probe = 0 // full listings are as frequent already
	}
	if err := s.setIntervals(iv); err != nil {
		log.Warningf("cannot change the intervals of the source: %s", err)
	}
}

// shortest returns the shorter of two durations, where 0 means none.
func shortest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}
