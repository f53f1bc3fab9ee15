package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
)

type metrics struct {
	updates    *prometheus.CounterVec
	watched    prometheus.Counter
	events     *prometheus.CounterVec
	openEvents *prometheus.GaugeVec
	storeErr   prometheus.Counter
	dropped    prometheus.Counter
	held       *prometheus.GaugeVec

	rpkiInvalid    prometheus.Counter
	invalidWatched prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_updates_total", Help: "Route updates received, by source.",
		}, []string{"source"}),
		watched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_watched_updates_total", Help: "Updates of watched (provider) prefixes.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_event_changes_total", Help: "Event changes by kind and change.",
		}, []string{"kind", "change"}),
		openEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "routewatch_events_open", Help: "Events currently open, by kind.",
		}, []string{"kind"}),
		storeErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_engine_store_errors_total", Help: "Store writes the engine failed to make.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_engine_dropped_updates_total", Help: "Updates dropped because the store stayed unreachable.",
		}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "routewatch_analyzer_held", Help: "What the analyzer holds in memory: routes (slots), prefixes, peers, window records, events.",
		}, []string{"what"}),
		rpkiInvalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_rpki_invalid_updates_total", Help: "Watched announcements whose RPKI origin validation state was invalid.",
		}),
		invalidWatched: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_rpki_invalid_watched_routes", Help: "Watched routes (peer, prefix, path) whose last announcement was RPKI-invalid (stored routes only).",
		}),
	}
	// Every kind reads 0 from startup (dashboards and alert rules see a
	// series, not an absence); so do the analyzer's holdings and the BGP
	// source (other sources appear with their first update).
	for _, what := range []string{"routes", "prefixes", "peers", "window", "events"} {
		m.held.WithLabelValues(what)
	}
	m.updates.WithLabelValues("bgp")
	for _, k := range route.EventKinds {
		m.openEvents.WithLabelValues(string(k))
		for _, c := range []route.ChangeKind{route.EventOpened, route.EventUpdated, route.EventResolved} {
			m.events.WithLabelValues(string(k), string(c))
		}
	}
	if reg != nil {
		reg.MustRegister(m.updates, m.watched, m.events, m.openEvents, m.storeErr, m.dropped, m.held, m.rpkiInvalid, m.invalidWatched)
	}
	return m
}
