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
	// routeReads counts prefixes read by route lookups: local (cached,
	// trusted, no round trip), unchanged (cached, confirmed by Redis),
	// read (decoded from Redis).
	routeReads *prometheus.CounterVec
	// readLocal, readUnchanged, readFull: routeReads' children (hot path).
	readLocal, readUnchanged, readFull prometheus.Counter
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
		routeReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_store_route_reads_total",
			Help: "Prefixes read by route lookups: local (route cache, no round trip), unchanged (route cache, confirmed by Redis), read (from Redis).",
		}, []string{"result"}),
	}
	if reg != nil {
		m.latency = register(reg, m.latency)
		m.errors = register(reg, m.errors)
		m.gaps = register(reg, m.gaps)
		m.updates = register(reg, m.updates)
		m.published = register(reg, m.published)
		m.consumed = register(reg, m.consumed)
		m.claimed = register(reg, m.claimed)
		m.routeReads = register(reg, m.routeReads)
	}
	// The series exist from startup (0 until the first operation).
	m.errors.WithLabelValues("gap_check")
	for _, op := range []string{"apply_updates", "put_events"} {
		m.latency.WithLabelValues(op)
		m.errors.WithLabelValues(op)
	}
	m.readLocal = m.routeReads.WithLabelValues("local")
	m.readUnchanged = m.routeReads.WithLabelValues("unchanged")
	m.readFull = m.routeReads.WithLabelValues("read")
	return m
}

// register shares an already registered collector, so two stores on one
// registry (e.g. a publisher and a consumer) count together instead of
// panicking.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
