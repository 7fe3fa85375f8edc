package multipass

import "time"

// logLevel is the level of one log line of the core (enum multipass_log_level).
type logLevel int32

const (
	levelDebug logLevel = iota
	levelInfo
	levelWarning
	levelError
)

// logLine is one line of the core's log queue.
type logLine struct {
	level   logLevel
	text    string // empty in an entry that only reports dropped lines
	dropped uint64 // lines the queue dropped before this one
}

// logStatus is what one wait on the core's log queue gave.
type logStatus int

const (
	logEmpty  logStatus = iota // nothing within the wait
	logEntry                   // one line
	logClosed                  // the source stopped and the queue is empty
	logFailed                  // the core refused the call
)

// logPoll is the pause of the drain after it found the core's queue empty.
// The drain never blocks in the core: a goroutine blocked in a cgo call
// keeps its P until the scheduler's monitor takes it back (up to 10 ms on a
// busy server), which on a GOMAXPROCS=1 CoreDNS stalls every query.
const logPoll = 100 * time.Millisecond

// drainLogs prints the core's log lines through CoreDNS's log (as
// "[LEVEL] plugin/multipass: ..."), so they keep its format and stream, and
// debug lines show only with the debug plugin, until the source stops. The
// core's queue is bounded; lines it had to drop are counted in a warning.
func drainLogs(src coreSource) {
	for {
		l, st := src.nextLog(0)
		switch st {
		case logClosed:
			return
		case logFailed:
			log.Error("cannot read the core's log queue: its lines are lost from now on")
			return
		case logEmpty:
			time.Sleep(logPoll)
			continue
		}
		if l.dropped > 0 {
			log.Warningf("the core's log queue was full: %d log lines dropped", l.dropped)
		}
		if l.text == "" {
			continue
		}
		switch l.level {
		case levelDebug:
			log.Debug(l.text)
		case levelInfo:
			log.Info(l.text)
		case levelWarning:
			log.Warning(l.text)
		default:
			log.Error(l.text)
		}
	}
}
