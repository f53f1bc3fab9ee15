package alert

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	notices     *prometheus.CounterVec // sink, change
	suppressed  *prometheus.CounterVec // sink, reason
	attempts    *prometheus.CounterVec // sink, result
	deliveries  *prometheus.CounterVec // sink, outcome
	coalesced   *prometheus.CounterVec // sink
	throttled   *prometheus.CounterVec // sink
	attemptTime *prometheus.HistogramVec
	badPayloads prometheus.Counter
	storeErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_alert_notices_total",
			Help: "Event changes queued for a sink, by change (opened, updated, resolved).",
		}, []string{"sink", "change"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_alert_suppressed_total",
			Help: "Event changes not sent to a sink, by reason.",
		}, []string{"sink", "reason"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_alert_attempts_total",
			Help: "HTTP delivery attempts, by result (ok, http_4xx, http_429, http_5xx, timeout, error, blocked, redirect).",
		}, []string{"sink", "result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_alert_deliveries_total",
			Help: "Messages that left the outbox, by outcome (delivered, gave_up).",
		}, []string{"sink", "outcome"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_alert_coalesced_total",
			Help: "Queued messages merged into a combined message during a burst.",
		}, []string{"sink"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_alert_throttled_total",
			Help: "Messages held back by the sink's rate limit or Retry-After.",
		}, []string{"sink"}),
		attemptTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "routewatch_alert_attempt_duration_seconds",
			Help:    "Duration of HTTP delivery attempts.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 9),
		}, []string{"sink"}),
		badPayloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_alert_bad_payloads_total",
			Help: "Outbox entries that could not be decoded or rendered (dropped).",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_alert_outbox_errors_total",
			Help: "Failed outbox operations.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.notices, m.suppressed, m.attempts, m.deliveries, m.coalesced, m.throttled, m.attemptTime, m.badPayloads, m.storeErrors)
	}
	return m
}

// zero creates a sink's series at 0, so they exist from startup.
func (m *metrics) zero(sink string) {
	for _, r := range []string{"ok", "http_4xx", "http_429", "http_5xx", "timeout", "error", "blocked", "redirect"} {
		m.attempts.WithLabelValues(sink, r)
	}
	for _, o := range []string{"delivered", "gave_up"} {
		m.deliveries.WithLabelValues(sink, o)
	}
	m.throttled.WithLabelValues(sink)
}
