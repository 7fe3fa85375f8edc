package multipass

import (
	"reflect"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// fakeRegistry replaces the process's registry with one that opens
// fakeSources, for the duration of the test.
func fakeRegistry(t *testing.T) (*eventLog, map[sourceOptions]*fakeSource) {
	t.Helper()
	events := &eventLog{}
	opened := map[sourceOptions]*fakeSource{}
	old := sources
	sources = &registry{
		open: func(key sourceOptions) (coreSource, error) {
			events.add("open", key)
			s := &fakeSource{key: key, events: events, wake: make(chan struct{}),
				logs: []logLine{{level: levelInfo, text: "hello"}, {level: levelError, text: "oops", dropped: 3}}}
			opened[key] = s
			return s, nil
		},
		sources: map[sourceOptions]*sharedSource{},
	}
	t.Cleanup(func() { sources = old })
	return events, opened
}

func TestRegistryShares(t *testing.T) {
	events, _ := fakeRegistry(t)
	a := sourceOptions{binary: "a", refresh: time.Second}
	b := sourceOptions{binary: "b", refresh: time.Second}

	s1, err := sources.acquire(a)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := sources.acquire(a)
	s3, _ := sources.acquire(b)
	if s1 != s2 {
		t.Error("expected two acquires of the same options to share one source")
	}
	if s1 == s3 {
		t.Error("expected other options to get their own source")
	}
	if want := []string{"open a", "start a", "open b", "start b"}; !reflect.DeepEqual(events.all(), want) {
		t.Errorf("expected %q, got %q", want, events.all())
	}

	sources.release(s1)
	if want := []string{"open a", "start a", "open b", "start b"}; !reflect.DeepEqual(events.all(), want) {
		t.Errorf("expected the source to keep running while used, got %q", events.all())
	}
	sources.release(s2)
	// The last release stops the source, waits for the log drain to see
	// the queue closed, and only then destroys the source.
	if want := []string{"open a", "start a", "open b", "start b", "stop a", "log closed a", "destroy a"}; !reflect.DeepEqual(events.all(), want) {
		t.Errorf("expected %q, got %q", want, events.all())
	}

	// A source released for good is not reused.
	s4, _ := sources.acquire(a)
	if s4 == s1 {
		t.Error("expected a new source after the last release")
	}
	sources.release(s4)
	sources.release(s3)
	if n := len(sources.sources); n != 0 {
		t.Errorf("expected no sources left, got %d", n)
	}
}

// A reload runs the new instance's OnStartup before the old one's
// OnShutdown: the source, and the inventory it holds, must survive it.
func TestReloadKeepsSource(t *testing.T) {
	events, opened := fakeRegistry(t)
	corefile := "multipass vm.test 24.110.10.in-addr.arpa {\nbinary reload\n}"

	old, err := parse(caddy.NewTestController("dns", corefile))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.startup(); err != nil {
		t.Fatal(err)
	}
	src := opened[old.source]
	src.mu.Lock()
	src.loaded = true
	src.mu.Unlock()
	oldResolver := src.resolver

	renewed, _ := parse(caddy.NewTestController("dns", corefile))
	if err := renewed.startup(); err != nil {
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
	if want := []string{"open reload", "start reload"}; !reflect.DeepEqual(events.all(), want) {
		t.Errorf("expected one source running through the reload, got %q", events.all())
	}

	renewed.shutdown()
	renewed.shutdown() // a second OnShutdown releases nothing more
	if renewed.Ready() {
		t.Error("expected an instance that shut down not to be ready")
	}
	if want := []string{"open reload", "start reload", "stop reload", "log closed reload", "destroy reload"}; !reflect.DeepEqual(events.all(), want) {
		t.Errorf("expected %q, got %q", want, events.all())
	}
	if len(src.logs) != 0 {
		t.Errorf("expected the drain to have taken every log line, %d left", len(src.logs))
	}
}

// Two server blocks with the same source options run one CLI.
func TestBlocksShareSource(t *testing.T) {
	events, _ := fakeRegistry(t)
	m1, _ := parse(caddy.NewTestController("dns", "multipass vm.test"))
	m2, _ := parse(caddy.NewTestController("dns", "multipass other.test"))
	m3, _ := parse(caddy.NewTestController("dns", "multipass third.test {\nrefresh 1m\n}"))
	for _, m := range []*Multipass{m1, m2, m3} {
		if err := m.startup(); err != nil {
			t.Fatal(err)
		}
		defer m.shutdown()
	}
	if m1.shared.Load() != m2.shared.Load() {
		t.Error("expected blocks with the same options to share a source")
	}
	if m1.shared.Load() == m3.shared.Load() {
		t.Error("expected a block with another refresh to get its own source")
	}
	if want := []string{"open multipass", "start multipass", "open multipass", "start multipass"}; !reflect.DeepEqual(events.all(), want) {
		t.Errorf("expected %q, got %q", want, events.all())
	}
}

func TestChangedOptionsAdoptTheInventoryOfTheSameDaemon(t *testing.T) {
	events, opened := fakeRegistry(t)
	old := sourceOptions{binary: "a", refresh: time.Second}
	changed := sourceOptions{binary: "a", refresh: 2 * time.Second}
	other := sourceOptions{binary: "a", serverAddress: "remote:50051", refresh: 2 * time.Second}

	s1, _ := sources.acquire(old)
	opened[old].mu.Lock()
	opened[old].loaded = true
	opened[old].mu.Unlock()

	// As on a reload: the new instance acquires before the old one releases.
	s2, _ := sources.acquire(changed)
	if !s2.ready() {
		t.Error("expected the new source to start with the old one's inventory")
	}
	s3, _ := sources.acquire(other)
	if s3.ready() {
		t.Error("expected a source for another daemon to adopt nothing")
	}
	want := []string{"open a", "start a", "open a", "adopt a", "start a", "open a", "start a"}
	if !reflect.DeepEqual(events.all(), want) {
		t.Errorf("expected %q, got %q", want, events.all())
	}
	sources.release(s1)
	sources.release(s2)
	sources.release(s3)
}
