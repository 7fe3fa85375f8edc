package multipass

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestRecordMetrics(t *testing.T) {
	const label = "metrics-test"
	clean := func() { // the counters live on after forgetSource, as they should
		forgetSource(label)
		refreshes.DeletePartialMatch(prometheus.Labels{"source": label})
		refreshDuration.DeleteLabelValues(label)
	}
	clean()
	defer clean()

	first := sourceStats{refreshesOK: 2, refreshesFailed: 1, lastDuration: 20 * time.Millisecond,
		lastSuccess: time.UnixMilli(1700000000500), instances: map[string]uint32{"running": 2, "stopped": 1}}
	record(label, sourceStats{}, first)
	second := first
	second.refreshesOK = 5
	second.instances = map[string]uint32{"running": 3, "stopped": 0}
	record(label, first, second)
	record(label, second, second) // nothing new: no observation

	checks := []struct {
		name      string
		got, want float64
	}{
		{"refreshes success", testutil.ToFloat64(refreshes.WithLabelValues(label, "success")), 5},
		{"refreshes failure", testutil.ToFloat64(refreshes.WithLabelValues(label, "failure")), 1},
		{"running", testutil.ToFloat64(instances.WithLabelValues(label, "running")), 3},
		{"stopped", testutil.ToFloat64(instances.WithLabelValues(label, "stopped")), 0},
		{"last success", testutil.ToFloat64(lastSuccess.WithLabelValues(label)), 1700000000.5},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: expected %v, got %v", c.name, c.want, c.got)
		}
	}

	var h dto.Metric
	if err := refreshDuration.WithLabelValues(label).(prometheus.Histogram).Write(&h); err != nil {
		t.Fatal(err)
	}
	// Two records saw new refreshes; the third did not.
	if n, sum := h.GetHistogram().GetSampleCount(), h.GetHistogram().GetSampleSum(); n != 2 || sum != 0.04 {
		t.Errorf("expected 2 refresh durations summing to 0.04s, got %d summing to %v", n, sum)
	}
}
