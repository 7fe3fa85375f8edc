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
// Once loaded, it calls ended after each unit that ended (the zones'
// serials may have moved). It returns when the pipe reads end of file: the
// source stopped. A pipe that fails otherwise is logged once; loaded is
// cleared (the source is not ready any more: nothing hears the core) and
// the questions stop waiting.
func watch(src coreSource, ev io.ReadCloser, w *waiters, loaded *atomic.Bool, ended func()) {
	defer ev.Close()
	buf := make([]byte, 64)
	var seen uint64
	for err := error(nil); ; _, err = ev.Read(buf) {
		if err != nil && err != io.EOF {
			log.Errorf("the core's wake-up pipe failed (%s): no more log lines or waits for a look from this source, and it reports not ready, until CoreDNS restarts", err)
			loaded.Store(false)
			w.update(0, true)
			return
		}
		drainLogs(src)
		finished := src.unitsFinished()
		w.update(finished, err == io.EOF)
		if !loaded.Load() && src.ready() {
			loaded.Store(true)
		}
		if finished != seen && loaded.Load() && err == nil {
			seen = finished
			ended()
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
// same time, by the memory they hold rather than by a count that a burst of
// legitimate first questions reaches (issue 25: 16 turned all but 16 of
// them into NXDOMAIN; 40 VMs launched and connected to at once ask 80). A
// waiting question holds no OS thread, only its goroutine (CoreDNS's, with
// the stack of the plugin chain it came through) and its message: about
// 8-20 KiB (bench/README.md, §7), so this many hold about 32-80 MiB. Each
// waits at most the core's wait bound (2 s) and the core starts at most one
// look a second, so a flood of distinct unknown names keeps about its rate
// in questions waiting; past the bound a question does not wait: the core
// answers it SERVFAIL at once unless the inventory settles it.
const maxWaiting = 4096

// waiters park questions until the event loop sees the unit they wait for
// end: one channel per unit waited for, closed when it ends, so that a unit
// that ends wakes its own questions only, and they go on without a lock.
type waiters struct {
	waiting atomic.Int64 // questions parked now

	mu       sync.Mutex
	finished uint64                   // units known ended
	stopped  bool                     // the source has stopped: nothing more to wait for
	ends     map[uint64]chan struct{} // by unit: closed when it has ended or the source stopped
}

func newWaiters() *waiters { return &waiters{ends: map[uint64]chan struct{}{}} }

// await parks the caller until unit seq has ended, the source has stopped,
// limit passes, or cancel is closed; at once when maxWaiting questions
// already wait. The caller asks the core again afterwards in every case.
func (w *waiters) await(seq uint64, limit time.Duration, cancel <-chan struct{}) {
	if limit <= 0 {
		return
	}
	if w.waiting.Add(1) > maxWaiting {
		w.waiting.Add(-1)
		return
	}
	defer w.waiting.Add(-1)
	ended := w.endOf(seq)
	if ended == nil {
		return
	}
	expired := time.NewTimer(limit)
	defer expired.Stop()
	select {
	case <-ended:
	case <-expired.C:
	case <-cancel:
	}
}

// endOf returns the channel closed when unit seq ends, or nil when it has
// ended (or the source has stopped) already.
func (w *waiters) endOf(seq uint64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished >= seq || w.stopped {
		return nil
	}
	ch, ok := w.ends[seq]
	if !ok {
		ch = make(chan struct{})
		w.ends[seq] = ch
	}
	return ch
}

// update records what the core said and wakes the questions of every unit
// that has ended (all of them once the source has stopped).
func (w *waiters) update(finished uint64, stopped bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = max(w.finished, finished)
	w.stopped = w.stopped || stopped
	for seq, ch := range w.ends {
		if seq <= w.finished || w.stopped {
			close(ch)
			delete(w.ends, seq)
		}
	}
}
