package store

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	latency   *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	gaps      prometheus.Counter
	updates   *prometheus.CounterVec
	published prometheus.Counter
	consumed  *prometheus.CounterVec
	claimed   prometheus.Counter
}

// newMetrics registers the store's metrics on reg (nil: unregistered).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "routewatch_store_op_duration_seconds",
			Help:    "Latency of Redis store operations.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_store_errors_total",
			Help: "Failed Redis store operations.",
		}, []string{"op"}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_store_gaps_total",
			Help: "Times Redis came back without the data written before (restart without persistence, flush).",
		}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_store_updates_total",
			Help: "Updates applied to the Redis store, by whether they changed a path.",
		}, []string{"result"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_store_stream_published_total",
			Help: "Batches published to the update stream.",
		}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_store_stream_consumed_total",
			Help: "Stream entries handled by a consumer, by result (ok, error, corrupt, invalid).",
		}, []string{"result"}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_store_stream_claimed_total",
			Help: "Stream entries taken over from dead consumers (XAUTOCLAIM).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.latency, m.errors, m.gaps, m.updates, m.published, m.consumed, m.claimed)
	}
	return m
}
