package bmpstation

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages    *prometheus.CounterVec // type
	updates     *prometheus.CounterVec // kind=announce|withdraw
	unwatched   prometheus.Counter
	unknownWd   prometheus.Counter
	staleWd     prometheus.Counter
	treatAsWd   prometheus.Counter
	malformed   *prometheus.CounterVec // reason
	conns       *prometheus.CounterVec // result
	peerChanges *prometheus.CounterVec // to
	mirroring   *prometheus.CounterVec // router, kind
	terminated  *prometheus.CounterVec // reason
	stats       *prometheus.GaugeVec   // router, peer, view, stat, family
	routerInfo  *prometheus.GaugeVec   // router, sys_name, sys_descr
	routers     prometheus.Gauge
	routes      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bmp_messages_total", Help: "BMP messages received, by type.",
		}, []string{"type"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bmp_updates_total", Help: "Route announcements and withdrawals of watched routes handed on.",
		}, []string{"kind"}),
		unwatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bmp_unwatched_total", Help: "Announcements of unwatched prefixes dropped at decode time.",
		}),
		unknownWd: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bmp_withdraw_unknown_total", Help: "Withdrawals of routes not held (unwatched or never announced; not handed on).",
		}),
		staleWd: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bmp_stale_withdrawn_total", Help: "Routes of a previous session withdrawn because the new initial table did not contain them.",
		}),
		treatAsWd: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_bmp_treat_as_withdraw_total", Help: "Route Monitoring UPDATEs with malformed attributes handled as withdrawals (RFC 7606).",
		}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bmp_malformed_total", Help: "Router connections closed because of malformed BMP input, by reason.",
		}, []string{"reason"}),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bmp_connections_total", Help: "BMP connections: accepted, rejected (not in bmp.allow), dialed, dial_failed.",
		}, []string{"result"}),
		peerChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bmp_peer_state_changes_total", Help: "Vantage points (router, peer, RIB view) coming up, going down and completing their initial table.",
		}, []string{"to"}),
		mirroring: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bmp_route_mirroring_total", Help: "Route Mirroring messages, by router and kind (bgp_message, errored_pdu, messages_lost).",
		}, []string{"router", "kind"}),
		terminated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_bmp_terminations_total", Help: "BMP Termination messages, by reason.",
		}, []string{"reason"}),
		stats: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "routewatch_bmp_statistics", Help: "Latest Statistics Report counter per router, monitored peer and view (stat = RFC 7854/8671 type number).",
		}, []string{"router", "peer", "view", "stat", "family"}),
		routerInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "routewatch_bmp_router_info", Help: "Connected routers with their Initiation sysName and sysDescr (value 1).",
		}, []string{"router", "sys_name", "sys_descr"}),
		routers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_bmp_routers", Help: "Routers with a BMP session now.",
		}),
		routes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_bmp_routes", Help: "Watched routes held (all routers, peers and views).",
		}),
	}
	for _, t := range typeNames {
		m.messages.WithLabelValues(t)
	}
	for _, k := range []string{"announce", "withdraw"} {
		m.updates.WithLabelValues(k)
	}
	for _, r := range malformedReasons {
		m.malformed.WithLabelValues(r)
	}
	// Series without a router label exist from startup (0 until it happens).
	for _, r := range []string{"accepted", "rejected", "dialed", "dial_failed"} {
		m.conns.WithLabelValues(r)
	}
	for _, to := range []string{"established", "down", "end_of_rib"} {
		m.peerChanges.WithLabelValues(to)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.messages, m.updates, m.unwatched, m.unknownWd, m.staleWd, m.treatAsWd,
			m.malformed, m.conns, m.peerChanges, m.mirroring, m.terminated, m.stats, m.routerInfo, m.routers, m.routes} {
			reg.MustRegister(c)
		}
	}
	return m
}

// sync moves a router's counters into the metrics.
func (m *metrics) sync(c *counts) {
	if c.announced > 0 {
		m.updates.WithLabelValues("announce").Add(float64(c.announced))
	}
	if c.withdrawn+c.staleWd > 0 {
		m.updates.WithLabelValues("withdraw").Add(float64(c.withdrawn + c.staleWd))
	}
	m.unwatched.Add(float64(c.unwatched))
	m.unknownWd.Add(float64(c.unknownWd))
	m.staleWd.Add(float64(c.staleWd))
	if c.upChanges > 0 {
		m.peerChanges.WithLabelValues("established").Add(float64(c.upChanges))
	}
	if c.downChanges > 0 {
		m.peerChanges.WithLabelValues("down").Add(float64(c.downChanges))
	}
	if c.eorChanges > 0 {
		m.peerChanges.WithLabelValues("end_of_rib").Add(float64(c.eorChanges))
	}
	m.routes.Add(float64(c.routes))
	*c = counts{}
}
