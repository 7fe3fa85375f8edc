package multipass

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRefresher stands in for the core's multipass_source_wait_refresh: a
// refresh "finishes" when the test calls finish; stop ends every wait.
type fakeRefresher struct {
	mu       sync.Mutex
	cond     *sync.Cond
	finished uint64
	stopped  bool
	calls    atomic.Int64 // waitCore calls
	inCore   atomic.Int64 // waitCore calls running now
	maxIn    atomic.Int64 // most waitCore calls running at once
	longest  atomic.Int64 // longest timeout passed to waitCore, in ns
}

func newFakeRefresher() *fakeRefresher {
	f := &fakeRefresher{}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *fakeRefresher) waitCore(seq uint64, timeout time.Duration) (uint64, bool) {
	f.calls.Add(1)
	for {
		l := f.longest.Load()
		if int64(timeout) <= l || f.longest.CompareAndSwap(l, int64(timeout)) {
			break
		}
	}
	n := f.inCore.Add(1)
	defer f.inCore.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer timer.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.finished < seq && !f.stopped && time.Now().Before(deadline) {
		f.cond.Wait()
	}
	return f.finished, f.stopped
}

func (f *fakeRefresher) finish() {
	f.mu.Lock()
	f.finished++
	f.cond.Broadcast()
	f.mu.Unlock()
}

func (f *fakeRefresher) stop() {
	f.mu.Lock()
	f.stopped = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// waitAll starts n questions waiting for refresh seq and returns a channel
// closed when they have all returned.
func waitAll(w *refreshWaits, n int, seq uint64, limit time.Duration) <-chan struct{} {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.await(seq, limit)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// expectNoWait checks that a question for refresh seq returns at once.
func expectNoWait(t *testing.T, w *refreshWaits, seq uint64, what string) {
	t.Helper()
	start := time.Now()
	w.await(seq, time.Minute)
	if time.Since(start) > time.Second {
		t.Errorf("%s blocked", what)
	}
}

func waiting(w *refreshWaits) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiting
}

func TestRefreshWaitsWakeEveryQuestionWithOneCoreCall(t *testing.T) {
	f := newFakeRefresher()
	w := newRefreshWaits(f.waitCore)
	done := waitAll(w, 10, 1, time.Minute)
	eventually(t, "10 questions waiting", func() bool { return waiting(w) == 10 })
	select {
	case <-done:
		t.Fatal("the questions returned before the refresh finished")
	case <-time.After(50 * time.Millisecond):
	}
	f.finish()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the questions still wait after the refresh finished")
	}
	if got := f.maxIn.Load(); got != 1 {
		t.Errorf("%d goroutines blocked in the core at once, want 1 per source", got)
	}
	expectNoWait(t, w, 1, "a wait for a finished refresh")
}

func TestRefreshWaitsGiveUpAtTheLimit(t *testing.T) {
	f := newFakeRefresher()
	w := newRefreshWaits(f.waitCore)
	start := time.Now()
	w.await(1, 100*time.Millisecond)
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("await with a 100ms limit returned after %v", d)
	}
	if waiting(w) != 0 {
		t.Error("a question that gave up is still counted as waiting")
	}
	// The watcher notices that nobody waits any more and ends.
	eventually(t, "the watcher ends", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return !w.watching
	})
	// A zero limit never waits.
	w.await(2, 0)
}

func TestRefreshWaitsPastTheCapReturnAtOnce(t *testing.T) {
	f := newFakeRefresher()
	w := newRefreshWaits(f.waitCore)
	done := waitAll(w, maxRefreshWaiters, 1, time.Minute)
	eventually(t, "the cap reached", func() bool { return waiting(w) == maxRefreshWaiters })
	expectNoWait(t, w, 1, "a question past the cap")
	f.finish()
	<-done
}

func TestRefreshWaitsEndWhenTheSourceStops(t *testing.T) {
	f := newFakeRefresher()
	w := newRefreshWaits(f.waitCore)
	done := waitAll(w, 3, 5, time.Minute)
	eventually(t, "3 questions waiting", func() bool { return waiting(w) == 3 })
	f.stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the questions still wait after the source stopped")
	}
	// Nothing to wait for any more: later questions return at once.
	expectNoWait(t, w, 6, "a wait on a stopped source")
}

func TestRefreshWaitsHoldNoThreadPerQuestion(t *testing.T) {
	f := newFakeRefresher()
	w := newRefreshWaits(f.waitCore)
	before := runtime.NumGoroutine()
	done := waitAll(w, maxRefreshWaiters, 1, time.Minute)
	eventually(t, "the questions waiting", func() bool { return waiting(w) == maxRefreshWaiters })
	// Parked goroutines, one watcher that polls: never two calls in the
	// core at once, and none that may block there.
	eventually(t, "the watcher asked the core twice", func() bool { return f.calls.Load() >= 2 })
	if in := f.maxIn.Load(); in != 1 {
		t.Errorf("%d calls in the core at once, want 1", in)
	}
	if l := time.Duration(f.longest.Load()); l != 0 {
		t.Errorf("the watcher passed a timeout of %v: it must not block in the core", l)
	}
	f.finish()
	<-done
	eventually(t, "the goroutines gone", func() bool { return runtime.NumGoroutine() <= before+1 })
}
