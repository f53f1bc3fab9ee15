package pipeline

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	updates    *prometheus.CounterVec
	watched    prometheus.Counter
	events     *prometheus.CounterVec
	openEvents *prometheus.GaugeVec
	storeErr   prometheus.Counter
	dropped    prometheus.Counter
	held       *prometheus.GaugeVec
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
	}
	if reg != nil {
		reg.MustRegister(m.updates, m.watched, m.events, m.openEvents, m.storeErr, m.dropped, m.held)
	}
	return m
}
