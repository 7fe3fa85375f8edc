package multipass

import (
	"io"
	"time"
)

// What the core offers, as Go types: the options that cross the C ABI, the
// answers and statistics that come back, and the two handles (core.go
// implements them with cgo, nocgo.go refuses, the tests fake them).

// daemon names the multipassd that a source lists: blocks and reloads with
// the same daemon share one source, whatever their intervals.
type daemon struct {
	binary        string // the CLI: a path, or a name looked up in PATH
	serverAddress string // MULTIPASS_SERVER_ADDRESS for the CLI; "" inherits
}

// intervals say how often a source lists, and how long a listing may take.
type intervals struct {
	probe   time.Duration // the cheap listing (`list --no-ipv4`); 0: none
	refresh time.Duration // the longest time between two full listings
	timeout time.Duration // deadline of one CLI run
}

// notifyInterval is the shortest time between two NOTIFYs of a zone: the
// probe, or refresh without one (how often a change can show at all).
func (iv intervals) notifyInterval() time.Duration {
	if iv.probe > 0 {
		return iv.probe
	}
	return iv.refresh
}

// sourceOptions say how to run the CLI.
type sourceOptions struct {
	daemon
	intervals
}

// resolverOptions say how one block answers from the inventory.
type resolverOptions struct {
	zones        []string
	ttl          uint32
	addressesAll bool
	networks     []string
	wildcard     bool
	// The zones' nameserver (NS target and SOA mname) and its IPv4 address;
	// "": the core's defaults (ns1.<zone>, 127.0.0.1).
	nameserver, nameserverAddress string
	stateDir                      string // where each zone's serial is kept; "": in memory only
}

// outcome says what to do with a question (enum multipass_outcome).
type outcome int32

const (
	notMine outcome = iota
	answered
	noData
	nxDomain
	serverFailure
	_ // MULTIPASS_WAIT never leaves core.go
	refused
)

// soaValues are the numbers of a zone's SOA record at the time of an answer.
type soaValues struct {
	serial, refresh, retry, expire, minimum, ttl uint32
}

// answer is the core's decision about one question.
type answer struct {
	outcome outcome
	rcode   int
	zone    int    // index into the zones; meaningful unless notMine
	rrtype  uint16 // type of the answer records, 0 for none
	ttl     uint32
	addrs   []byte // A rdata, 4 bytes per record
	target  string // PTR or NS target
	soa     soaValues
}

// zoneRecord is one record of a zone's content (not its SOA).
type zoneRecord struct {
	owner  string
	rrtype uint16 // dns.TypeA, TypeNS or TypePTR
	ttl    uint32
	addr   [4]byte // A
	target string  // NS, PTR
}

// zoneContent is a zone's whole content from one snapshot of the inventory.
type zoneContent struct {
	soa     soaValues
	records []zoneRecord
}

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

// durationBuckets is MULTIPASS_DURATION_BUCKETS: listings that took at most
// 0.01 s * 2^i for i < durationBuckets-1, then the rest.
const durationBuckets = 13

// listingCounts are the counters of one kind of listing.
type listingCounts struct {
	ok, failed uint64
	seconds    float64                 // total duration
	buckets    [durationBuckets]uint64 // by duration; not cumulative
	failing    time.Duration           // how long they have failed in a row; 0 while they work
}

// sourceStats are a source's counters at one moment.
type sourceStats struct {
	full, probe listingCounts
	lastSuccess time.Time         // of a full listing; zero before the first
	instances   map[string]uint32 // VMs by state name
	fullBackoff time.Duration     // the pause before the next full listing while they fail and cheap ones work; 0 otherwise
}

// waitFunc parks a question until unit seq has ended, the source has
// stopped, limit has passed, or cancel is closed (its resolver goes).
type waitFunc func(seq uint64, limit time.Duration, cancel <-chan struct{})

// coreSource is one refresher of the multipass inventory.
type coreSource interface {
	start() error
	setIntervals(intervals) error
	// events returns the core's wake-up pipe (an *os.File): readable when
	// log lines or a finished refresh wait, end of file once it stopped.
	events() (io.ReadCloser, error)
	// stop stops the refresher and closes the log queue and the pipe.
	stop()
	// destroy releases the source; call it once, after stop.
	destroy()
	ready() bool
	// unitsFinished tells, without blocking, how many units of work (looks
	// questions wait for) have ended.
	unitsFinished() uint64
	stats() sourceStats
	// nextLog takes one queued log line without blocking.
	nextLog() (logLine, bool)
	newResolver(o resolverOptions, await waitFunc) (coreResolver, error)
}

// coreResolver answers questions.
type coreResolver interface {
	// resolve decides the answer to qname (as asked, any case) and qtype.
	resolve(qname string, qtype uint16) answer
	// zone returns the SOA names of zone i: origin, primary server, mailbox.
	zone(i int) (origin, mname, rname string, err error)
	// transfer returns the whole content of zone i, never waiting; an
	// error before the first load.
	transfer(i int) (zoneContent, error)
	// stopWaiting wakes the questions waiting for a look at once, and lets
	// none wait until resumeWaiting: the core answers them from the newest
	// snapshot (a reload is under way, or the resolver goes).
	stopWaiting()
	resumeWaiting()
	// destroy releases the resolver; resolve answers serverFailure afterwards.
	destroy()
}
