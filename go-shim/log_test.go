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

// scriptedLog is a coreSource whose log queue gives the steps in order, then
// says closed. Only nextLog may be called.
type scriptedLog struct {
	coreSource
	steps   []logStep
	longest time.Duration // the longest wait asked of the core
}

type logStep struct {
	line   logLine
	status logStatus
}

func (s *scriptedLog) nextLog(wait time.Duration) (logLine, logStatus) {
	s.longest = max(s.longest, wait)
	if len(s.steps) == 0 {
		return logLine{}, logClosed
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	return st.line, st.status
}

func entry(level logLevel, text string, dropped uint64) logStep {
	return logStep{line: logLine{level: level, text: text, dropped: dropped}, status: logEntry}
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

// drained runs drainLogs over steps with CoreDNS's log captured (debug on or
// off) and returns the lines it printed.
func drained(t *testing.T, debug bool, steps ...logStep) []string {
	t.Helper()
	out := &lockedBuffer{}
	golog.SetOutput(out)
	golog.SetFlags(0)
	if debug {
		clog.D.Set()
	}
	defer func() {
		clog.D.Clear()
		golog.SetFlags(golog.LstdFlags)
		golog.SetOutput(io.Discard)
	}()

	src := &scriptedLog{steps: steps}
	done := make(chan struct{})
	go func() { drainLogs(src); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("drainLogs did not return after the queue closed")
	}
	// A wait inside the core would hold the drain's P (see logPoll).
	if src.longest != 0 {
		t.Errorf("drainLogs asked the core to wait up to %v for a line: it must poll", src.longest)
	}

	out.mu.Lock()
	defer out.mu.Unlock()
	text := strings.TrimSuffix(out.buf.String(), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("expected CoreDNS's log to print\n  %s\ngot\n  %s",
			strings.Join(want, "\n  "), strings.Join(got, "\n  "))
	}
}

func TestDrainLogsPrintsInCoreDNSFormat(t *testing.T) {
	got := drained(t, false,
		entry(levelInfo, "loaded 6 instances from multipass", 0),
		logStep{status: logEmpty}, // a wait with nothing: prints nothing
		entry(levelDebug, "inventory changed: 7 instances, serial 5", 0),
		entry(levelWarning, "skipping instance 'a_b': not a DNS label", 0),
		entry(levelError, "multipass list failed: cannot connect to the multipass socket", 0),
	)
	checkLines(t, got, []string{
		"[INFO] plugin/multipass: loaded 6 instances from multipass",
		"[WARNING] plugin/multipass: skipping instance 'a_b': not a DNS label",
		"[ERROR] plugin/multipass: multipass list failed: cannot connect to the multipass socket",
	})
}

func TestDrainLogsDebugOnlyWithDebugOn(t *testing.T) {
	got := drained(t, true,
		entry(levelDebug, "inventory changed: 7 instances, serial 5", 0),
		entry(levelInfo, "loaded 6 instances from multipass", 0),
	)
	checkLines(t, got, []string{
		"[DEBUG] plugin/multipass: inventory changed: 7 instances, serial 5",
		"[INFO] plugin/multipass: loaded 6 instances from multipass",
	})
}

func TestDrainLogsCountsDroppedLines(t *testing.T) {
	got := drained(t, false,
		entry(levelError, "multipass list timed out", 3),
		// A drop hidden by the debug switch is still reported.
		entry(levelDebug, "multipass list timed out (again)", 1020),
		// An entry that only reports drops prints no empty line.
		entry(levelInfo, "", 7),
	)
	checkLines(t, got, []string{
		"[WARNING] plugin/multipass: the core's log queue was full: 3 log lines dropped",
		"[ERROR] plugin/multipass: multipass list timed out",
		"[WARNING] plugin/multipass: the core's log queue was full: 1020 log lines dropped",
		"[WARNING] plugin/multipass: the core's log queue was full: 7 log lines dropped",
	})
}

func TestDrainLogsSaysWhenTheQueueFails(t *testing.T) {
	got := drained(t, false,
		entry(levelInfo, "loaded 6 instances from multipass", 0),
		logStep{status: logFailed},
		entry(levelInfo, "never read", 0),
	)
	checkLines(t, got, []string{
		"[INFO] plugin/multipass: loaded 6 instances from multipass",
		"[ERROR] plugin/multipass: cannot read the core's log queue: its lines are lost from now on",
	})
}
