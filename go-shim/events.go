package multipass

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin("multipass")

// watch is a source's event loop: it sleeps in the netpoller on the core's
// wake-up pipe ev (holding no thread) and, each time the core writes to it,
// prints the queued log lines, wakes the questions in w whose refresh has
// finished, and sets loaded once the first listing has loaded (for Ready).
// It returns when the pipe reads end of file: the source stopped. A pipe
// that fails otherwise is logged once; loaded is cleared (the source is not
// ready any more: nothing hears the core) and the questions stop waiting.
func watch(src coreSource, ev io.ReadCloser, w *waiters, loaded *atomic.Bool) {
	defer ev.Close()
	buf := make([]byte, 64)
	for err := error(nil); ; _, err = ev.Read(buf) {
		if err != nil && err != io.EOF {
			log.Errorf("the core's wake-up pipe failed (%s): no more log lines or refresh waits from this source, and it reports not ready, until CoreDNS restarts", err)
			loaded.Store(false)
			w.update(0, true)
			return
		}
		drainLogs(src)
		w.update(src.refreshesFinished())
		if !loaded.Load() && src.ready() {
			loaded.Store(true)
		}
		if err == io.EOF {
			return
		}
	}
}

// drainLogs prints the core's queued log lines through CoreDNS's log (as
// "[LEVEL] plugin/multipass: ..."), so they keep its format and stream, and
// debug lines show only with the debug plugin. The core's queue is bounded;
// lines it had to drop are counted in a warning.
func drainLogs(src coreSource) {
	for {
		l, ok := src.nextLog()
		if !ok {
			return
		}
		if l.dropped > 0 {
			log.Warningf("the core's log queue was full: %d log lines dropped", l.dropped)
		}
		switch {
		case l.text == "":
		case l.level == levelDebug:
			log.Debug(l.text)
		case l.level == levelInfo:
			log.Info(l.text)
		case l.level == levelWarning:
			log.Warning(l.text)
		default:
			log.Error(l.text)
		}
	}
}

// maxWaiters bounds the questions of one source that wait for a refresh at
// the same time. A flood of unknown names past it is answered at once
// (NXDOMAIN) while the refresh it asked for still runs, so it costs neither
// memory nor, for a client with a window of outstanding questions, more than
// this many of its slots.
const maxWaiters = 16

// waiters park questions, each on a channel, until the event loop sees the
// refresh they wait for finish.
type waiters struct {
	mu       sync.Mutex
	finished uint64        // refreshes known finished
	stopped  bool          // the source has stopped: nothing more to wait for
	changed  chan struct{} // closed, then replaced, when finished or stopped change
	waiting  int
}

func newWaiters() *waiters { return &waiters{changed: make(chan struct{})} }

// await parks the caller until refresh seq has finished, the source has
// stopped, or limit passes; at once when maxWaiters questions already wait.
// The caller asks the core again afterwards in every case.
func (w *waiters) await(seq uint64, limit time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if limit <= 0 || w.finished >= seq || w.stopped || w.waiting >= maxWaiters {
		return
	}
	w.waiting++
	defer func() { w.waiting-- }() // before the Unlock
	expired := time.After(limit)
	for w.finished < seq && !w.stopped {
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
			w.mu.Lock()
		case <-expired:
			w.mu.Lock()
			return
		}
	}
}

// update records what the core said and wakes the questions if it changed.
func (w *waiters) update(finished uint64, stopped bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if finished <= w.finished && stopped == w.stopped {
		return
	}
	w.finished = max(w.finished, finished)
	w.stopped = w.stopped || stopped
	close(w.changed)
	w.changed = make(chan struct{})
}
