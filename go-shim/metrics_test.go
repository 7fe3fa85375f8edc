package multipass

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// scrape returns what /metrics would show of the multipass metrics with
// source label: one "name{labels} value" per series, sorted; histograms as
// their _count and _sum.
func scrape(t *testing.T, label string) []string {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range families {
		if !strings.HasPrefix(mf.GetName(), "coredns_multipass_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			mine := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" {
					mine = l.GetValue() == label
					continue
				}
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if !mine {
				continue
			}
			series := func(name string, v float64) {
				out = append(out, name+"{"+strings.Join(labels, ",")+"} "+trimFloat(v))
			}
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				series(mf.GetName()+"_count", float64(m.GetHistogram().GetSampleCount()))
				series(mf.GetName()+"_sum", m.GetHistogram().GetSampleSum())
			case dto.MetricType_COUNTER:
				series(mf.GetName(), m.GetCounter().GetValue())
			default:
				series(mf.GetName(), m.GetGauge().GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func checkScrape(t *testing.T, what, label string, want []string) {
	t.Helper()
	got := scrape(t, label)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: expected /metrics to hold\n  %s\ngot\n  %s", what,
			strings.Join(want, "\n  "), strings.Join(got, "\n  "))
	}
}

// states is a full instances map as the core reports it, with the given
// counts and zero for every other state.
func states(counts map[string]uint32) map[string]uint32 {
	all := map[string]uint32{}
	for _, s := range []string{"running", "stopped", "deleted", "starting", "restarting",
		"delayed_shutdown", "suspending", "suspended", "unknown", "unavailable"} {
		all[s] = counts[s]
	}
	return all
}

func instanceSeries(counts map[string]uint32) []string {
	var out []string
	for s, n := range states(counts) {
		out = append(out, "coredns_multipass_instances{state="+s+"} "+trimFloat(float64(n)))
	}
	return out
}

func sorted(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	sort.Strings(out)
	return out
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

func TestMetricsReadTheSourcesAtScrape(t *testing.T) {
	fakeRegistry(t)
	o := newSourceOptions()
	o.serverAddress = "metrics-one:50051"
	l, err := sources.acquire(o)
	if err != nil {
		t.Fatal(err)
	}
	fake := l.src.coreSource.(*fakeSource)
	// Before the first listing: zero counters, no instances.
	zero := []string{
		"coredns_multipass_failing_seconds{kind=full} 0",
		"coredns_multipass_failing_seconds{kind=probe} 0",
		"coredns_multipass_full_backoff_seconds{} 0",
		"coredns_multipass_refresh_duration_seconds_count{kind=full} 0",
		"coredns_multipass_refresh_duration_seconds_count{kind=probe} 0",
		"coredns_multipass_refresh_duration_seconds_sum{kind=full} 0",
		"coredns_multipass_refresh_duration_seconds_sum{kind=probe} 0",
		"coredns_multipass_refreshes_total{kind=full,result=failure} 0",
		"coredns_multipass_refreshes_total{kind=full,result=success} 0",
		"coredns_multipass_refreshes_total{kind=probe,result=failure} 0",
		"coredns_multipass_refreshes_total{kind=probe,result=success} 0",
	}
	checkScrape(t, "before the first listing", o.serverAddress, zero)

	loaded := time.UnixMilli(1_700_000_000_250)
	fake.mu.Lock()
	fake.st = sourceStats{
		full:        listed(3, 1, 40*time.Millisecond),
		probe:       listed(12, 0, 5*time.Millisecond),
		lastSuccess: loaded,
		instances:   states(map[string]uint32{"running": 2, "stopped": 1}),
		fullBackoff: 20 * time.Second,
	}
	fake.st.full.failing = 95500 * time.Millisecond // full listings failing for 95.5 s
	fake.mu.Unlock()
	checkScrape(t, "after listings", o.serverAddress, sorted(instanceSeries(map[string]uint32{"running": 2, "stopped": 1}), []string{
		"coredns_multipass_failing_seconds{kind=full} 95.5",
		"coredns_multipass_failing_seconds{kind=probe} 0",
		"coredns_multipass_full_backoff_seconds{} 20",
		"coredns_multipass_last_success_timestamp_seconds{} 1700000000.25",
		"coredns_multipass_refresh_duration_seconds_count{kind=full} 3",
		"coredns_multipass_refresh_duration_seconds_count{kind=probe} 12",
		"coredns_multipass_refresh_duration_seconds_sum{kind=full} 0.12",
		"coredns_multipass_refresh_duration_seconds_sum{kind=probe} 0.06",
		"coredns_multipass_refreshes_total{kind=full,result=failure} 1",
		"coredns_multipass_refreshes_total{kind=full,result=success} 2",
		"coredns_multipass_refreshes_total{kind=probe,result=failure} 0",
		"coredns_multipass_refreshes_total{kind=probe,result=success} 12",
	}))

	sources.release(l)
	checkScrape(t, "after the source is gone", o.serverAddress, nil)
}

// Two CLI binaries for the same daemon are two sources under one label:
// their counters add up, the gauges are the last loaded.
func TestMetricsAddUpSourcesSharingALabel(t *testing.T) {
	fakeRegistry(t)
	a, b := newSourceOptions(), newSourceOptions()
	a.binary, b.binary = "a", "b"
	a.serverAddress, b.serverAddress = "metrics-two:50051", "metrics-two:50051"
	la, _ := sources.acquire(a)
	lb, _ := sources.acquire(b)
	defer sources.release(la)
	defer sources.release(lb)
	for i, l := range []*lease{la, lb} {
		fake := l.src.coreSource.(*fakeSource)
		fake.mu.Lock()
		fake.st = sourceStats{full: listed(2, 0, time.Second), lastSuccess: time.Unix(int64(100+i), 0),
			instances: states(map[string]uint32{"running": uint32(i + 1)})}
		fake.mu.Unlock()
	}
	got := strings.Join(scrape(t, a.serverAddress), "\n")
	for _, want := range []string{
		"coredns_multipass_refreshes_total{kind=full,result=success} 4",
		"coredns_multipass_refresh_duration_seconds_sum{kind=full} 4",
		"coredns_multipass_last_success_timestamp_seconds{} 101",
		"coredns_multipass_instances{state=running} 2",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("expected %q in\n%s", want, got)
		}
	}
}

// The core's buckets become Prometheus's cumulative ones.
func TestMetricsBucketsAreCumulative(t *testing.T) {
	c := listed(2, 0, 15*time.Millisecond)
	c.add(listed(1, 0, time.Hour)) // past every bound: +Inf only
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
