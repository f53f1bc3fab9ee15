package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/analyzer"
	"routewatch/route"
)

// Tagger fills in an update's provider tags (ranges.Set).
type Tagger interface {
	Tag(u *route.Update)
}

// Sink is the part of the store the engine writes.
type Sink interface {
	ApplyUpdates(ctx context.Context, ups []route.Update) error
	ApplyPeerStates(ctx context.Context, states []route.PeerState) error
	PutEvents(ctx context.Context, evs []route.Event) error
}

// Notifier receives event changes (alert.Alerter); it must not block on
// the network.
type Notifier interface {
	Notify(ctx context.Context, changes []route.EventChange) error
}

// job is one batch for the engine that is answered on done once everything
// it caused is in the store, so a stream consumer acknowledges only what
// has landed.
type job struct {
	b    route.Batch
	done chan error
}

// watchFilter decides which updates concern watched prefixes: those the
// ranges tag, plus later updates of slots that were watched (a withdrawal
// has no attributes, so an origin-ASN match cannot be repeated on it).
type watchFilter struct {
	watched map[route.Key]struct{}
}

func newWatchFilter() *watchFilter { return &watchFilter{watched: make(map[route.Key]struct{})} }

// keep tags u (when tg is not nil) and reports whether u is watched.
func (f *watchFilter) keep(u *route.Update, tg Tagger) bool {
	if tg != nil {
		tg.Tag(u)
	}
	k := u.Key()
	_, was := f.watched[k]
	switch {
	case u.Withdraw:
		delete(f.watched, k)
	case len(u.Tags) > 0:
		f.watched[k] = struct{}{}
	default:
		// Re-announced outside the watch list: the store must drop
		// the path, so pass this one on and forget the slot.
		delete(f.watched, k)
	}
	return len(u.Tags) > 0 || was
}

// Engine is the one pipeline shared by live sessions and replayed
// archives: tag → analyze → store + alerts. It owns the analyzer, which is
// not safe for concurrent use, so everything flows through Run's single
// goroutine.
type Engine struct {
	tagger      func() Tagger
	an          *analyzer.Analyzer
	sink        Sink
	writeRoutes bool
	notify      Notifier
	onEvent     func(route.EventChange)
	logger      *slog.Logger
	m           engineMetrics
	filter      *watchFilter
	open        map[string]route.EventKind

	// Time is data time: it advances with the updates, and between them at
	// wall-clock speed from the last update (so live events can resolve
	// while nothing arrives) — never from the wall clock directly.
	lastData  time.Time
	lastWall  time.Time
	lastPrune time.Time
	now       func() time.Time

	pendUps    []route.Update
	pendStates []route.PeerState
}

type engineMetrics struct {
	updates    *prometheus.CounterVec
	watched    prometheus.Counter
	events     *prometheus.CounterVec
	openEvents *prometheus.GaugeVec
	storeErr   prometheus.Counter
	dropped    prometheus.Counter
	held       *prometheus.GaugeVec
}

// maxPending bounds the updates kept for retry while the store is down.
const maxPending = 1 << 20

// EngineConfig tunes the engine.
type EngineConfig struct {
	// FlushInterval bounds how long a tagged update waits before it is
	// written to the store (default 200ms).
	FlushInterval time.Duration
	// FlushSize writes a batch once this many updates are pending
	// (default 2000).
	FlushSize int
	// SkipRouteWrites leaves route state to other processes (pipeline role
	// analyzer with writer instances); events are still written.
	SkipRouteWrites bool
}

// NewEngine wires the pipeline. tagger is called per batch so a ranges
// refresh takes effect without a restart. onEvent (may be nil) sees every
// event change, e.g. to print it on the console.
func NewEngine(tagger func() Tagger, an *analyzer.Analyzer, sink Sink, notify Notifier,
	onEvent func(route.EventChange), logger *slog.Logger, reg prometheus.Registerer) *Engine {
	e := &Engine{
		tagger: tagger, an: an, sink: sink, notify: notify, onEvent: onEvent, logger: logger,
		now: time.Now, filter: newWatchFilter(), open: make(map[string]route.EventKind), writeRoutes: true,
		m: engineMetrics{
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
		},
	}
	if reg != nil {
		reg.MustRegister(e.m.updates, e.m.watched, e.m.events, e.m.openEvents, e.m.storeErr, e.m.dropped, e.m.held)
	}
	return e
}

// Run consumes batches (in) and synchronous jobs until ctx ends, flushing
// pending writes on the way out.
func (e *Engine) Run(ctx context.Context, in <-chan route.Batch, jobs <-chan job, cfg EngineConfig) error {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 200 * time.Millisecond
	}
	if cfg.FlushSize <= 0 {
		cfg.FlushSize = 2000
	}
	e.writeRoutes = !cfg.SkipRouteWrites
	tick := time.NewTicker(cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Use a fresh context: the pending writes must still land.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := e.flush(fctx)
			cancel()
			return err
		case j := <-jobs:
			e.handle(ctx, j.b)
			j.done <- e.flush(ctx)
		case b := <-in:
			e.handle(ctx, b)
			if len(e.pendUps) >= cfg.FlushSize {
				if err := e.flush(ctx); err != nil {
					e.logger.Error("engine: store write failed", "err", err)
				}
			}
		case <-tick.C:
			if !e.lastData.IsZero() {
				now := e.dataNow()
				e.emit(ctx, e.an.Tick(now))
				// Resolved events live on in the store; the analyzer
				// forgets them an hour (of data time) after they ended.
				if now.Sub(e.lastPrune) > time.Minute {
					e.an.Prune(now.Add(-time.Hour))
					e.lastPrune = now
				}
				st := e.an.Stats()
				for what, n := range map[string]int64{"routes": st.Slots, "prefixes": st.Prefixes, "peers": st.Peers,
					"window": st.Window, "events": st.Events} {
					e.m.held.WithLabelValues(what).Set(float64(n))
				}
			}
			if err := e.flush(ctx); err != nil {
				e.logger.Error("engine: store write failed", "err", err)
			}
		}
	}
}

// dataNow extrapolates data time from the last update at wall-clock speed.
func (e *Engine) dataNow() time.Time {
	return e.lastData.Add(e.now().Sub(e.lastWall))
}

func (e *Engine) see(t time.Time) {
	if t.After(e.lastData) {
		e.lastData = t
	}
	e.lastWall = e.now()
}

func (e *Engine) handle(ctx context.Context, b route.Batch) {
	tg := e.tagger()
	for i := range b.Updates {
		u := b.Updates[i]
		e.see(u.Time)
		e.m.updates.WithLabelValues(u.Source).Inc()
		if e.filter.keep(&u, tg) {
			e.m.watched.Inc()
			if e.writeRoutes {
				e.pendUps = append(e.pendUps, u)
			}
		}
		e.emit(ctx, e.an.Observe(u))
	}
	if len(b.States) > 0 && e.writeRoutes {
		// Keep the store's order: a batch's updates precede its state
		// changes, and a session's stale marking must not overtake them.
		if err := e.flush(ctx); err != nil {
			e.logger.Error("engine: store write failed", "err", err)
		}
		defer func() {
			if err := e.flush(ctx); err != nil {
				e.logger.Error("engine: store write failed", "err", err)
			}
		}()
	}
	for _, s := range b.States {
		e.see(s.Time)
		if e.writeRoutes {
			e.pendStates = append(e.pendStates, s)
		}
		e.emit(ctx, e.an.ObservePeer(s))
	}
}

func (e *Engine) emit(ctx context.Context, chs []route.EventChange) {
	if len(chs) == 0 {
		return
	}
	evs := make([]route.Event, len(chs))
	for i, c := range chs {
		evs[i] = c.Event
		e.m.events.WithLabelValues(string(c.Event.Kind), string(c.Change)).Inc()
		if c.Event.Open() {
			e.open[c.Event.ID] = c.Event.Kind
		} else {
			delete(e.open, c.Event.ID)
		}
		if e.onEvent != nil {
			e.onEvent(c)
		}
	}
	e.m.openEvents.Reset()
	for _, k := range e.open {
		e.m.openEvents.WithLabelValues(string(k)).Inc()
	}
	if err := e.sink.PutEvents(ctx, evs); err != nil {
		e.m.storeErr.Inc()
		e.logger.Error("engine: store events", "err", err, "events", len(evs))
	}
	if e.notify != nil {
		if err := e.notify.Notify(ctx, chs); err != nil {
			e.logger.Error("engine: queue alerts", "err", err)
		}
	}
}

func (e *Engine) flush(ctx context.Context) error {
	var errs []error
	if len(e.pendUps) > 0 {
		if err := e.sink.ApplyUpdates(ctx, e.pendUps); err != nil {
			e.m.storeErr.Inc()
			errs = append(errs, fmt.Errorf("service: apply %d updates: %w", len(e.pendUps), err))
		} else {
			e.pendUps = e.pendUps[:0]
		}
	}
	if len(e.pendStates) > 0 {
		if err := e.sink.ApplyPeerStates(ctx, e.pendStates); err != nil {
			e.m.storeErr.Inc()
			errs = append(errs, fmt.Errorf("service: apply %d peer states: %w", len(e.pendStates), err))
		} else {
			e.pendStates = e.pendStates[:0]
		}
	}
	// While the store is unreachable, writes are kept and retried on the
	// next flush, up to a bound that keeps memory in check.
	if n := len(e.pendUps); n > maxPending {
		e.m.dropped.Add(float64(n - maxPending))
		e.pendUps = append(e.pendUps[:0], e.pendUps[n-maxPending:]...)
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
