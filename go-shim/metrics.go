package multipass

import (
	"math"
	"slices"
	"sync"

	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics describe the sources (the daemons the CLI lists), not queries:
// a source serves every server block that uses it, so they carry the labels
// `source` (the daemon) and `binary` (the CLI), one series per source, and
// no `server` label. Per-query counts are the prometheus plugin's
// coredns_dns_responses_total{plugin="multipass"}. They are read from the
// core when Prometheus scrapes: nothing runs between scrapes.
var (
	instancesDesc   = newDesc("instances", "Gauge of multipass instances in the last VM list loaded, by state.", "state")
	refreshesDesc   = newDesc("refreshes_total", "Counter of VM listings, by kind (probe or full) and result (success or failure).", "kind", "result")
	durationDesc    = newDesc("refresh_duration_seconds", "Histogram of the time (in seconds) one VM listing took, the CLI run and the parsing, by kind.", "kind")
	lastSuccessDesc = newDesc("last_success_timestamp_seconds", "The Unix time of the last full VM listing that loaded.")
	readyDesc       = newDesc("ready", "1 once a VM list has loaded, while the plugin hears the core; else 0.")
	failingDesc     = newDesc("failing_seconds", "Gauge of how long VM listings of a kind (probe or full) have failed in a row; 0 while they work.", "kind")
	fullBackoffDesc = newDesc("full_backoff_seconds", "Gauge of the pause before the next full VM listing while full listings fail and cheap ones work (probe, doubling up to refresh); 0 otherwise.")
)

// Transfers and NOTIFYs are counted per zone for the life of the process:
// the blocks that serve a zone come and go with reloads, their counts stay.
var (
	transfersDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", "transfers_total"),
		"Counter of zone transfers served, by zone and type: full (AXFR, or IXFR from an older serial) or up_to_date (IXFR at the current serial: the SOA alone).",
		[]string{"zone", "type"}, nil)
	notifiesDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", "notifies_total"),
		"Counter of NOTIFY rounds for a zone whose serial moved, by zone and result: sent (every secondary of the transfer plugin's `to` took it) or failed.",
		[]string{"zone", "result"}, nil)

	zoneTransfers = &zoneCounts{desc: transfersDesc, n: map[[2]string]uint64{}}
	zoneNotifies  = &zoneCounts{desc: notifiesDesc, n: map[[2]string]uint64{}}
)

// zoneCounts is a counter by zone and one more label.
type zoneCounts struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	n    map[[2]string]uint64
}

func (c *zoneCounts) count(zone, label string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[[2]string{zone, label}]++
}

func (c *zoneCounts) collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.n {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), k[0], k[1])
	}
}

// newDesc describes a metric of every source, with labels after `source`
// and `binary`.
func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "multipass", name), help,
		append([]string{"source", "binary"}, labels...), nil)
}

// collector reads every source in use at scrape time; init registers it.
type collector struct{}

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{instancesDesc, refreshesDesc, durationDesc, lastSuccessDesc, readyDesc, failingDesc, fullBackoffDesc, transfersDesc, notifiesDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Each source has series of its
// own, so that none goes backwards when another source goes.
func (collector) Collect(ch chan<- prometheus.Metric) {
	zoneTransfers.collect(ch)
	zoneNotifies.collect(ch)
	sources.each(func(s *sharedSource) {
		st, labels := s.stats(), []string{s.daemon.label(), s.daemon.binary}
		metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, more ...string) {
			ch <- prometheus.MustNewConstMetric(d, t, v, slices.Concat(labels, more)...)
		}
		for kind, c := range map[string]listingCounts{"full": st.full, "probe": st.probe} {
			metric(refreshesDesc, prometheus.CounterValue, float64(c.ok), kind, "success")
			metric(refreshesDesc, prometheus.CounterValue, float64(c.failed), kind, "failure")
			ch <- prometheus.MustNewConstHistogram(durationDesc, c.ok+c.failed, c.seconds, c.cumulative(), slices.Concat(labels, []string{kind})...)
			metric(failingDesc, prometheus.GaugeValue, c.failing.Seconds(), kind)
		}
		metric(fullBackoffDesc, prometheus.GaugeValue, st.fullBackoff.Seconds())
		up := 0.0
		if s.loaded.Load() {
			up = 1
		}
		metric(readyDesc, prometheus.GaugeValue, up)
		if st.lastSuccess.IsZero() {
			return // nothing loaded yet: no VMs to count
		}
		metric(lastSuccessDesc, prometheus.GaugeValue, float64(st.lastSuccess.UnixMilli())/1e3)
		for state, n := range st.instances {
			metric(instancesDesc, prometheus.GaugeValue, float64(n), state)
		}
	})
}

// label names the daemon a source asks in the metrics.
func (d daemon) label() string {
	if d.serverAddress == "" {
		return "local"
	}
	return d.serverAddress
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
