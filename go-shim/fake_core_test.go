package multipass

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeZones are the zones of fakeCore, as the core would report them.
var fakeZones = []string{"vm.test.", "24.110.10.in-addr.arpa."}

// fakeCore is a coreResolver that answers from a table: the decisions the
// real core would make, so that the tests see only what Go does with them.
type fakeCore struct {
	answers map[string]answer   // by lower-case qname and type, see fakeKey
	zones   map[int]zoneContent // what transfer returns, by zone

	mu        sync.Mutex // resolve runs on the server's goroutines
	asked     []string   // every qname, exactly as resolve got it
	waits     []string   // "stop" and "resume", in order
	destroyed bool
}

func fakeKey(qname string, qtype uint16) string {
	return strings.ToLower(qname) + "/" + strconv.Itoa(int(qtype))
}

func (f *fakeCore) resolve(qname string, qtype uint16) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, qname)
	if f.destroyed {
		return answer{outcome: serverFailure}
	}
	if a, ok := f.answers[fakeKey(qname, qtype)]; ok {
		return a
	}
	return answer{outcome: notMine, zone: -1}
}

func (f *fakeCore) zone(i int) (origin, mname, rname string, err error) {
	z := fakeZones[i]
	return z, "ns1." + z, "hostmaster." + z, nil
}

func (f *fakeCore) transfer(i int) (zoneContent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	z, ok := f.zones[i]
	if !ok {
		return zoneContent{}, errors.New("no listing has loaded yet")
	}
	return z, nil
}

// stopWaiting and resumeWaiting record what was done, in waits.
func (f *fakeCore) stopWaiting() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, "stop")
}

func (f *fakeCore) resumeWaiting() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, "resume")
}

func (f *fakeCore) destroy() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.destroyed = true
}

// fakeSource is a coreSource that records what is done to it. Its wake-up
// pipe is a real pipe: addLog and finishRefresh write to it, stop closes it.
type fakeSource struct {
	key   sourceOptions
	calls *eventLog

	mu        sync.Mutex
	logs      []logLine
	finished  uint64
	stopped   bool
	loaded    bool
	intervals intervals
	st        sourceStats
	wake      *os.File // the pipe's write end; nil once stopped
	read      *os.File // the pipe's read end, which the event loop reads
	resolver  *fakeCore
}

// eventLog is the ordered record of the calls on fake sources.
type eventLog struct {
	mu sync.Mutex
	ev []string
}

func (l *eventLog) add(what string, key sourceOptions) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, what+" "+key.binary)
}

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ev...)
}

func (s *fakeSource) start() error { s.calls.add("start", s.key); return nil }

func (s *fakeSource) setIntervals(iv intervals) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intervals = iv
	return nil
}

func (s *fakeSource) events() (io.ReadCloser, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wake, s.read = w, r
	return r, nil
}

// notify writes to the wake-up pipe, as the core does. Needs s.mu.
func (s *fakeSource) notify() {
	if s.wake != nil {
		s.wake.Write([]byte{1})
	}
}

func (s *fakeSource) addLog(l logLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, l)
	s.notify()
}

// load marks the source loaded, and says so through the pipe.
func (s *fakeSource) load() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loaded = true
	s.notify()
}

func (s *fakeSource) finishRefresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished++
	s.notify()
}

func (s *fakeSource) stop() {
	s.calls.add("stop", s.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.wake != nil {
		s.wake.Close()
		s.wake = nil
	}
}

func (s *fakeSource) destroy() { s.calls.add("destroy", s.key) }

func (s *fakeSource) ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loaded
}

func (s *fakeSource) unitsFinished() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finished
}

func (s *fakeSource) stats() sourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *fakeSource) nextLog() (logLine, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.logs) == 0 {
		return logLine{}, false
	}
	l := s.logs[0]
	s.logs = s.logs[1:]
	return l, true
}

func (s *fakeSource) newResolver(resolverOptions, waitFunc) (coreResolver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolver = &fakeCore{answers: fakeAnswers()}
	return s.resolver, nil
}

// fakeAnswers are the core's decisions for the names of multipass_test.go.
func fakeAnswers() map[string]answer {
	soa := soaValues{serial: 42, refresh: 7200, retry: 1800, expire: 86400, minimum: 5, ttl: 5}
	fwd, rev := 0, 1
	return map[string]answer{
		fakeKey("primary.vm.test.", dns.TypeA): {outcome: answered, zone: fwd, rrtype: dns.TypeA, ttl: 30,
			addrs: []byte{10, 110, 24, 87}, soa: soa},
		fakeKey("k8s-node-01.vm.test.", dns.TypeA): {outcome: answered, zone: fwd, rrtype: dns.TypeA, ttl: 30,
			addrs: []byte{10, 110, 24, 141, 192, 168, 1, 57, 172, 17, 0, 1}, soa: soa},
		fakeKey("primary.vm.test.", dns.TypeAAAA):    {outcome: noData, zone: fwd, soa: soa},
		fakeKey("calm-squirrel.vm.test.", dns.TypeA): {outcome: noData, zone: fwd, soa: soa},
		fakeKey("nope.vm.test.", dns.TypeA):          {outcome: nxDomain, rcode: dns.RcodeNameError, zone: fwd, soa: soa},
		fakeKey("x.primary.vm.test.", dns.TypeA):     {outcome: nxDomain, rcode: dns.RcodeNameError, zone: fwd, soa: soa},
		fakeKey("vm.test.", dns.TypeSOA):             {outcome: answered, zone: fwd, rrtype: dns.TypeSOA, ttl: 5, soa: soa},
		fakeKey("vm.test.", dns.TypeNS):              {outcome: answered, zone: fwd, rrtype: dns.TypeNS, ttl: 30, target: "ns1.vm.test.", soa: soa},
		fakeKey("vm.test.", dns.TypeMX):              {outcome: noData, zone: fwd, soa: soa},
		fakeKey("87.24.110.10.in-addr.arpa.", dns.TypePTR): {outcome: answered, zone: rev, rrtype: dns.TypePTR, ttl: 30,
			target: "primary.vm.test.", soa: soa},
		fakeKey("99.24.110.10.in-addr.arpa.", dns.TypePTR): {outcome: nxDomain, rcode: dns.RcodeNameError, zone: rev, soa: soa},
		fakeKey("vm.test.", dns.TypeAXFR):                  {outcome: refused, rcode: dns.RcodeRefused, zone: fwd},
		fakeKey("booting.vm.test.", dns.TypeA):             {outcome: serverFailure, rcode: dns.RcodeServerFailure, zone: fwd},
	}
}

// eventually polls cond, for liveness only, with a generous bound.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
