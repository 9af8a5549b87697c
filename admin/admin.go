// Package admin serves what operators watch: Prometheus metrics (decisions
// by adapter, route, result and reason; SCIM requests by operation and
// status; the directory snapshot's age and size; open streams) and a
// health check, on a listener of their own that should stay private.
package admin

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/snapshot"
)

// Metrics holds scimgate's metrics.
type Metrics struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec
	decideDur *prometheus.HistogramVec
	scim      *prometheus.CounterVec
	scimDur   *prometheus.HistogramVec
	reloads   *prometheus.CounterVec

	// byDecision caches the series of each kind of decision: looking
	// them up by label values hashes every value and takes the vectors'
	// locks, on every request.
	mu         sync.RWMutex
	byDecision map[decisionKey]decisionSeries
}

type decisionKey struct {
	adapter, route, reason string
	allow                  bool
}

type decisionSeries struct {
	count prometheus.Counter
	took  prometheus.Observer
}

// Live is what the snapshot gauges read.
type Live interface {
	Current() *snapshot.Snapshot
	Age() time.Duration
}

// NewMetrics registers the metrics. live and streams may be nil.
func NewMetrics(live Live, streams interface{ Len() int }) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:        reg,
		byDecision: map[decisionKey]decisionSeries{},
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_decisions_total", Help: "Access decisions by adapter, route, result and reason.",
		}, []string{"adapter", "route", "result", "reason"}),
		decideDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scimgate_decision_duration_seconds", Help: "Time to authenticate and decide a request.",
			Buckets: []float64{1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 2e-3, 1e-2},
		}, []string{"adapter"}),
		scim: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_scim_requests_total", Help: "SCIM requests by operation and HTTP status.",
		}, []string{"operation", "status"}),
		scimDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scimgate_scim_request_duration_seconds", Help: "SCIM request latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"operation"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_policy_reloads_total", Help: "Policy reloads by result (ok, error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.decisions, m.decideDur, m.scim, m.scimDur, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if live != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scimgate_snapshot_age_seconds",
				Help: "Time since the directory snapshot was last confirmed current; decisions deny past gateway.max_snapshot_age."},
				func() float64 { return live.Age().Seconds() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scimgate_snapshot_seq",
				Help: "Sequence number of the last change in the snapshot."},
				func() float64 { return float64(live.Current().Seq) }),
		)
		for i, what := range []string{"users", "groups", "access_tokens"} {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scimgate_directory_" + what,
				Help: "Number of " + what + " in the directory snapshot."}, func() float64 {
				u, g, t := live.Current().Counts()
				return float64([]int{u, g, t}[i])
			}))
		}
	}
	if streams != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "scimgate_streams_open",
			Help: "Proxied requests in flight that would be cut on revocation."}, func() float64 { return float64(streams.Len()) }))
	}
	return m
}

// Decision implements gateway.Recorder.
func (m *Metrics) Decision(adapter string, d engine.Decision, took time.Duration) {
	k := decisionKey{adapter: adapter, reason: d.Reason, allow: d.Allow}
	if d.Route != nil {
		k.route = d.Route.Name
	}
	m.mu.RLock()
	s, ok := m.byDecision[k]
	m.mu.RUnlock()
	if !ok {
		s = m.decisionSeries(k)
	}
	s.count.Inc()
	s.took.Observe(took.Seconds())
}

func (m *Metrics) decisionSeries(k decisionKey) decisionSeries {
	result := "deny"
	if k.allow {
		result = "allow"
	}
	s := decisionSeries{
		count: m.decisions.WithLabelValues(k.adapter, k.route, result, k.reason),
		took:  m.decideDur.WithLabelValues(k.adapter),
	}
	m.mu.Lock()
	m.byDecision[k] = s
	m.mu.Unlock()
	return s
}

// SCIM records one SCIM request.
func (m *Metrics) SCIM(operation string, status int, took time.Duration) {
	m.scim.WithLabelValues(operation, strconv.Itoa(status)).Inc()
	m.scimDur.WithLabelValues(operation).Observe(took.Seconds())
}

// PolicyReload records a policy reload.
func (m *Metrics) PolicyReload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
	} else {
		m.reloads.WithLabelValues("error").Inc()
	}
}

// Handler serves /metrics and /healthz. ready reports whether the server
// can decide (its snapshot is fresh enough).
func (m *Metrics) Handler(ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
