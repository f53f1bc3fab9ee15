package rislive

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages      *prometheus.CounterVec // by type
	invalid       *prometheus.CounterVec // by reason
	lag           prometheus.Histogram
	reconnects    *prometheus.CounterVec // by reason
	dropped       prometheus.Counter
	subscriptions prometheus.Gauge
	bootstraps    *prometheus.CounterVec // by result
	synced        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, sinceLast func() float64) *metrics {
	m := &metrics{
		messages: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_rislive_messages_total",
			Help: "RIS Live messages received, by type (UPDATE, OPEN, NOTIFICATION, KEEPALIVE, RIS_PEER_STATE, ris_error, pong, ris_subscribe_ok, invalid).",
		}, []string{"type"})),
		invalid: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_rislive_invalid_messages_total",
			Help: "RIS Live messages that could not be decoded, by reason (json, type, field, prefix, next_hop).",
		}, []string{"reason"})),
		lag: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "routewatch_rislive_lag_seconds",
			Help:    "Receive time minus the ris_message timestamp.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300},
		})),
		reconnects: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_rislive_reconnects_total",
			Help: "RIS Live connections ended and redialed, by reason (dial, read, no_pong, silence, write).",
		}, []string{"reason"})),
		dropped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_rislive_dropped_messages_total",
			Help: "ris_messages dropped because the pipeline was behind (their routes are re-synced, not counted as changes).",
		})),
		subscriptions: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_rislive_subscriptions",
			Help: "RIS Live subscriptions in force on the current connection.",
		})),
		bootstraps: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_rislive_bootstraps_total",
			Help: "State bootstraps from the archives after a (re)connect, by result (ok, error).",
		}, []string{"result"})),
		synced: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_rislive_resynced_updates_total",
			Help: "Live updates passed on as re-syncs (after a gap or a drop), never counted as changes.",
		})),
	}
	since := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "routewatch_rislive_seconds_since_last_message",
		Help: "Seconds since the last ris_message (-1 before the first).",
	}, sinceLast)
	register(reg, since) // a second client on one registry keeps the first one's gauge
	return m
}

// register registers c, or reuses the collector already registered under
// its name (a second client on the same registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func sinceSeconds(last int64, now time.Time) float64 {
	if last == 0 {
		return -1
	}
	return now.Sub(time.Unix(0, last)).Seconds()
}
