//go:build cgo

// The defaults these tests parse come from the core (coreDefaults).

package multipass

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/whoami"

	"github.com/miekg/dns"
)

// failshutdown is a plugin whose OnShutdown fails, as any plugin's may: on
// a reload, caddy then skips the old instance's remaining OnShutdown hooks
// and runs its OnRestartFailed hooks, while the new instance serves.
func init() {
	plugin.Register("failshutdown", func(c *caddy.Controller) error {
		c.OnShutdown(func() error { return errors.New("failshutdown: refused") })
		return nil
	})
}

// reloads sets up real caddy instances over fake sources: the directives a
// CoreDNS built with the plugin knows (plugin.cfg), failshutdown before
// multipass, and every instance stopped when the test ends. It returns the
// calls on the fake sources.
func reloads(t *testing.T) *eventLog {
	t.Helper()
	if err := checkCore(); err != nil {
		t.Skip(err) // setup fails without cgo
	}
	calls, _ := fakeRegistry(t)
	directives := dnsserver.Directives
	dnsserver.Directives = append([]string{"bind", "failshutdown", "multipass", "whoami"}, directives...)
	t.Cleanup(func() {
		for _, inst := range append([]*caddy.Instance(nil), caddy.Instances()...) {
			inst.Stop()
			inst.ShutdownCallbacks()
		}
		dnsserver.Directives = directives
	})
	return calls
}

// corefile is a vm.test server on port with multipass running binary, and
// the further lines extra in its block.
func corefile(port, binary string, extra ...string) caddy.Input {
	text := "vm.test:" + port + " {\nbind 127.0.0.1\nmultipass {\nbinary " + binary + "\n}\n"
	for _, line := range extra {
		text += line + "\n"
	}
	return caddy.CaddyfileInput{Contents: []byte(text + "}\n"), ServerTypeName: "dns"}
}

// failing is corefile plus a server on a port that is taken: a reload onto
// it fails after the OnStartup hooks have run.
func failing(t *testing.T, port, binary string) caddy.Input {
	t.Helper()
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	_, takenPort, _ := net.SplitHostPort(taken.LocalAddr().String())
	in := corefile(port, binary)
	return caddy.CaddyfileInput{ServerTypeName: "dns", Contents: append(in.Body(),
		"other.test:"+takenPort+" {\nbind 127.0.0.1\nwhoami\n}\n"...)}
}

// start starts an instance and waits until it answers: a server stopped
// before its UDP loop runs would go on serving (CoreDNS's Stop skips it).
func start(t *testing.T, port string, in caddy.Input) *caddy.Instance {
	t.Helper()
	inst, err := caddy.Start(in)
	if err != nil {
		t.Fatal(err)
	}
	expectAnswer(t, port, "the instance started")
	return inst
}

// freePort returns a TCP and UDP port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// expectAnswer asks the server on port for primary.vm.test, which the fake
// core answers with 10.110.24.87 while the block lives.
func expectAnswer(t *testing.T, port, what string) {
	t.Helper()
	req := new(dns.Msg).SetQuestion("primary.vm.test.", dns.TypeA)
	reply, err := dns.Exchange(req, "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if reply.Rcode != dns.RcodeSuccess || len(reply.Answer) != 1 {
		t.Errorf("%s: expected primary.vm.test's address, got %s with %d answers", what,
			dns.RcodeToString[reply.Rcode], len(reply.Answer))
	}
}

func expectCalls(t *testing.T, calls *eventLog, what string, want ...string) {
	t.Helper()
	if got := calls.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: expected %q, got %q", what, want, got)
	}
}

// A reload that fails after the new instance's OnStartup (here: a block on
// a port that is taken) drops that instance without its OnShutdown. Its
// source must not run on: the instance that keeps serving still has its
// own, and a later reload without the plugin leaves none.
func TestFailedReloadReleasesTheNewInstance(t *testing.T) {
	calls := reloads(t)
	port := freePort(t)
	inst := start(t, port, corefile(port, "old"))
	if _, err := inst.Restart(failing(t, port, "new")); err == nil {
		t.Fatal("expected the reload onto a taken port to fail")
	}
	expectCalls(t, calls, "the failed instance's source released",
		"open old", "start old", "open new", "start new", "stop new", "destroy new")
	expectAnswer(t, port, "the old instance after the failed reload")

	// The surviving instance reloads to a Corefile without the plugin.
	if _, err := inst.Restart(caddy.CaddyfileInput{ServerTypeName: "dns",
		Contents: []byte("vm.test:" + port + " {\nbind 127.0.0.1\nwhoami\n}\n")}); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, "no source left running",
		"open old", "start old", "open new", "start new", "stop new", "destroy new", "stop old", "destroy old")
	if n := len(sources.sources); n != 0 {
		t.Errorf("expected no source left, got %d", n)
	}
}

// A reload whose new instance serves, but whose old instance's OnShutdown
// fails (another plugin's): caddy runs the old instance's OnRestartFailed
// hooks then. The new instance keeps answering, and the old one's lease,
// whose OnShutdown never ran, is released.
func TestReloadWhoseOldShutdownFailsKeepsTheNewInstance(t *testing.T) {
	calls := reloads(t)
	port := freePort(t)
	inst := start(t, port, corefile(port, "old", "failshutdown"))
	if _, err := inst.Restart(corefile(port, "new")); err == nil {
		t.Fatal("expected the old instance's failing OnShutdown to fail the reload")
	}
	expectAnswer(t, port, "the new instance after the old one's OnShutdown failed")
	expectCalls(t, calls, "the old lease released, the new one kept",
		"open old", "start old", "open new", "start new", "stop old", "destroy old")
}

// A failed reload of one instance leaves another instance of the same
// process alone, even one that started after it.
func TestFailedReloadLeavesAnUnrelatedInstanceAlone(t *testing.T) {
	calls := reloads(t)
	portU, portO := freePort(t), freePort(t)
	unrelated := start(t, portU, corefile(portU, "u"))
	start(t, portO, corefile(portO, "o"))
	if _, err := unrelated.Restart(failing(t, portU, "u2")); err == nil {
		t.Fatal("expected the reload onto a taken port to fail")
	}
	expectAnswer(t, portO, "the other instance")
	expectAnswer(t, portU, "the instance whose reload failed")
	expectCalls(t, calls, "only the failed instance's source released",
		"open u", "start u", "open o", "start o", "open u2", "start u2", "stop u2", "destroy u2")
}

// Failed reloads in a row add no hooks: the instance that keeps serving has
// one OnRestartFailed hook of the plugin's, and one source.
func TestFailedReloadsInARowAddNoHooks(t *testing.T) {
	calls := reloads(t)
	port := freePort(t)
	inst := start(t, port, corefile(port, "old"))
	want := []string{"open old", "start old"}
	for i := range 10 {
		if _, err := inst.Restart(failing(t, port, fmt.Sprint("new", i))); err == nil {
			t.Fatal("expected the reload onto a taken port to fail")
		}
		want = append(want, fmt.Sprint("open new", i), fmt.Sprint("start new", i),
			fmt.Sprint("stop new", i), fmt.Sprint("destroy new", i))
	}
	// The block's own (its questions wait again) and releaseOrphans.
	if n := len(inst.OnRestartFailed); n != 2 {
		t.Errorf("expected two OnRestartFailed hooks after 10 failed reloads, got %d", n)
	}
	expectCalls(t, calls, "every failed instance released", want...)
	if n := len(sources.sources); n != 1 {
		t.Errorf("expected one source, got %d", n)
	}
	expectAnswer(t, port, "after 10 failed reloads")
}

// blockCores returns the fake cores of the blocks that have started and
// not shut down.
func blockCores() []*fakeCore {
	var cores []*fakeCore
	started.Range(func(m, _ any) bool {
		cores = append(cores, m.(*Multipass).resolver.(*fakeCore))
		return true
	})
	return cores
}

func (f *fakeCore) waitEvents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.waits...)
}

// Issue 25: a reload stops the old block's waits for looks when it begins
// (OnRestart), before the old server's graceful stop, which waits for the
// questions it serves, and before the block's OnShutdown; a reload that
// fails lets the block's questions wait again.
func TestReloadStopsTheOldBlocksWaitsFirst(t *testing.T) {
	reloads(t)
	port := freePort(t)
	inst := start(t, port, corefile(port, "old"))
	old := blockCores()
	if len(old) != 1 {
		t.Fatalf("expected one block, got %d", len(old))
	}
	if _, err := inst.Restart(failing(t, port, "new")); err == nil {
		t.Fatal("expected the reload onto a taken port to fail")
	}
	if got, want := old[0].waitEvents(), []string{"stop", "resume"}; !reflect.DeepEqual(got, want) {
		t.Errorf("a failed reload: expected %q, got %q", want, got)
	}
	if _, err := inst.Restart(corefile(port, "old")); err != nil {
		t.Fatal(err)
	}
	if got, want := old[0].waitEvents(), []string{"stop", "resume", "stop"}; !reflect.DeepEqual(got, want) {
		t.Errorf("a reload: expected %q, got %q", want, got)
	}
	expectAnswer(t, port, "the new instance")
}
