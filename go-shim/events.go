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
// prints the queued log lines, wakes the questions in w whose look has
// ended, and sets loaded once the first listing has loaded (for Ready).
// It returns when the pipe reads end of file: the source stopped. A pipe
// that fails otherwise is logged once; loaded is cleared (the source is not
// ready any more: nothing hears the core) and the questions stop waiting.
func watch(src coreSource, ev io.ReadCloser, w *waiters, loaded *atomic.Bool) {
	defer ev.Close()
	buf := make([]byte, 64)
	for err := error(nil); ; _, err = ev.Read(buf) {
		if err != nil && err != io.EOF {
			log.Errorf("the core's wake-up pipe failed (%s): no more log lines or waits for a look from this source, and it reports not ready, until CoreDNS restarts", err)
			loaded.Store(false)
			w.update(0, true)
			return
		}
		drainLogs(src)
		w.update(src.unitsFinished(), err == io.EOF)
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

// maxWaiting bounds the questions of one source that wait for a look at the
// same time, by the memory they hold rather than by a count a burst of
// legitimate first questions reaches: a waiting question holds no OS thread,
// only its goroutine (CoreDNS's, with the stack of the plugin chain it came
// through) and its message, about 8 KiB, so this many hold at most about
// 512 MiB. Each waits at most the core's wait bound (2 s), and the core
// starts at most one look a second, so a flood of distinct unknown names
// keeps about its rate in questions waiting (bench/README.md, §7, measures
// 2,000 and 20,000 a second). A question past the bound does not wait: the
// core answers it SERVFAIL unless the inventory settles it.
const maxWaiting = 1 << 16

// waiters park questions, each on a channel, until the event loop sees the
// unit they wait for end.
type waiters struct {
	mu       sync.Mutex
	finished uint64        // units known ended
	stopped  bool          // the source has stopped: nothing more to wait for
	changed  chan struct{} // closed, then replaced, when finished or stopped change
	waiting  int
}

func newWaiters() *waiters { return &waiters{changed: make(chan struct{})} }

// await parks the caller until unit seq has ended, the source has stopped,
// limit passes, or cancel is closed; at once when maxWaiting questions
// already wait. The caller asks the core again afterwards in every case.
func (w *waiters) await(seq uint64, limit time.Duration, cancel <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if limit <= 0 || w.finished >= seq || w.stopped || w.waiting >= maxWaiting {
		return
	}
	select {
	case <-cancel:
		return
	default:
	}
	w.waiting++
	defer func() { w.waiting-- }() // before the Unlock
	expired := time.NewTimer(limit)
	defer expired.Stop()
	for w.finished < seq && !w.stopped {
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
			w.mu.Lock()
		case <-expired.C:
			w.mu.Lock()
			return
		case <-cancel:
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
