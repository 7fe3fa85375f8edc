package multipass

import (
	"sync"
	"time"
)

// notifier tells a block's secondaries, through the transfer plugin's
// Notify, that a zone changed: a NOTIFY (RFC 1996) for each zone whose
// serial moved since the last one sent, and one for every zone once the
// first listing has loaded (a restarted primary, or a reloaded block). A
// zone gets at most one per interval (the block's probe): a change within
// it is sent when the interval ends, by a one-shot timer that reads the
// serial then, so that a VM that flaps costs one NOTIFY per interval and
// the last change is always sent. Nothing polls: check runs when a unit of
// the source has ended (events.go) and once at startup.
type notifier struct {
	zones    []string                   // the zones' origins
	serial   func(i int) (uint32, bool) // zone i's serial now; false before the first load
	send     func(zone string) error    // transfer.Transfer.Notify
	interval time.Duration

	// The clock and the one-shot timer, which tests replace.
	now       func() time.Time
	afterFunc func(time.Duration, func()) interface{ Stop() bool }

	mu      sync.Mutex
	state   []zoneNotice
	stopped bool
}

// zoneNotice is what a notifier remembers of one zone.
type zoneNotice struct {
	sent    bool                     // a NOTIFY went out
	serial  uint32                   // the serial it told of
	at      time.Time                // when
	pending interface{ Stop() bool } // a trailing NOTIFY is due
}

func newNotifier(zones []string, serial func(int) (uint32, bool), send func(string) error, interval time.Duration) *notifier {
	return &notifier{zones: zones, serial: serial, send: send, interval: interval, now: time.Now,
		afterFunc: func(d time.Duration, f func()) interface{ Stop() bool } { return time.AfterFunc(d, f) },
		state:     make([]zoneNotice, len(zones))}
}

// check sends, or schedules, a NOTIFY for every zone whose serial moved.
func (n *notifier) check() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	now := n.now()
	for i := range n.zones {
		z := &n.state[i]
		s, ok := n.serial(i)
		if !ok || (z.sent && s == z.serial) || z.pending != nil {
			continue
		}
		if wait := z.at.Add(n.interval).Sub(now); z.sent && wait > 0 {
			z.pending = n.afterFunc(wait, func() { n.trailing(i) })
			continue
		}
		n.sendLocked(i, s, now)
	}
}

// trailing sends the NOTIFY a change within the interval left due, unless
// the serial went back to the one last told of.
func (n *notifier) trailing(i int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.state[i].pending = nil
	if n.stopped {
		return
	}
	if s, ok := n.serial(i); ok && s != n.state[i].serial {
		n.sendLocked(i, s, n.now())
	}
}

// sendLocked records a NOTIFY for zone i and sends it from a goroutine:
// Notify waits for every secondary's answer (up to 3 tries each).
func (n *notifier) sendLocked(i int, serial uint32, now time.Time) {
	n.state[i] = zoneNotice{sent: true, serial: serial, at: now}
	zone := n.zones[i]
	go func() {
		if err := n.send(zone); err != nil {
			log.Warningf("NOTIFY for zone %s (serial %d): %s", zone, serial, err)
			zoneNotifies.count(zone, "failed")
			return
		}
		zoneNotifies.count(zone, "sent")
	}()
}

// stop cancels the NOTIFYs due; check does nothing afterwards.
func (n *notifier) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	for i := range n.state {
		if p := n.state[i].pending; p != nil {
			p.Stop()
			n.state[i].pending = nil
		}
	}
}
