package multipass

import (
	"sync"
	"time"
)

// maxRefreshWaiters bounds the questions of one source that wait for an
// on-demand refresh at the same time. A flood of unknown names past it is
// answered at once (NXDOMAIN) while the refresh it asked for still runs, so
// it costs neither memory nor, for a client with a window of outstanding
// questions, more than this many of its slots.
const maxRefreshWaiters = 16

// refreshWaits lets questions wait for a refresh of the core's inventory
// without holding an OS thread: the questions park on a channel, and one
// goroutine per source, while any question waits, asks the core every
// watchPoll whether a refresh has finished. Nothing blocks in the core: a
// goroutine blocked in a cgo call holds its OS thread and, until the Go
// scheduler's monitor takes it back (up to 10 ms on a busy server), the P it
// ran on, which stalls every other question on a GOMAXPROCS=1 server.
type refreshWaits struct {
	// waitCore waits up to timeout (the watcher passes 0: not at all) for
	// refresh seq to finish; it returns the number of refreshes finished so
	// far and whether the source has stopped.
	waitCore func(seq uint64, timeout time.Duration) (finished uint64, stopped bool)

	mu       sync.Mutex
	finished uint64        // refreshes known finished
	stopped  bool          // the source has stopped: nothing more to wait for
	changed  chan struct{} // closed, then replaced, when finished or stopped change
	waiting  int           // questions waiting
	watching bool          // the goroutine calling waitCore runs
}

func newRefreshWaits(waitCore func(uint64, time.Duration) (uint64, bool)) *refreshWaits {
	return &refreshWaits{waitCore: waitCore, changed: make(chan struct{})}
}

// watchPoll is how often the watcher asks the core while questions wait. A
// wait lasts up to a second or two (the on-demand rate limit plus one CLI
// run); a few milliseconds more are not noticed, and 200 cheap calls a
// second cost nothing beside it.
const watchPoll = 5 * time.Millisecond

// await parks the caller until refresh seq has finished, the source has
// stopped, or limit passes. It returns at once when maxRefreshWaiters
// questions already wait. The caller asks the core again afterwards in
// every case.
func (w *refreshWaits) await(seq uint64, limit time.Duration) {
	if limit <= 0 {
		return
	}
	w.mu.Lock()
	if w.finished >= seq || w.stopped || w.waiting >= maxRefreshWaiters {
		w.mu.Unlock()
		return
	}
	w.waiting++
	if !w.watching {
		w.watching = true
		go w.watch()
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for w.finished < seq && !w.stopped {
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
			w.mu.Lock()
		case <-timer.C:
			w.mu.Lock()
			w.waiting--
			w.mu.Unlock()
			return
		}
	}
	w.waiting--
	w.mu.Unlock()
}

// watch asks the core about the next refresh while questions wait, and
// wakes them whenever a refresh finishes.
func (w *refreshWaits) watch() {
	for {
		w.mu.Lock()
		if w.waiting == 0 || w.stopped {
			w.watching = false
			w.mu.Unlock()
			return
		}
		next := w.finished + 1
		w.mu.Unlock()

		finished, stopped := w.waitCore(next, 0)

		w.mu.Lock()
		changed := finished > w.finished || stopped != w.stopped
		if changed {
			w.finished = max(w.finished, finished)
			w.stopped = w.stopped || stopped
			close(w.changed)
			w.changed = make(chan struct{})
		}
		w.mu.Unlock()
		if !changed {
			time.Sleep(watchPoll)
		}
	}
}
