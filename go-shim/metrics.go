package multipass

import (
	"time"

	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// instances is the number of VMs in the inventory by state.
	instances = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "multipass",
		Name:      "instances",
		Help:      "Gauge of multipass instances in the inventory, by state.",
	}, []string{"source", "state"})
	// refreshes counts the runs of `multipass list` that loaded a listing or failed.
	refreshes = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "multipass",
		Name:      "refreshes_total",
		Help:      "Counter of inventory refreshes, by result (success or failure).",
	}, []string{"source", "result"})
	// refreshDuration is the time one refresh took, CLI run and parse.
	refreshDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: "multipass",
		Name:      "refresh_duration_seconds",
		Help:      "Histogram of the time (in seconds) one inventory refresh took.",
		Buckets:   prometheus.ExponentialBuckets(0.01, 2, 12), // 10ms .. ~20s
	}, []string{"source"})
	// lastSuccess is when a listing last loaded.
	lastSuccess = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "multipass",
		Name:      "last_success_timestamp_seconds",
		Help:      "The Unix time of the last refresh that loaded a listing.",
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

// pollStats copies the source's counters into the metrics every
// statsInterval until stop closes, then once more. Queries never pay for it.
func pollStats(s *sharedSource, stop <-chan struct{}) {
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	var prev sourceStats
	for {
		select {
		case <-stop:
			record(s.label, prev, s.stats())
			return
		case <-t.C:
			cur := s.stats()
			record(s.label, prev, cur)
			prev = cur
		}
	}
}

// record moves the metrics of source label from prev to cur.
func record(label string, prev, cur sourceStats) {
	if n := cur.refreshesOK - prev.refreshesOK; n > 0 {
		refreshes.WithLabelValues(label, "success").Add(float64(n))
	}
	if n := cur.refreshesFailed - prev.refreshesFailed; n > 0 {
		refreshes.WithLabelValues(label, "failure").Add(float64(n))
	}
	if cur.refreshesOK+cur.refreshesFailed > prev.refreshesOK+prev.refreshesFailed {
		refreshDuration.WithLabelValues(label).Observe(cur.lastDuration.Seconds())
	}
	if !cur.lastSuccess.IsZero() {
		lastSuccess.WithLabelValues(label).Set(float64(cur.lastSuccess.UnixMilli()) / 1e3)
	}
	for state, n := range cur.instances {
		instances.WithLabelValues(label, state).Set(float64(n))
	}
}

// forgetSource drops the gauges of a source that stopped.
func forgetSource(label string) {
	instances.DeletePartialMatch(prometheus.Labels{"source": label})
	lastSuccess.DeleteLabelValues(label)
}
