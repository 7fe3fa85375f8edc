//go:build cgo

// The defaults these tests parse come from the core (coreDefaults).

package multipass

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// fakeRegistry replaces the process's registry with one that opens
// fakeSources, for the duration of the test.
func fakeRegistry(t *testing.T) (*eventLog, map[daemon]*fakeSource) {
	t.Helper()
	calls := &eventLog{}
	opened := map[daemon]*fakeSource{}
	old := sources
	sources = &registry{
		open: func(o sourceOptions) (coreSource, error) {
			calls.add("open", o)
			s := &fakeSource{key: o, calls: calls, intervals: o.intervals,
				logs: []logLine{{level: levelInfo, text: "hello"}, {level: levelError, text: "oops", dropped: 3}}}
			opened[o.daemon] = s
			return s, nil
		},
		sources: map[daemon]*sharedSource{},
	}
	t.Cleanup(func() { sources = old })
	return calls, opened
}

func options(binary string, iv intervals) sourceOptions {
	return sourceOptions{daemon: daemon{binary: binary}, intervals: iv}
}

var defaultIntervals = newSourceOptions().intervals

func TestRegistryShares(t *testing.T) {
	calls, opened := fakeRegistry(t)
	a, b := options("a", defaultIntervals), options("b", defaultIntervals)

	l1, err := sources.acquire(a)
	if err != nil {
		t.Fatal(err)
	}
	l2, _ := sources.acquire(a)
	l3, _ := sources.acquire(b)
	if l1.src != l2.src {
		t.Error("expected two acquires of the same daemon to share one source")
	}
	if l1.src == l3.src {
		t.Error("expected another daemon to get its own source")
	}
	if want := []string{"open a", "start a", "open b", "start b"}; !reflect.DeepEqual(calls.all(), want) {
		t.Errorf("expected %q, got %q", want, calls.all())
	}

	sources.release(l1)
	if want := []string{"open a", "start a", "open b", "start b"}; !reflect.DeepEqual(calls.all(), want) {
		t.Errorf("expected the source to keep running while used, got %q", calls.all())
	}
	sources.release(l2)
	// The last release stops the source, waits for the event loop to print
	// the last log lines and return, and only then destroys the source.
	if want := []string{"open a", "start a", "open b", "start b", "stop a", "destroy a"}; !reflect.DeepEqual(calls.all(), want) {
		t.Errorf("expected %q, got %q", want, calls.all())
	}
	if n := len(opened[a.daemon].logs); n != 0 {
		t.Errorf("expected the event loop to have taken every log line, %d left", n)
	}

	// A source released for good is not reused.
	l4, _ := sources.acquire(a)
	if l4.src == l1.src {
		t.Error("expected a new source after the last release")
	}
	sources.release(l4)
	sources.release(l3)
	if n := len(sources.sources); n != 0 {
		t.Errorf("expected no sources left, got %d", n)
	}
}

// A reload runs the new instance's OnStartup before the old one's
// OnShutdown: the source, and the inventory it holds, must survive it.
func TestReloadKeepsSource(t *testing.T) {
	calls, opened := fakeRegistry(t)
	corefile := "multipass vm.test 24.110.10.in-addr.arpa {\nbinary reload\n}"

	old, err := parse(caddy.NewTestController("dns", corefile))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.startup(nil, nil); err != nil {
		t.Fatal(err)
	}
	src := opened[old.sourceOpts.daemon]
	src.load()
	eventually(t, "the old instance ready", old.Ready)
	oldResolver := src.resolver

	renewed, _ := parse(caddy.NewTestController("dns", strings.Replace(corefile, "}", "refresh 2m\n}", 1)))
	if err := renewed.startup(nil, nil); err != nil {
		t.Fatal(err)
	}
	if !renewed.Ready() {
		t.Error("expected the new instance to be ready at once: it shares the loaded source")
	}
	old.shutdown()

	if !oldResolver.destroyed {
		t.Error("expected the old instance's resolver to be destroyed")
	}
	if src.resolver.destroyed {
		t.Error("expected the new instance's resolver to live on")
	}
	if want := []string{"open reload", "start reload"}; !reflect.DeepEqual(calls.all(), want) {
		t.Errorf("expected one source running through the reload, got %q", calls.all())
	}
	if want := (intervals{probe: 5 * time.Second, refresh: 2 * time.Minute, timeout: 10 * time.Second}); src.intervals != want {
		t.Errorf("expected the source to take the new intervals %+v, got %+v", want, src.intervals)
	}

	renewed.shutdown()
	renewed.shutdown() // a second OnShutdown releases nothing more
	if renewed.Ready() {
		t.Error("expected an instance that shut down not to be ready")
	}
	if want := []string{"open reload", "start reload", "stop reload", "destroy reload"}; !reflect.DeepEqual(calls.all(), want) {
		t.Errorf("expected %q, got %q", want, calls.all())
	}
}

// Blocks that list the same daemon share one source, whatever their
// intervals: the shortest probe and refresh win, and the longest timeout (a
// deadline long enough for the slowest block's daemon suits every block);
// they follow the blocks that come and go.
func TestBlocksShareSourceWithTheShortestIntervalsAndTheLongestTimeout(t *testing.T) {
	calls, opened := fakeRegistry(t)
	m1, _ := parse(caddy.NewTestController("dns", "multipass vm.test"))
	m2, _ := parse(caddy.NewTestController("dns", "multipass other.test {\nprobe 2s\ntimeout 30s\n}"))
	m3, _ := parse(caddy.NewTestController("dns", "multipass third.test {\nrefresh 1s\ntimeout 200ms\n}"))
	for _, m := range []*Multipass{m1, m2, m3} {
		if err := m.startup(nil, nil); err != nil {
			t.Fatal(err)
		}
		defer m.shutdown()
	}
	if m1.lease.Load().src != m2.lease.Load().src || m1.lease.Load().src != m3.lease.Load().src {
		t.Error("expected blocks of the same daemon to share a source")
	}
	if want := []string{"open multipass", "start multipass"}; !reflect.DeepEqual(calls.all(), want) {
		t.Errorf("expected %q, got %q", want, calls.all())
	}
	src := opened[m1.sourceOpts.daemon]
	// refresh 1s leaves no room for a probe: full listings every second.
	if want := (intervals{refresh: time.Second, timeout: 30 * time.Second}); src.intervals != want {
		t.Errorf("expected %+v, got %+v", want, src.intervals)
	}
	m3.shutdown()
	if want := (intervals{probe: 2 * time.Second, refresh: 10 * time.Minute, timeout: 30 * time.Second}); src.intervals != want {
		t.Errorf("after the 1s block left: expected %+v, got %+v", want, src.intervals)
	}
	m2.shutdown()
	if want := defaultIntervals; src.intervals != want {
		t.Errorf("after the 30s block left: expected %+v, got %+v", want, src.intervals)
	}
}
