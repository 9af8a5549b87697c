package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
)

// TestDecisionCounts: decisions are counted under their adapter, route,
// result and reason, the cached series included (each kind is recorded
// more than once).
func TestDecisionCounts(t *testing.T) {
	m := NewMetrics(nil, nil)
	app := &policy.Route{Name: "app"}
	record := []struct {
		adapter string
		d       engine.Decision
		times   int
	}{
		{"proxy", engine.Decision{Allow: true, Reason: engine.ReasonGroupOK, Route: app}, 3},
		{"proxy", engine.Decision{Reason: engine.ReasonNotAllowed, Route: app}, 2},
		{"forwardauth", engine.Decision{Allow: true, Reason: engine.ReasonGroupOK, Route: app}, 1},
		{"proxy", engine.Decision{Reason: engine.ReasonNoRoute}, 4},
	}
	for _, r := range record {
		for range r.times {
			m.Decision(r.adapter, r.d, time.Microsecond)
		}
	}
	counts := map[string]float64{}
	durations := map[string]uint64{}
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := strings.Join(labels, ",")
			switch f.GetName() {
			case "scimgate_decisions_total":
				counts[key] = s.GetCounter().GetValue()
			case "scimgate_decision_duration_seconds":
				durations[key] = s.GetHistogram().GetSampleCount()
			}
		}
	}
	wantCounts := map[string]float64{
		"adapter=proxy,reason=group-ok,result=allow,route=app":       3,
		"adapter=proxy,reason=not-allowed,result=deny,route=app":     2,
		"adapter=forwardauth,reason=group-ok,result=allow,route=app": 1,
		"adapter=proxy,reason=no-route,result=deny,route=":           4,
	}
	for k, want := range wantCounts {
		if got := counts[k]; got != want {
			t.Errorf("scimgate_decisions_total{%s} = %v, want %v", k, got, want)
		}
	}
	if len(counts) != len(wantCounts) {
		t.Errorf("scimgate_decisions_total has series %v, want %v", counts, wantCounts)
	}
	wantDurations := map[string]uint64{"adapter=proxy": 9, "adapter=forwardauth": 1}
	for k, want := range wantDurations {
		if got := durations[k]; got != want {
			t.Errorf("scimgate_decision_duration_seconds{%s} count = %d, want %d", k, got, want)
		}
	}
}
