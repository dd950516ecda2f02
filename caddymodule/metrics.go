package caddymodule

import (
	"errors"
	"strings"
	"sync"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

// metrics are the module's request counters. They are created once per
// process and registered with the registry of every config load, because
// Caddy makes a new registry for each one. Bucket names and origins are
// never labels: their number is unbounded.
type metrics struct {
	preflights         *prometheus.CounterVec
	apiRequests        *prometheus.CounterVec
	trialDisagreements *prometheus.CounterVec

	// byOutcome holds the preflight counter of each outcome, and byChange
	// the disagreement counter of each change, so that counting costs no
	// label lookup.
	byOutcome [8]prometheus.Counter
	byChange  [trialChanges]prometheus.Counter
}

var (
	metricsOnce sync.Once
	allMetrics  *metrics
)

const (
	metricsNamespace = "caddy"
	metricsSubsystem = "s3_cors"
)

func newMetrics() *metrics {
	m := &metrics{
		preflights: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "preflights_total",
			Help: "Preflight requests answered, by outcome.",
		}, []string{"outcome"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "api_requests_total",
			Help: "Calls of the bucket ?cors API, by operation and S3 result code.",
		}, []string{"operation", "code"}),
		trialDisagreements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "trial_disagreements_total",
			Help: "Requests that a candidate configuration on trial would have decided differently, by change, over all buckets.",
		}, []string{"change"}),
	}
	for c := changeNone + 1; c < trialChanges; c++ {
		m.byChange[c] = m.trialDisagreements.WithLabelValues(c.String())
	}
	for i := range m.byOutcome {
		if name := snakeCase(cors.Outcome(i).String()); !strings.HasPrefix(name, "outcome(") {
			m.byOutcome[i] = m.preflights.WithLabelValues(name)
		}
	}
	return m
}

// countPreflight counts a preflight answered with outcome o.
func (m *metrics) countPreflight(o cors.Outcome) {
	if int(o) < len(m.byOutcome) && m.byOutcome[o] != nil {
		m.byOutcome[o].Inc()
		return
	}
	m.preflights.WithLabelValues(snakeCase(o.String())).Inc()
}

// countTrial counts a request that a candidate on trial would have decided
// differently, as change says.
func (m *metrics) countTrial(change trialChange) {
	if change > changeNone && change < trialChanges {
		m.byChange[change].Inc()
	}
}

// snakeCase turns an outcome's name such as NotAllowed into the label
// value not_allowed.
func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// registerMetrics registers the request counters and the gauges of st with
// reg.
func registerMetrics(reg *prometheus.Registry, st *store.Store) (*metrics, error) {
	metricsOnce.Do(func() { allMetrics = newMetrics() })
	if reg == nil {
		return allMetrics, nil
	}
	// The store's figures are read when the registry is scraped.
	opts := func(name, help string) prometheus.GaugeOpts {
		return prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	collectors := []prometheus.Collector{
		allMetrics.preflights,
		allMetrics.apiRequests,
		allMetrics.trialDisagreements,
		prometheus.NewGaugeFunc(opts("buckets_configured", "Buckets that have a CORS configuration."),
			func() float64 { return float64(st.Stats().Buckets) }),
		prometheus.NewGaugeFunc(opts("candidates_on_trial", "Buckets that have a candidate CORS configuration on trial."),
			func() float64 { return float64(st.Stats().Candidates) }),
		prometheus.NewGaugeFunc(opts("last_sync_success_timestamp_seconds", "When the configurations were last read from the storage without error."),
			func() float64 {
				if t := st.Stats().LastSync; !t.IsZero() {
					return float64(t.Unix())
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("sync_errors_total", "Failed attempts to read the configurations from the storage.")),
			func() float64 { return float64(st.Stats().SyncErrors) }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			if _, dup := errors.AsType[prometheus.AlreadyRegisteredError](err); !dup {
				return nil, err
			}
		}
	}
	return allMetrics, nil
}
