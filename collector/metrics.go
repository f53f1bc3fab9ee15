package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	updates       *prometheus.CounterVec // kind=announce|withdraw
	unknownWd     prometheus.Counter
	staleWd       prometheus.Counter
	dropped       prometheus.Counter
	convertErrors prometheus.Counter
	malformed     *prometheus.CounterVec // handling=...
	resets        *prometheus.CounterVec // reason=...
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
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bgp_session_resets_total",
			Help: "Established BGP sessions that ended, by reason (malformed_update, malformed_header, unparsed_nlri, hold_timer_expired, notification_received, connection_lost, max_prefix, admin, ...).",
		}, []string{"reason"}),
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
	for _, r := range resetReasons {
		m.resets.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.updates, m.unknownWd, m.staleWd, m.dropped, m.convertErrors,
			m.malformed, m.resets, m.peerChanges, m.maxPrefix, m.established, m.routes, m.queueDepth} {
			reg.MustRegister(c)
		}
	}
	return m
}
