package multipass

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeTimers is the notifier's clock and one-shot timers, moved by hand.
type fakeTimers struct {
	now     time.Time
	pending []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

func (c *fakeTimers) afterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.pending = append(c.pending, t)
	return t
}

// advance moves the clock and fires the timers due.
func (c *fakeTimers) advance(d time.Duration) {
	c.now = c.now.Add(d)
	due := c.pending
	c.pending = nil
	for _, t := range due {
		if !t.stopped && !t.at.After(c.now) {
			t.f()
		} else if !t.stopped {
			c.pending = append(c.pending, t)
		}
	}
}

// sent records the NOTIFYs, in order.
type sent struct {
	mu    sync.Mutex
	zones []string
}

func (s *sent) notify(zone string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zones = append(s.zones, zone)
	return nil
}

func (s *sent) count(t *testing.T, want int) {
	t.Helper()
	eventually(t, "the NOTIFYs are out", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.zones) >= want
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.zones) != want {
		t.Fatalf("%d NOTIFYs %v, want %d", len(s.zones), s.zones, want)
	}
}

func newTestNotifier(serials []uint32, loaded *bool, out *sent) (*notifier, *fakeTimers) {
	clock := &fakeTimers{now: time.Unix(1000, 0)}
	n := newNotifier([]string{"vm.test.", "24.110.10.in-addr.arpa."},
		func(i int) (uint32, bool) { return serials[i], *loaded }, out.notify, 5*time.Second)
	n.now = func() time.Time { return clock.now }
	n.afterFunc = clock.afterFunc
	return n, clock
}

func TestNotifyOnceEveryZoneAfterTheFirstLoadThenOnChange(t *testing.T) {
	serials, loaded, out := []uint32{100, 100}, false, &sent{}
	n, clock := newTestNotifier(serials, &loaded, out)
	n.check() // before the first load: nothing
	out.count(t, 0)
	loaded = true
	n.check()
	out.count(t, 2) // both zones, once: a restarted primary
	n.check()
	out.count(t, 2) // nothing moved
	clock.advance(10 * time.Second)
	serials[0] = 101 // only the forward zone changed
	n.check()
	out.count(t, 3)
	if out.zones[2] != "vm.test." {
		t.Errorf("NOTIFY for %s, want vm.test.", out.zones[2])
	}
}

func TestAFlappingZoneGetsOneNotifyPerIntervalAndTheLastChange(t *testing.T) {
	serials, loaded, out := []uint32{100, 100}, true, &sent{}
	n, clock := newTestNotifier(serials, &loaded, out)
	n.check()
	out.count(t, 2)
	// A change every second for a minute: one NOTIFY at once when the
	// interval allows, the rest held and sent as one when it ends.
	for i := 0; i < 60; i++ {
		clock.advance(time.Second)
		serials[0]++
		n.check()
	}
	clock.advance(5 * time.Second) // the trailing one of the last change
	// vm.test.: at the load, then at 5, 10, ..., 60 s and the trailing one
	// at 65 s (14); the reverse zone: at the load (15).
	out.count(t, 15)
	// The last one told of the last serial.
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state[0].serial != serials[0] || n.state[0].pending != nil {
		t.Errorf("last NOTIFY told of %d, the zone is at %d", n.state[0].serial, serials[0])
	}
}

func TestAChangeUndoneWithinTheIntervalSendsNothing(t *testing.T) {
	serials, loaded, out := []uint32{100, 100}, true, &sent{}
	n, clock := newTestNotifier(serials, &loaded, out)
	n.check()
	out.count(t, 2)
	clock.advance(time.Second)
	serials[0] = 101
	n.check() // held: within the interval
	serials[0] = 100
	clock.advance(5 * time.Second)
	out.count(t, 2)
}

func TestStoppedNotifierSendsNoMore(t *testing.T) {
	serials, loaded, out := []uint32{100, 100}, true, &sent{}
	n, clock := newTestNotifier(serials, &loaded, out)
	n.check()
	out.count(t, 2)
	clock.advance(time.Second)
	serials[0] = 101
	n.check()
	n.stop()
	clock.advance(10 * time.Second)
	n.check()
	out.count(t, 2)
}

func TestAFailedNotifyIsCounted(t *testing.T) {
	serials, loaded := []uint32{7, 7}, true
	done := make(chan struct{}, 2)
	n := newNotifier([]string{"fail.test."}, func(int) (uint32, bool) { return serials[0], loaded },
		func(string) error { done <- struct{}{}; return errors.New("refused") }, time.Second)
	before := countOf(zoneNotifies, "fail.test.", "failed")
	n.check()
	<-done
	eventually(t, "the failure is counted", func() bool { return countOf(zoneNotifies, "fail.test.", "failed") == before+1 })
}

func countOf(c *zoneCounts, zone, label string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[[2]string{zone, label}]
}
