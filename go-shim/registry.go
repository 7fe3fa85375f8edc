package multipass

import (
	"sync"
	"time"
)

// coreSource is one refresher of the multipass inventory: core.go's
// *source, or a fake in tests.
type coreSource interface {
	start() error
	// stop stops the refresher and closes the log queue.
	stop()
	// destroy releases the source; call it once, after stop and after the
	// log drain has returned.
	destroy()
	ready() bool
	// adopt takes from's inventory before start (see acquire).
	adopt(from coreSource) error
	stats() sourceStats
	// nextLog waits up to wait for one log line of the core.
	nextLog(wait time.Duration) (logLine, logStatus)
	newResolver(opts resolverOptions) (coreResolver, error)
}

// sharedSource is a coreSource with the goroutines that serve it and the
// number of plugin instances using it.
type sharedSource struct {
	coreSource
	key   sourceOptions
	label string // the "source" label of the metrics

	refs    int // guarded by registry.mu
	stopped chan struct{}
	done    sync.WaitGroup
}

// registry shares sources between the server blocks and the CoreDNS
// instances that have the same sourceOptions: the CLI runs once per refresh
// however many blocks ask, and a reload (whose new OnStartup runs before the
// old OnShutdown) keeps the running source and its inventory.
type registry struct {
	open func(sourceOptions) (coreSource, error)

	mu      sync.Mutex
	sources map[sourceOptions]*sharedSource
}

var sources = &registry{open: openSource, sources: map[sourceOptions]*sharedSource{}}

// acquire returns the source for key, creating and starting it (with its log
// drain and metrics) when nobody uses one yet. Every acquire needs a release.
func (g *registry) acquire(key sourceOptions) (*sharedSource, error) {
	g.mu.Lock()
	defer g.mu.Unlock()

	if s, ok := g.sources[key]; ok {
		s.refs++
		return s, nil
	}

	src, err := g.open(key)
	if err != nil {
		return nil, err
	}
	// A source for the same daemon with other refresh or timeout (a reload
	// that changed them runs this before the old instance's OnShutdown) hands
	// over its inventory, so known names keep answering while the CLI fails.
	for k, old := range g.sources {
		if k.binary == key.binary && k.serverAddress == key.serverAddress && old.ready() {
			if err := src.adopt(old.coreSource); err != nil {
				log.Warningf("could not carry the inventory over to the new source: %s", err)
			}
			break
		}
	}
	if err := src.start(); err != nil {
		src.stop()
		src.destroy()
		return nil, err
	}
	s := &sharedSource{coreSource: src, key: key, label: sourceLabel(key), refs: 1, stopped: make(chan struct{})}
	s.done.Add(2)
	go func() { defer s.done.Done(); drainLogs(s) }()
	go func() { defer s.done.Done(); pollStats(s, s.stopped) }()
	g.sources[key] = s
	return s, nil
}

// release drops one use of s; the last one stops and destroys the source.
func (g *registry) release(s *sharedSource) {
	g.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(g.sources, s.key)
	}
	g.mu.Unlock()
	if !last {
		return
	}

	s.stop() // closes the log queue: drainLogs returns once it is empty
	close(s.stopped)
	s.done.Wait()
	s.destroy()
	forgetSource(s.label)
}

// sourceLabel names a source in the metrics: the daemon it asks.
func sourceLabel(key sourceOptions) string {
	if key.serverAddress == "" {
		return "local"
	}
	return key.serverAddress
}
