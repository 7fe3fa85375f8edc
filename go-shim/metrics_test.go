//go:build cgo

// The defaults these tests parse come from the core (coreDefaults).

package multipass

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	metricRefreshes   = "coredns_multipass_refreshes_total"
	metricDuration    = "coredns_multipass_refresh_duration_seconds"
	metricLastSuccess = "coredns_multipass_last_success_timestamp_seconds"
	metricInstances   = "coredns_multipass_instances"
	metricReady       = "coredns_multipass_ready"
	metricFailing     = "coredns_multipass_failing_seconds"
	metricBackoff     = "coredns_multipass_full_backoff_seconds"
)

var metricHelp = map[string]string{
	metricRefreshes:   "# HELP %s Counter of VM listings, by kind (probe or full) and result (success or failure).\n# TYPE %s counter\n",
	metricDuration:    "# HELP %s Histogram of the time (in seconds) one VM listing took, the CLI run and the parsing, by kind.\n# TYPE %s histogram\n",
	metricLastSuccess: "# HELP %s The Unix time of the last full VM listing that loaded.\n# TYPE %s gauge\n",
	metricInstances:   "# HELP %s Gauge of multipass instances in the last VM list loaded, by state.\n# TYPE %s gauge\n",
	metricReady:       "# HELP %s 1 once a VM list has loaded, while the plugin hears the core; else 0.\n# TYPE %s gauge\n",
	metricFailing:     "# HELP %s Gauge of how long VM listings of a kind (probe or full) have failed in a row; 0 while they work.\n# TYPE %s gauge\n",
	metricBackoff:     "# HELP %s Gauge of the pause before the next full VM listing while full listings fail and cheap ones work (probe, doubling up to refresh); 0 otherwise.\n# TYPE %s gauge\n",
}

// expectMetrics compares what /metrics shows of the named metric with want,
// its series in the exposition format (labels in alphabetical order).
func expectMetrics(t *testing.T, what, name string, want ...string) {
	t.Helper()
	text := ""
	if len(want) > 0 {
		text = fmt.Sprintf(metricHelp[name], name, name) + strings.Join(want, "\n") + "\n"
	}
	if err := testutil.CollectAndCompare(collector{}, strings.NewReader(text), name); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// durationSeries is the exposition of the duration histogram of one kind
// of listing (labels: binary, kind, source) whose n listings took d each.
func durationSeries(labels string, n uint64, d time.Duration) string {
	var lines []string
	for i := range durationBuckets - 1 {
		le, count := 0.01*math.Pow(2, float64(i)), uint64(0)
		if d.Seconds() <= le {
			count = n
		}
		lines = append(lines, fmt.Sprintf("%s_bucket{%s,le=\"%g\"} %d", metricDuration, labels, le, count))
	}
	return strings.Join(append(lines,
		fmt.Sprintf("%s_bucket{%s,le=\"+Inf\"} %d", metricDuration, labels, n),
		fmt.Sprintf("%s_sum{%s} %g", metricDuration, labels, float64(n)*d.Seconds()),
		fmt.Sprintf("%s_count{%s} %d", metricDuration, labels, n)), "\n")
}

// listed makes the counters of n listings of which failed failed, each
// taking d.
func listed(n, failed uint64, d time.Duration) listingCounts {
	c := listingCounts{ok: n - failed, failed: failed, seconds: float64(n) * d.Seconds()}
	i := 0
	for bound := 10 * time.Millisecond; i < durationBuckets-1 && d > bound; bound *= 2 {
		i++
	}
	c.buckets[i] = n
	return c
}

func (s *fakeSource) setStats(st sourceStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
}

func TestMetricsReadTheSourcesAtScrape(t *testing.T) {
	fakeRegistry(t)
	o := newSourceOptions()
	o.serverAddress = "metrics-one:50051"
	l, err := sources.acquire(o)
	if err != nil {
		t.Fatal(err)
	}
	fake := l.src.coreSource.(*fakeSource)
	const labels = `binary="multipass",kind="%s",source="metrics-one:50051"`
	const mine = `binary="multipass",source="metrics-one:50051"`

	// Before the first listing: zero counters, not ready, no instances.
	expectMetrics(t, "before the first listing", metricRefreshes, refreshSeries("multipass", o.serverAddress, 0, 0, 0, 0)...)
	expectMetrics(t, "before the first listing", metricDuration,
		durationSeries(fmt.Sprintf(labels, "full"), 0, 0), durationSeries(fmt.Sprintf(labels, "probe"), 0, 0))
	expectMetrics(t, "before the first listing", metricReady, `coredns_multipass_ready{`+mine+`} 0`)
	expectMetrics(t, "before the first listing", metricLastSuccess)
	expectMetrics(t, "before the first listing", metricInstances)
	expectMetrics(t, "before the first listing", metricFailing,
		`coredns_multipass_failing_seconds{`+fmt.Sprintf(labels, "full")+`} 0`,
		`coredns_multipass_failing_seconds{`+fmt.Sprintf(labels, "probe")+`} 0`)
	expectMetrics(t, "before the first listing", metricBackoff, `coredns_multipass_full_backoff_seconds{`+mine+`} 0`)

	fake.setStats(sourceStats{
		full:        listed(3, 1, 40*time.Millisecond),
		probe:       listed(12, 0, 5*time.Millisecond),
		lastSuccess: time.UnixMilli(1_700_000_000_250),
		instances:   map[string]uint32{"running": 2, "stopped": 1, "deleted": 0},
		fullBackoff: 20 * time.Second,
	})
	fake.mu.Lock()
	fake.st.full.failing = 95500 * time.Millisecond // full listings failing for 95.5 s
	fake.mu.Unlock()
	fake.load()
	eventually(t, "the event loop saw the load", l.src.loaded.Load)
	expectMetrics(t, "after listings", metricRefreshes, refreshSeries("multipass", o.serverAddress, 1, 2, 0, 12)...)
	expectMetrics(t, "after listings", metricDuration,
		durationSeries(fmt.Sprintf(labels, "full"), 3, 40*time.Millisecond),
		durationSeries(fmt.Sprintf(labels, "probe"), 12, 5*time.Millisecond))
	expectMetrics(t, "after listings", metricReady, `coredns_multipass_ready{`+mine+`} 1`)
	expectMetrics(t, "after listings", metricLastSuccess,
		`coredns_multipass_last_success_timestamp_seconds{`+mine+`} 1.70000000025e+09`)
	expectMetrics(t, "after listings", metricInstances,
		`coredns_multipass_instances{`+mine+`,state="deleted"} 0`,
		`coredns_multipass_instances{`+mine+`,state="running"} 2`,
		`coredns_multipass_instances{`+mine+`,state="stopped"} 1`)
	expectMetrics(t, "after listings", metricFailing,
		`coredns_multipass_failing_seconds{`+fmt.Sprintf(labels, "full")+`} 95.5`,
		`coredns_multipass_failing_seconds{`+fmt.Sprintf(labels, "probe")+`} 0`)
	expectMetrics(t, "after listings", metricBackoff, `coredns_multipass_full_backoff_seconds{`+mine+`} 20`)

	sources.release(l)
	for _, name := range []string{metricRefreshes, metricDuration, metricReady, metricLastSuccess, metricInstances, metricFailing, metricBackoff} {
		expectMetrics(t, "after the source is gone", name)
	}
}

// refreshSeries is the exposition of refreshes_total of one source: its
// full listings that failed and succeeded, then its cheap ones.
func refreshSeries(binary, source string, counts ...int) []string {
	var out []string
	for i, kr := range []string{"full/failure", "full/success", "probe/failure", "probe/success"} {
		kind, result, _ := strings.Cut(kr, "/")
		out = append(out, fmt.Sprintf(`%s{binary="%s",kind="%s",result="%s",source="%s"} %d`,
			metricRefreshes, binary, kind, result, source, counts[i]))
	}
	return out
}

// Two CLI binaries for the same daemon are two sources with series of their
// own: when one goes, the other's counters stay as they were. (Summed under
// one label they went backwards, which Prometheus reads as a reset.)
func TestMetricsNeverGoBackwards(t *testing.T) {
	fakeRegistry(t)
	a, b := newSourceOptions(), newSourceOptions()
	a.binary, b.binary = "/snap/bin/multipass", "multipass"
	a.serverAddress, b.serverAddress = "metrics-two:50051", "metrics-two:50051"
	la, _ := sources.acquire(a)
	lb, _ := sources.acquire(b)
	defer sources.release(lb)
	la.src.coreSource.(*fakeSource).setStats(sourceStats{full: listed(2, 0, time.Second)})
	lb.src.coreSource.(*fakeSource).setStats(sourceStats{full: listed(3, 0, time.Second)})
	expectMetrics(t, "two sources", metricRefreshes, append(
		refreshSeries("/snap/bin/multipass", a.serverAddress, 0, 2, 0, 0),
		refreshSeries("multipass", b.serverAddress, 0, 3, 0, 0)...)...)

	sources.release(la)
	expectMetrics(t, "one source gone", metricRefreshes, refreshSeries("multipass", b.serverAddress, 0, 3, 0, 0)...)
}

// The core's buckets become Prometheus's cumulative ones.
func TestMetricsBucketsAreCumulative(t *testing.T) {
	c := listed(2, 0, 15*time.Millisecond)
	c.buckets[durationBuckets-1]++ // past every bound: +Inf only
	got := c.cumulative()
	for bound, want := range map[float64]uint64{0.01: 0, 0.02: 2, 0.04: 2, 20.48: 2} {
		if got[bound] != want {
			t.Errorf("bucket le=%v: expected %d, got %d", bound, want, got[bound])
		}
	}
	if len(got) != durationBuckets-1 {
		t.Errorf("expected %d bounds, got %d", durationBuckets-1, len(got))
	}
}

// A wake-up pipe that breaks shows in Ready and in the ready metric.
func TestMetricsAndReadyShowABrokenPipe(t *testing.T) {
	_, opened := fakeRegistry(t)
	m, err := parse(caddy.NewTestController("dns", "multipass vm.test {\nserver_address metrics-three:50051\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.startup(nil, nil); err != nil {
		t.Fatal(err)
	}
	defer m.shutdown()
	fake := opened[m.sourceOpts.daemon]
	fake.load()
	eventually(t, "ready", m.Ready)
	const series = `coredns_multipass_ready{binary="multipass",source="metrics-three:50051"} %d`
	expectMetrics(t, "loaded", metricReady, fmt.Sprintf(series, 1))

	fake.read.Close() // under the event loop's read
	eventually(t, "not ready once the pipe broke", func() bool { return !m.Ready() })
	expectMetrics(t, "the pipe broke", metricReady, fmt.Sprintf(series, 0))
}
