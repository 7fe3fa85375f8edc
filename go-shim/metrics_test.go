package multipass

import (
	"sort"
	"strconv"
	"strings"
	"sync"
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

func TestMetricsFollowOneSource(t *testing.T) {
	const label = "metrics-one"
	f := followers.follow(label)
	checkScrape(t, "before any refresh", label, []string{
		"coredns_multipass_refresh_duration_seconds_count{} 0",
		"coredns_multipass_refresh_duration_seconds_sum{} 0",
		`coredns_multipass_refreshes_total{result=failure} 0`,
		`coredns_multipass_refreshes_total{result=success} 0`,
	})

	// The first refreshes fail: counted, but no VM list to show yet.
	f.record(sourceStats{refreshesFailed: 2, lastDuration: 250 * time.Millisecond, instances: states(nil)})
	checkScrape(t, "after two failures", label, []string{
		"coredns_multipass_refresh_duration_seconds_count{} 2",
		"coredns_multipass_refresh_duration_seconds_sum{} 0.5",
		`coredns_multipass_refreshes_total{result=failure} 2`,
		`coredns_multipass_refreshes_total{result=success} 0`,
	})

	mixed := map[string]uint32{"running": 2, "stopped": 1, "suspended": 1, "starting": 1, "deleted": 1}
	loaded := sourceStats{refreshesOK: 3, refreshesFailed: 2, lastDuration: 125 * time.Millisecond,
		lastSuccess: time.UnixMilli(1700000000500), instances: states(mixed)}
	f.record(loaded)
	f.record(loaded) // nothing new: no observation
	f.record(sourceStats{})
	// A failed reading (zero counters) changes nothing.
	checkScrape(t, "after three successes", label, sorted(instanceSeries(mixed), []string{
		"coredns_multipass_last_success_timestamp_seconds{} 1700000000.5",
		"coredns_multipass_refresh_duration_seconds_count{} 5",
		"coredns_multipass_refresh_duration_seconds_sum{} 0.875",
		`coredns_multipass_refreshes_total{result=failure} 2`,
		`coredns_multipass_refreshes_total{result=success} 3`,
	}))

	f.unfollow()
	checkScrape(t, "after the source stopped", label, nil)
}

// Two sources of one daemon (a reload that changed `refresh` overlaps the
// old and the new one) share the label: refreshes add up, the gauges show
// the source that loaded last, and the series go with the last source.
func TestMetricsOfSourcesSharingALabel(t *testing.T) {
	const label = "metrics-shared"
	old := followers.follow(label)
	three := map[string]uint32{"running": 3}
	old.record(sourceStats{refreshesOK: 4, lastDuration: 125 * time.Millisecond,
		lastSuccess: time.UnixMilli(1700000001000), instances: states(three)})

	renewed := followers.follow(label)
	renewed.record(sourceStats{refreshesFailed: 1, lastDuration: 125 * time.Millisecond, instances: states(nil)})
	checkScrape(t, "new source not loaded yet", label, sorted(instanceSeries(three), []string{
		"coredns_multipass_last_success_timestamp_seconds{} 1700000001",
		"coredns_multipass_refresh_duration_seconds_count{} 5",
		"coredns_multipass_refresh_duration_seconds_sum{} 0.625",
		`coredns_multipass_refreshes_total{result=failure} 1`,
		`coredns_multipass_refreshes_total{result=success} 4`,
	}))

	// The old source stops before the new one has loaded: the gauges keep
	// the last VM list loaded.
	old.unfollow()
	checkScrape(t, "old source stopped", label, sorted(instanceSeries(three), []string{
		"coredns_multipass_last_success_timestamp_seconds{} 1700000001",
		"coredns_multipass_refresh_duration_seconds_count{} 5",
		"coredns_multipass_refresh_duration_seconds_sum{} 0.625",
		`coredns_multipass_refreshes_total{result=failure} 1`,
		`coredns_multipass_refreshes_total{result=success} 4`,
	}))

	four := map[string]uint32{"running": 3, "stopped": 1}
	renewed.record(sourceStats{refreshesOK: 1, refreshesFailed: 1, lastDuration: 125 * time.Millisecond,
		lastSuccess: time.UnixMilli(1700000002000), instances: states(four)})
	checkScrape(t, "new source loaded", label, sorted(instanceSeries(four), []string{
		"coredns_multipass_last_success_timestamp_seconds{} 1700000002",
		"coredns_multipass_refresh_duration_seconds_count{} 6",
		"coredns_multipass_refresh_duration_seconds_sum{} 0.75",
		`coredns_multipass_refreshes_total{result=failure} 1`,
		`coredns_multipass_refreshes_total{result=success} 5`,
	}))

	// A source whose VM list is older does not take over the gauges.
	laggard := followers.follow(label)
	laggard.record(sourceStats{refreshesOK: 1, lastDuration: 125 * time.Millisecond,
		lastSuccess: time.UnixMilli(1700000000000), instances: states(nil)})
	checkScrape(t, "an older VM list", label, sorted(instanceSeries(four), []string{
		"coredns_multipass_last_success_timestamp_seconds{} 1700000002",
		"coredns_multipass_refresh_duration_seconds_count{} 7",
		"coredns_multipass_refresh_duration_seconds_sum{} 0.875",
		`coredns_multipass_refreshes_total{result=failure} 1`,
		`coredns_multipass_refreshes_total{result=success} 6`,
	}))
	laggard.unfollow()

	forgetSource(label) // a source still uses the label: nothing goes
	if len(scrape(t, label)) == 0 {
		t.Error("expected forgetSource to keep the series of a label still in use")
	}
	renewed.unfollow()
	checkScrape(t, "both sources stopped", label, nil)
}

// steppedSource is a coreSource whose stats move on by one successful
// refresh at every reading. Only stats may be called.
type steppedSource struct {
	coreSource
	mu       sync.Mutex
	readings uint64
}

func (s *steppedSource) stats() sourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readings++
	return sourceStats{refreshesOK: s.readings, lastSuccess: time.UnixMilli(1700000000000 + int64(s.readings)),
		instances: states(map[string]uint32{"running": 1})}
}

func TestPollStatsRecordsAtStartAndStop(t *testing.T) {
	const label = "metrics-poll"
	src := &steppedSource{}
	shared := &sharedSource{coreSource: src, label: label}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { pollStats(shared, stop); close(done) }()

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(strings.Join(scrape(t, label), "\n"), "last_success_timestamp_seconds") {
		if time.Now().After(deadline) {
			t.Fatalf("expected pollStats to record the source at once, got %q", scrape(t, label))
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-done
	checkScrape(t, "after pollStats returned", label, nil)
	if n := src.readings; n < 2 {
		t.Errorf("expected a last reading when stop closed, got %d readings", n)
	}
}
