package node

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReconcileHistogramExposition(t *testing.T) {
	m := newMetrics(nil, nil)
	m.observe(3*time.Millisecond, nil)
	m.observe(70*time.Millisecond, errors.New("boom"))
	m.observe(2*time.Minute, nil) // above every bucket: only +Inf counts it
	var e expo
	m.writeReconcile(&e)
	got := e.b.String()
	for _, want := range []string{
		"# TYPE pcr_node_reconcile_duration_seconds histogram\n",
		`pcr_node_reconcile_duration_seconds_bucket{le="0.005"} 1` + "\n",
		`pcr_node_reconcile_duration_seconds_bucket{le="0.05"} 1` + "\n",
		`pcr_node_reconcile_duration_seconds_bucket{le="0.1"} 2` + "\n",
		`pcr_node_reconcile_duration_seconds_bucket{le="60"} 2` + "\n",
		`pcr_node_reconcile_duration_seconds_bucket{le="+Inf"} 3` + "\n",
		"pcr_node_reconcile_duration_seconds_sum 120.073\n",
		"pcr_node_reconcile_duration_seconds_count 3\n",
		"# TYPE pcr_node_reconcile_errors_total counter\n",
		"pcr_node_reconcile_errors_total 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("exposition lacks %q:\n%s", want, got)
		}
	}
}

func TestExpositionValuesAndLabels(t *testing.T) {
	var e expo
	e.sample("m", "slice", "a\"b\\c\nd", 67108864)
	e.sample("n", "", "", 0.5)
	want := "m{slice=\"a\\\"b\\\\c\\nd\"} 6.7108864e+07\nn 0.5\n"
	if got := e.b.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
