package api

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	badRequests *prometheus.CounterVec
	rateLimited prometheus.Counter
	authFailed  *prometheus.CounterVec
	respCache   *prometheus.CounterVec
	// respHit, respMiss: respCache's children, resolved once (hot path).
	respHit, respMiss prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_api_requests_total",
			Help: "API requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "routewatch_api_request_duration_seconds",
			Help:    "API request latency by route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		badRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_api_bad_requests_total",
			Help: "Requests refused as malformed, by offending parameter.",
		}, []string{"parameter"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_api_rate_limited_total",
			Help: "Requests refused by the per-client-IP rate limit.",
		}),
		authFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_api_auth_failures_total",
			Help: "Requests refused for a missing or bad token, or insufficient scope.",
		}, []string{"reason"}),
		respCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_api_response_cache_total",
			Help: "GET /prefixes and /events answers served from the response cache (hit) or built (miss).",
		}, []string{"result"}),
	}
	m.respHit, m.respMiss = m.respCache.WithLabelValues("hit"), m.respCache.WithLabelValues("miss")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.badRequests, m.rateLimited, m.authFailed, m.respCache} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// knownParams bounds the label values of bad_requests: a client must not
// be able to create series by inventing parameter names.
var knownParams = map[string]bool{
	"prefix": true, "asn": true, "id": true, "provider": true, "region": true, "kind": true,
	"status": true, "from": true, "to": true, "at": true, "match": true, "limit": true,
	"cursor": true, "body": true,
}

func (m *metrics) badRequest(param string) {
	if !knownParams[param] {
		param = "other"
	}
	m.badRequests.WithLabelValues(param).Inc()
}
