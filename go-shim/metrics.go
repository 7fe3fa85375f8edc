package multipass

import (
	"math"
	"time"

	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics describe the sources (the daemons the CLI lists), not queries:
// a source serves every server block that uses it, so they carry a `source`
// label and no `server` label. Per-query counts are the prometheus plugin's
// coredns_dns_responses_total{plugin="multipass"}. They are read from the
// core when Prometheus scrapes: nothing runs between scrapes.
var (
	// instances is the number of VMs in the inventory by state.
	instances = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", "instances"),
		"Gauge of multipass instances in the last VM list loaded, by state.",
		[]string{"source", "state"}, nil)
	// refreshes counts the listings, by kind (probe: the cheap listing,
	// full: with addresses) and result (success, failure).
	refreshes = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", "refreshes_total"),
		"Counter of VM listings, by kind (probe or full) and result (success or failure).",
		[]string{"source", "kind", "result"}, nil)
	// refreshDuration is the time one listing took, CLI run and parse.
	refreshDuration = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", "refresh_duration_seconds"),
		"Histogram of the time (in seconds) one VM listing took, CLI run and parse, by kind.",
		[]string{"source", "kind"}, nil)
	// lastSuccess is when a full listing last loaded.
	lastSuccess = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", "last_success_timestamp_seconds"),
		"The Unix time of the last full VM listing that loaded.",
		[]string{"source"}, nil)
	// failing is how long the listings of a kind have failed in a row.
	failing = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", "failing_seconds"),
		"Gauge of how long VM listings of a kind (probe or full) have failed in a row; 0 while they work.",
		[]string{"source", "kind"}, nil)
	// fullBackoff is the pause between full listings while they fail and
	// cheap ones work.
	fullBackoff = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", "full_backoff_seconds"),
		"Gauge of the pause before the next full VM listing while full listings fail and cheap ones work (probe, doubling up to refresh); 0 otherwise.",
		[]string{"source"}, nil)
)

func init() { prometheus.MustRegister(collector{}) }

// collector reads every source in use at scrape time.
type collector struct{}

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{instances, refreshes, refreshDuration, lastSuccess, failing, fullBackoff} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Sources with the same label (one
// daemon through two CLI binaries) add up; their gauges come from the one
// that loaded last.
func (collector) Collect(ch chan<- prometheus.Metric) {
	byLabel := map[string][]sourceStats{}
	sources.each(func(s *sharedSource) {
		byLabel[s.daemon.label()] = append(byLabel[s.daemon.label()], s.stats())
	})
	for label, all := range byLabel {
		latest := all[0]
		var full, probe listingCounts
		var backoff time.Duration
		for _, st := range all {
			full.add(st.full)
			probe.add(st.probe)
			backoff = max(backoff, st.fullBackoff)
			if st.lastSuccess.After(latest.lastSuccess) {
				latest = st
			}
		}
		for kind, c := range map[string]listingCounts{"full": full, "probe": probe} {
			ch <- prometheus.MustNewConstMetric(refreshes, prometheus.CounterValue, float64(c.ok), label, kind, "success")
			ch <- prometheus.MustNewConstMetric(refreshes, prometheus.CounterValue, float64(c.failed), label, kind, "failure")
			ch <- prometheus.MustNewConstHistogram(refreshDuration, c.ok+c.failed, c.seconds, c.cumulative(), label, kind)
			ch <- prometheus.MustNewConstMetric(failing, prometheus.GaugeValue, c.failing.Seconds(), label, kind)
		}
		ch <- prometheus.MustNewConstMetric(fullBackoff, prometheus.GaugeValue, backoff.Seconds(), label)
		if latest.lastSuccess.IsZero() {
			continue // nothing loaded yet: no VMs to count
		}
		ch <- prometheus.MustNewConstMetric(lastSuccess, prometheus.GaugeValue, float64(latest.lastSuccess.UnixMilli())/1e3, label)
		for state, n := range latest.instances {
			ch <- prometheus.MustNewConstMetric(instances, prometheus.GaugeValue, float64(n), label, state)
		}
	}
}

func (c *listingCounts) add(o listingCounts) {
	c.ok += o.ok
	c.failed += o.failed
	c.seconds += o.seconds
	c.failing = max(c.failing, o.failing)
	for i := range c.buckets {
		c.buckets[i] += o.buckets[i]
	}
}

// cumulative returns the buckets as Prometheus counts them: by upper bound,
// each with every shorter listing. The last bucket is +Inf, implied.
func (c *listingCounts) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, durationBuckets-1)
	var sum uint64
	for i := range durationBuckets - 1 {
		sum += c.buckets[i]
		out[0.01*math.Pow(2, float64(i))] = sum
	}
	return out
}
