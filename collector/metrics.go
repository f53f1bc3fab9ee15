package collector

import (
	"context"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	updates       *prometheus.CounterVec // kind=announce|withdraw
	unknownWd     prometheus.Counter
	staleWd       prometheus.Counter
	dropped       prometheus.Counter
	convertErrors prometheus.Counter
	malformed     *prometheus.CounterVec // handling=...
	peerChanges   *prometheus.CounterVec // to=established|down|end_of_rib
	maxPrefix     prometheus.Counter
	established   prometheus.Gauge
	routes        prometheus.Gauge
	queueDepth    prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, queueLen func() int) *metrics {
	m := &metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bgp_updates_total",
			Help: "Route announcements and withdrawals received from BGP neighbors and handed on.",
		}, []string{"kind"}),
		unknownWd: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bgp_withdraw_unknown_total",
			Help: "Withdrawals of routes the neighbor never announced (not handed on).",
		}),
		staleWd: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bgp_stale_withdrawn_total",
			Help: "Routes of a previous session withdrawn because the neighbor's new initial table (End-of-RIB) did not contain them.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bgp_dropped_updates_total",
			Help: "Updates dropped because the consumer did not keep up within handoff_timeout (target: 0).",
		}),
		convertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bgp_convert_errors_total",
			Help: "Paths that could not be converted to routewatch updates.",
		}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bgp_malformed_total",
			Help: "Malformed BGP messages received, by how they were handled (session_reset, treat_as_withdraw, attribute_discard).",
		}, []string{"handling"}),
		peerChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bgp_peer_state_changes_total",
			Help: "BGP sessions coming up, going down and completing their initial table.",
		}, []string{"to"}),
		maxPrefix: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bgp_max_prefix_exceeded_total",
			Help: "Neighbors that exceeded their max_prefix limit.",
		}),
		established: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_bgp_peers_established",
			Help: "BGP sessions currently Established.",
		}),
		routes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_bgp_routes",
			Help: "Routes currently announced by Established neighbors (all paths).",
		}),
	}
	m.queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "routewatch_bgp_queue_batches",
		Help: "Batches waiting between the BGP watcher and the consumer.",
	}, func() float64 { return float64(queueLen()) })
	// Pre-create label values so dashboards see zeros.
	for _, k := range []string{"announce", "withdraw"} {
		m.updates.WithLabelValues(k)
	}
	for _, h := range []string{handlingSessionReset, handlingTreatAsWithdraw, handlingAttributeDiscard} {
		m.malformed.WithLabelValues(h)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.updates, m.unknownWd, m.staleWd, m.dropped, m.convertErrors,
			m.malformed, m.peerChanges, m.maxPrefix, m.established, m.routes, m.queueDepth} {
			reg.MustRegister(c)
		}
	}
	return m
}

// How GoBGP handled a malformed message (metric label values).
const (
	handlingSessionReset     = "session_reset"
	handlingTreatAsWithdraw  = "treat_as_withdraw"
	handlingAttributeDiscard = "attribute_discard"
)

// malformedHandling maps GoBGP v4.8.0's log messages for malformed input
// to a handling label. GoBGP has no other hook for these (its BMP
// statistics counters are only reachable through ListPeer, which walks the
// whole Adj-RIB-In under the server lock), so the collector counts the log
// records; TestMalformedInput pins the strings against the real server.
func malformedHandling(msg string) string {
	switch {
	case strings.HasPrefix(msg, "Session will be reset due to malformed BGP"):
		return handlingSessionReset
	case msg == "the received Update message was treated as withdraw":
		return handlingTreatAsWithdraw
	case msg == "Some attributes were discarded":
		return handlingAttributeDiscard
	}
	return ""
}

// countingHandler passes GoBGP's log records on to the configured logger
// and counts malformed-input reports whatever the log level.
type countingHandler struct {
	inner slog.Handler
	count func(handling string)
}

func (h *countingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.inner.Enabled(ctx, l)
}

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		if k := malformedHandling(r.Message); k != "" {
			h.count(k)
		}
	}
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{inner: h.inner.WithAttrs(as), count: h.count}
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{inner: h.inner.WithGroup(name), count: h.count}
}
