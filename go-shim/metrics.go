package multipass

import (
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The metrics describe the sources (the daemons the CLI lists), not queries:
// a source serves every server block that uses it, so they carry a `source`
// label and no `server` label. Per-query counts are the prometheus plugin's
// coredns_dns_responses_total{plugin="multipass"}.
var (
	// instances is the number of VMs in the inventory by state.
	instances = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "multipass",
		Name:      "instances",
		Help:      "Gauge of multipass instances in the last VM list loaded, by state.",
	}, []string{"source", "state"})
	// refreshes counts the runs of `multipass list` that loaded a listing or failed.
	refreshes = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "multipass",
		Name:      "refreshes_total",
		Help:      "Counter of VM list refreshes, by result (success or failure).",
	}, []string{"source", "result"})
	// refreshDuration is the time one refresh took, CLI run and parse.
	refreshDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: "multipass",
		Name:      "refresh_duration_seconds",
		Help:      "Histogram of the time (in seconds) one VM list refresh took, CLI run and parse.",
		Buckets:   prometheus.ExponentialBuckets(0.01, 2, 12), // 10ms .. ~20s
	}, []string{"source"})
	// lastSuccess is when a listing last loaded.
	lastSuccess = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "multipass",
		Name:      "last_success_timestamp_seconds",
		Help:      "The Unix time of the last refresh that loaded a VM list.",
	}, []string{"source"})
)

// sourceStats are a source's counters at one moment.
type sourceStats struct {
	refreshesOK     uint64
	refreshesFailed uint64
	lastSuccess     time.Time // zero before the first success
	lastDuration    time.Duration
	instances       map[string]uint32 // VMs by state name
}

// statsInterval is how often the metrics follow a source.
const statsInterval = time.Second

// pollStats copies the source's counters into the metrics at once, every
// statsInterval, and once more when stop closes; then it drops the source's
// series unless another source shares its label. Queries never pay for it.
func pollStats(s *sharedSource, stop <-chan struct{}) {
	f := followers.follow(s.label)
	defer f.unfollow()
	f.record(s.stats())
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			f.record(s.stats())
			return
		case <-t.C:
			f.record(s.stats())
		}
	}
}

// forgetSource drops every series of label unless a source still uses it.
// pollStats does this when it returns; this is for callers that stopped a
// source and want to be sure.
func forgetSource(label string) {
	followers.mu.Lock()
	defer followers.mu.Unlock()
	if len(followers.byLabel[label]) == 0 {
		deleteSeries(label)
	}
}

// followerSet holds, by label, the sources the metrics follow. Sources that
// ask the same daemon share a label: two server blocks with different
// `refresh`, or the old and the new configuration during a reload that
// changed an option (the new one starts before the old one stops). Their
// refreshes add up; the gauges show the source that loaded a VM list last.
type followerSet struct {
	mu      sync.Mutex
	byLabel map[string]map[*follower]struct{}
}

var followers = &followerSet{byLabel: map[string]map[*follower]struct{}{}}

// follower is one source in the metrics.
type follower struct {
	set   *followerSet
	label string
	seen  sourceStats // the counters recorded so far; guarded by set.mu
}

// follow starts following a source under label. Its counters show at once,
// at zero.
func (g *followerSet) follow(label string) *follower {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := &follower{set: g, label: label}
	if g.byLabel[label] == nil {
		g.byLabel[label] = map[*follower]struct{}{}
	}
	g.byLabel[label][f] = struct{}{}
	refreshes.WithLabelValues(label, "success")
	refreshes.WithLabelValues(label, "failure")
	refreshDuration.WithLabelValues(label)
	return f
}

// unfollow stops following f; the last source of a label takes the label's
// series with it.
func (f *follower) unfollow() {
	g := f.set
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.byLabel[f.label], f)
	if len(g.byLabel[f.label]) > 0 {
		g.publish(f.label)
		return
	}
	delete(g.byLabel, f.label)
	deleteSeries(f.label)
}

// record moves the metrics from what f saw so far to cur.
func (f *follower) record(cur sourceStats) {
	g := f.set
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur.refreshesOK < f.seen.refreshesOK || cur.refreshesFailed < f.seen.refreshesFailed {
		return // not a reading of this source (the core refused the call): skip it
	}
	ok := cur.refreshesOK - f.seen.refreshesOK
	failed := cur.refreshesFailed - f.seen.refreshesFailed
	if ok > 0 {
		refreshes.WithLabelValues(f.label, "success").Add(float64(ok))
	}
	if failed > 0 {
		refreshes.WithLabelValues(f.label, "failure").Add(float64(failed))
	}
	// One observation per refresh, so that the histogram's count matches
	// refreshes_total. The core keeps the duration of its last refresh only:
	// when several refreshes ended between two polls, each is observed with
	// the last one's duration.
	h := refreshDuration.WithLabelValues(f.label)
	for range ok + failed {
		h.Observe(cur.lastDuration.Seconds())
	}
	f.seen = cur
	g.publish(f.label)
}

// publish sets the gauges of label from the source that loaded a VM list
// last. While none of the sources has loaded one, the gauges keep what they
// show: nothing before the first load, or the VM list of a source that
// stopped (during a reload, until the new source loads). Needs g.mu.
func (g *followerSet) publish(label string) {
	var latest *sourceStats
	for f := range g.byLabel[label] {
		if !f.seen.lastSuccess.IsZero() && (latest == nil || f.seen.lastSuccess.After(latest.lastSuccess)) {
			latest = &f.seen
		}
	}
	if latest == nil {
		return
	}
	lastSuccess.WithLabelValues(label).Set(float64(latest.lastSuccess.UnixMilli()) / 1e3)
	for state, n := range latest.instances {
		instances.WithLabelValues(label, state).Set(float64(n))
	}
}

// deleteSeries drops every series of label. Needs followers.mu.
func deleteSeries(label string) {
	l := prometheus.Labels{"source": label}
	instances.DeletePartialMatch(l)
	refreshes.DeletePartialMatch(l)
	refreshDuration.DeletePartialMatch(l)
	lastSuccess.DeletePartialMatch(l)
}
