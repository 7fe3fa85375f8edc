//go:build cgo

package multipass

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestGoSurvivesKilledCLIRuns guards the trap that makes a C++ library
// spawning processes deadly inside a Go program: Boost.Process v1 (Debian's
// 1.74) installs its own SIGCHLD handler in wait_for/wait_until and its
// asio paths, without SA_ONSTACK. The first SIGCHLD then runs a non-Go
// handler on a Go thread's stack, and the Go runtime dies with "non-Go code
// set up signal handler without SA_ONSTACK flag" (or Go's own handler is
// replaced and signal.Notify goes deaf). The core must use only Boost's
// synchronous child, enforce deadlines itself, kill the CLI's process group
// and reap only its own child, and keep async signals blocked in its threads
// so that Go keeps receiving them.
//
// The test runs the real core through cgo against a CLI that hangs with a
// child holding its pipes open (`hang-child`), with a short timeout, for
// many killed runs while goroutines resolve, then checks that the process is
// fine: signals still reach signal.Notify (SIGUSR2 sent to ourselves, and
// SIGCHLD from a process Go starts), no child of ours is left (zombie or
// not), every CLI child was killed, and answers kept coming from the last
// good inventory.
func TestGoSurvivesKilledCLIRuns(t *testing.T) {
	const killedRuns = 50
	binary, dir := fakeCLI(t)

	// Go's handlers, installed before the core runs anything.
	chld := make(chan os.Signal, 64)
	signal.Notify(chld, syscall.SIGCHLD)
	defer signal.Stop(chld)

	o := newSourceOptions()
	o.binary = binary
	o.probe = 0                        // full listings only
	o.refresh = 100 * time.Millisecond // the core's shortest pause
	o.timeout = 100 * time.Millisecond
	src, res := loadedResolver(t, o)

	writeFile(t, filepath.Join(dir, "mode"), "hang-child\n")
	runsBefore := countRuns(t, dir)

	// Resolvers: known names from the snapshot, unknown ones through the
	// on-demand refresh path, each goroutine on an OS thread of its own (a
	// signal can land on any of them), a question every millisecond or so:
	// they run through every killed run without spinning the CPU.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var right, wrong atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := 0; !stop.Load(); i++ {
				time.Sleep(time.Millisecond)
				if g%2 == 1 {
					res.resolve("unknown-"+strconv.Itoa(g)+"-"+strconv.Itoa(i)+".vm.test.", dns.TypeA)
					continue
				}
				a := res.resolve("PRIMARY.vm.test.", dns.TypeA)
				if a.outcome == answered && string(a.addrs) == "\x0a\x6e\x18\x57" {
					right.Add(1)
				} else {
					wrong.Add(1)
				}
			}
		}(g)
	}

	// Every hung CLI leaves a child; remember them all to check they died.
	children := map[int]bool{}
	deadline := time.Now().Add(2 * time.Minute)
	for countRuns(t, dir)-runsBefore < killedRuns+1 { // +1: the last one is killed by then
		if time.Now().After(deadline) {
			t.Fatalf("only %d CLI runs in 2 minutes", countRuns(t, dir)-runsBefore)
		}
		if pid := childPid(dir); pid > 0 {
			children[pid] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	src.stop() // kills and reaps the run in flight

	if st := src.stats(); st.full.failed+st.probe.failed < killedRuns {
		t.Errorf("expected at least %d failed (killed) refreshes, got %+v", killedRuns, st)
	}
	if !src.ready() {
		t.Error("expected the source to stay ready through the failures")
	}
	if right.Load() == 0 || wrong.Load() != 0 {
		t.Errorf("expected every known-name answer from the last good inventory: %d right, %d wrong",
			right.Load(), wrong.Load())
	}
	if len(children) == 0 {
		t.Error("never saw a hung CLI's child")
	}
	for pid := range children {
		pid := pid
		eventually(t, "the hung CLI's child "+strconv.Itoa(pid)+" is gone", func() bool { return !alive(pid) })
	}
	if kids := childrenOf(os.Getpid()); len(kids) != 0 {
		t.Errorf("children of the test process left behind (pid: state): %v", kids)
	}

	// Go still owns its signals.
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	expectSignal(t, usr2, syscall.SIGUSR2)

	for len(chld) > 0 {
		<-chld
	}
	if err := exec.Command("/bin/sh", "-c", "exit 0").Run(); err != nil {
		t.Fatal(err)
	}
	expectSignal(t, chld, syscall.SIGCHLD)
}

func expectSignal(t *testing.T, ch <-chan os.Signal, want os.Signal) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("expected %v, got %v", want, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%v never reached signal.Notify: a non-Go handler owns it", want)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// countRuns counts the stand-in's runs (lines of runs.log).
func countRuns(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "runs.log"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// childPid is the pid the stand-in wrote in hang-child mode, 0 if none.
func childPid(dir string) int {
	data, err := os.ReadFile(filepath.Join(dir, "child.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// alive reports whether pid runs (a zombie counts as gone: its parent, not
// us, has to reap it).
func alive(pid int) bool {
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		return len(fields) > 0 && fields[0] != "Z"
	}
	if runtime.GOOS == "linux" {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

// childrenOf lists the processes whose parent is pid, with their state
// (Linux /proc; empty elsewhere).
func childrenOf(pid int) map[int]string {
	kids := map[int]string{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return kids
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids[child] = fields[0]
		}
	}
	return kids
}
