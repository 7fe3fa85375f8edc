package multipass

import (
	"bytes"
	"io"
	golog "log"
	"strings"
	"sync"
	"testing"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

func init() { clog.Discard() }

// watched starts the event loop of a fake source and returns it with a
// function that stops the source and waits for the loop to return.
func watched(t *testing.T) (*sharedSource, *fakeSource, func()) {
	t.Helper()
	fake := &fakeSource{key: sourceOptions{daemon: daemon{binary: "fake"}}, calls: &eventLog{}}
	ev, err := fake.events()
	if err != nil {
		t.Fatal(err)
	}
	s := &sharedSource{coreSource: fake, waits: newWaiters(), done: make(chan struct{})}
	go func() { defer close(s.done); watch(fake, ev, s.waits, &s.loaded, s.unitEnded) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		fake.stop()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the event loop did not return after the pipe closed")
		}
	}
	t.Cleanup(stop)
	return s, fake, stop
}

// lockedBuffer collects what CoreDNS's log prints.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// captured sends CoreDNS's log (debug on or off) to a buffer for the rest
// of the test.
func captured(t *testing.T, debug bool) *lockedBuffer {
	t.Helper()
	out := &lockedBuffer{}
	golog.SetOutput(out)
	golog.SetFlags(0)
	if debug {
		clog.D.Set()
	}
	t.Cleanup(func() {
		clog.D.Clear()
		golog.SetFlags(golog.LstdFlags)
		golog.SetOutput(io.Discard)
	})
	return out
}

// lines returns what was printed, a line each.
func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	text := strings.TrimSuffix(b.buf.String(), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// printed runs the event loop over lines with CoreDNS's log captured (debug
// on or off) and returns what it printed once the source has stopped.
func printed(t *testing.T, debug bool, lines ...logLine) []string {
	t.Helper()
	out := captured(t, debug)
	_, fake, stop := watched(t)
	for _, l := range lines {
		fake.addLog(l)
	}
	stop()
	return out.lines()
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("expected CoreDNS's log to print\n  %s\ngot\n  %s",
			strings.Join(want, "\n  "), strings.Join(got, "\n  "))
	}
}

func TestEventsPrintLogsInCoreDNSFormat(t *testing.T) {
	got := printed(t, false,
		logLine{level: levelInfo, text: "loaded 6 instances from multipass"},
		logLine{level: levelDebug, text: "inventory changed: 7 instances, serial 5"},
		logLine{level: levelWarning, text: "skipping instance 'a_b': not a DNS label"},
		logLine{level: levelError, text: "multipass list failed: cannot connect to the multipass socket"},
	)
	checkLines(t, got, []string{
		"[INFO] plugin/multipass: loaded 6 instances from multipass",
		"[WARNING] plugin/multipass: skipping instance 'a_b': not a DNS label",
		"[ERROR] plugin/multipass: multipass list failed: cannot connect to the multipass socket",
	})
}

func TestEventsPrintDebugOnlyWithDebugOn(t *testing.T) {
	got := printed(t, true,
		logLine{level: levelDebug, text: "inventory changed: 7 instances, serial 5"},
		logLine{level: levelInfo, text: "loaded 6 instances from multipass"},
	)
	checkLines(t, got, []string{
		"[DEBUG] plugin/multipass: inventory changed: 7 instances, serial 5",
		"[INFO] plugin/multipass: loaded 6 instances from multipass",
	})
}

func TestEventsCountDroppedLogLines(t *testing.T) {
	got := printed(t, false,
		logLine{level: levelError, text: "multipass list timed out", dropped: 3},
		// A drop hidden by the debug switch is still reported.
		logLine{level: levelDebug, text: "multipass list timed out (again)", dropped: 1020},
		// An entry that only reports drops prints no empty line.
		logLine{level: levelInfo, dropped: 7},
	)
	checkLines(t, got, []string{
		"[WARNING] plugin/multipass: the core's log queue was full: 3 log lines dropped",
		"[ERROR] plugin/multipass: multipass list timed out",
		"[WARNING] plugin/multipass: the core's log queue was full: 1020 log lines dropped",
		"[WARNING] plugin/multipass: the core's log queue was full: 7 log lines dropped",
	})
}

// countingSource counts the calls the event loop makes on a source.
type countingSource struct {
	*fakeSource
	mu    sync.Mutex
	calls int
}

func (c *countingSource) unitsFinished() uint64 {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.fakeSource.unitsFinished()
}

func (c *countingSource) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// An idle source costs nothing: the loop sleeps on the pipe, and asks the
// core once per wake-up.
func TestEventsDoNotPoll(t *testing.T) {
	fake := &fakeSource{key: sourceOptions{daemon: daemon{binary: "fake"}}, calls: &eventLog{}}
	ev, err := fake.events()
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{fakeSource: fake}
	s := &sharedSource{coreSource: src, waits: newWaiters(), done: make(chan struct{})}
	go func() { defer close(s.done); watch(src, ev, s.waits, &s.loaded, s.unitEnded) }()
	defer func() { fake.stop(); <-s.done }()

	eventually(t, "the loop's first look", func() bool { return src.count() == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := src.count(); n != 1 {
		t.Errorf("expected no call while nothing happens, got %d", n-1)
	}
	fake.finishRefresh()
	eventually(t, "the wake-up seen", func() bool { return src.count() == 2 })
	if f := s.waits.known(); f != 1 {
		t.Errorf("expected the waiters to know of 1 finished refresh, got %d", f)
	}
}

// waitAll starts n questions waiting for unit seq and returns a channel
// closed when they have all returned.
func waitAll(w *waiters, n int, seq uint64, limit time.Duration) <-chan struct{} {
	return waitAllFor(w, n, seq, limit, nil)
}

// waitAllFor is waitAll for questions of a resolver that closes cancel
// when it goes.
func waitAllFor(w *waiters, n int, seq uint64, limit time.Duration, cancel <-chan struct{}) <-chan struct{} {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); w.await(seq, limit, cancel) }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

func waiting(w *waiters) int { return int(w.waiting.Load()) }

func (w *waiters) known() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.finished
}

func expectDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the questions are still waiting", what)
	}
}

func TestWaitersWakeWhenTheCoreSaysTheRefreshFinished(t *testing.T) {
	s, fake, _ := watched(t)
	done := waitAll(s.waits, 10, 1, time.Minute)
	eventually(t, "10 questions waiting", func() bool { return waiting(s.waits) == 10 })
	select {
	case <-done:
		t.Fatal("the questions returned before the refresh finished")
	case <-time.After(50 * time.Millisecond):
	}
	fake.finishRefresh()
	expectDone(t, done, "after the refresh finished")
	// A question for a refresh that has finished does not wait.
	expectDone(t, waitAll(s.waits, 1, 1, time.Minute), "for a finished refresh")
}

func TestWaitersGiveUpAtTheLimit(t *testing.T) {
	s, _, _ := watched(t)
	start := time.Now()
	expectDone(t, waitAll(s.waits, 3, 1, 100*time.Millisecond), "past the limit")
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("expected the questions to wait for the limit, they returned after %v", d)
	}
	if n := waiting(s.waits); n != 0 {
		t.Errorf("expected no question counted as waiting, got %d", n)
	}
}

// Issue 25: a burst of first questions all wait for the look (a cap of 16
// turned the rest into NXDOMAIN); only the memory bound turns one away.
func TestWaitersTakeABurstOfQuestions(t *testing.T) {
	s, fake, _ := watched(t)
	const burst = 2000
	parked := waitAll(s.waits, burst, 1, time.Minute)
	eventually(t, "the whole burst waiting", func() bool { return waiting(s.waits) == burst })
	fake.finishRefresh()
	expectDone(t, parked, "after the look ended")
	if f := s.waits.known(); f != 1 {
		t.Errorf("expected the waiters to know of 1 ended unit, got %d", f)
	}
	// Past the bound a question does not wait.
	s.waits.waiting.Store(maxWaiting)
	expectDone(t, waitAll(s.waits, 1, 2, time.Minute), "past the memory bound")
	s.waits.waiting.Store(0)
}

// Issue 25: a block's resolver that goes (OnShutdown, a reload) wakes its
// parked questions at once; those of other blocks keep waiting.
func TestWaitersStopWaitingWhenTheirResolverGoes(t *testing.T) {
	s, fake, _ := watched(t)
	gone, stays := make(chan struct{}), make(chan struct{})
	mine := waitAllFor(s.waits, 300, 1, time.Hour, gone)
	others := waitAllFor(s.waits, 5, 1, time.Hour, stays)
	eventually(t, "305 questions waiting", func() bool { return waiting(s.waits) == 305 })
	close(gone)
	expectDone(t, mine, "after their resolver went")
	if n := waiting(s.waits); n != 5 {
		t.Errorf("expected the other block's 5 questions still waiting, got %d", n)
	}
	fake.finishRefresh()
	expectDone(t, others, "after the look ended")
}

func TestWaitersEndWhenTheSourceStops(t *testing.T) {
	s, _, stop := watched(t)
	done := waitAll(s.waits, 4, 1, time.Minute)
	eventually(t, "4 questions waiting", func() bool { return waiting(s.waits) == 4 })
	stop() // the pipe reads end of file
	expectDone(t, done, "after the source stopped")
	expectDone(t, waitAll(s.waits, 1, 2, time.Minute), "on a stopped source")
}

// A wake-up pipe that fails (here: closed under the event loop's read) is
// logged once; the source is no longer ready, nothing hearing the core, and
// the questions waiting for a refresh stop waiting at once.
func TestEventsBrokenPipe(t *testing.T) {
	out := captured(t, false)
	s, fake, _ := watched(t)
	fake.load()
	eventually(t, "the first listing seen", s.loaded.Load)
	done := waitAll(s.waits, 4, 1, time.Minute)
	eventually(t, "4 questions waiting", func() bool { return waiting(s.waits) == 4 })

	fake.read.Close()
	expectDone(t, done, "after the pipe broke")
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the event loop did not return after its pipe broke")
	}
	if s.loaded.Load() {
		t.Error("expected the source not to be ready once nothing hears the core")
	}
	expectDone(t, waitAll(s.waits, 1, 2, time.Minute), "a question after the pipe broke")
	got := out.lines()
	if len(got) != 1 || !strings.HasPrefix(got[0], "[ERROR] plugin/multipass: the core's wake-up pipe failed") {
		t.Errorf("expected one ERROR line about the pipe, got %q", got)
	}
}
