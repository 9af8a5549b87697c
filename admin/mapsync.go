package admin

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MapSync counts what HAProxy map sync does. Its methods satisfy
// mapsync.Metrics.
type MapSync struct {
	syncs    *prometheus.CounterVec
	failures prometheus.Counter
	drifts   *prometheus.CounterVec
	written  prometheus.Counter
	took     prometheus.Histogram
}

// MapSync registers the map-sync metrics. lastSuccess reports when the
// maps were last pushed in full agreement (zero before the first), for
// the age gauge that alerts watch: HAProxy starts denying once it passes
// haproxy_maps.max_stale.
func (m *Metrics) MapSync(lastSuccess func() time.Time) *MapSync {
	s := &MapSync{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_haproxy_map_syncs_total", Help: "Successful HAProxy map syncs by kind (full, diff, noop)."}, []string{"kind"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_haproxy_map_sync_failures_total", Help: "Failed HAProxy map syncs."}),
		drifts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_haproxy_map_drifts_total", Help: "Read-backs that found a HAProxy map other than pushed, by map."}, []string{"map"}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_haproxy_map_entries_written_total", Help: "Map entries set or deleted over HAProxy's runtime API."}),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scimgate_haproxy_map_sync_seconds", Help: "Time to compute and push one HAProxy map sync.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
	}
	m.reg.MustRegister(s.syncs, s.failures, s.drifts, s.written, s.took,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scimgate_haproxy_map_sync_age_seconds",
			Help: "Seconds since the last successful HAProxy map sync; +Inf before the first."},
			func() float64 {
				t := lastSuccess()
				if t.IsZero() {
					return math.Inf(1)
				}
				return time.Since(t).Seconds()
			}))
	return s
}

// Synced records a successful sync.
func (s *MapSync) Synced(kind string, written int, took time.Duration) {
	s.syncs.WithLabelValues(kind).Inc()
	s.written.Add(float64(written))
	s.took.Observe(took.Seconds())
}

// SyncFailed records a failed sync.
func (s *MapSync) SyncFailed(error) { s.failures.Inc() }

// Drifted records a map found other than pushed.
func (s *MapSync) Drifted(mapFile string) { s.drifts.WithLabelValues(mapFile).Inc() }
