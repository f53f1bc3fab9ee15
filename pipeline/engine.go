package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/analyzer"
	"routewatch/route"
)

// RouteWriter is the part of the store that keeps route state.
type RouteWriter interface {
	ApplyUpdates(ctx context.Context, ups []route.Update) error
	ApplyPeerStates(ctx context.Context, states []route.PeerState) error
}

// EventWriter is the part of the store that keeps events.
type EventWriter interface {
	PutEvents(ctx context.Context, evs []route.Event) error
}

// Notifier receives event changes (alert.Alerter); it must not block on
// the network.
type Notifier interface {
	Notify(ctx context.Context, changes []route.EventChange) error
}

// Deps are what an Engine works with.
type Deps struct {
	// Tagger is called per batch, so a ranges refresh takes effect
	// without a restart.
	Tagger func() Tagger
	// Validator (may be nil) gives the VRPs in force, called per batch
	// like Tagger: watched announcements get their RPKI state.
	Validator func() Validator
	Analyzer  *analyzer.Analyzer
	// Routes keeps route state; nil leaves it to others (replay, the
	// analyzer role beside writer processes).
	Routes RouteWriter
	Events EventWriter
	// Notify (may be nil) queues alerts.
	Notify Notifier
	// OnEvent (may be nil) sees every event change, e.g. to print it.
	OnEvent func(route.EventChange)
	// Recycle (may be nil) is offered every handled batch, without
	// blocking, for a source that reuses the slices (mrtdata.Feed.Reuse):
	// the engine keeps no reference to a batch's slices.
	Recycle chan<- route.Batch
	// Sessions (may be nil) names the sources whose vantage points re-send
	// their table when their session comes back after a restart (the BGP
	// collector, BMP): one that does not come back within
	// Checkpoint.ResyncWindow of a restore is taken as down.
	Sessions func(source string) bool
	// Checkpoints (may be nil: none) keeps the analyzer's checkpoint,
	// written every Checkpoint.CheckpointInterval and when Run ends, and
	// read by Restore.
	Checkpoints Checkpoints
	Checkpoint  CheckpointConfig
	Logger      *slog.Logger
	Registerer  prometheus.Registerer // may be nil
}

// Config tunes the engine.
type Config struct {
	// FlushInterval bounds how long a tagged update waits before it is
	// written to the store, and is the clock's tick (default 200ms).
	FlushInterval time.Duration
	// FlushSize writes a batch once this many updates are pending
	// (default 2000).
	FlushSize int
	// DataClock takes time from the records only (a replay): it never
	// moves on while no data arrives.
	DataClock bool
	// HoldClock, while open, keeps data time with the records as DataClock
	// does; once closed the clock moves on by itself as usual. serve holds
	// it during its startup replay, so a replay that stalls (a slow disk, a
	// loaded machine) gives the same events as `routewatch replay`. nil:
	// no hold.
	HoldClock <-chan struct{}
}

// held reports whether ch is open (nil is never held).
func held(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

// idleAfter is how long no data must arrive before data time moves on
// at wall-clock speed: a source that merely paused (a replay waiting on
// its disk) must not see its clock run ahead of its records.
const idleAfter = time.Second

// maxPending bounds the updates kept for retry while the store is down.
const maxPending = 1 << 20

// Engine is the one pipeline shared by live sessions and replayed
// archives: tag → analyze → store + alerts. It owns the analyzer, which is
// not safe for concurrent use, so everything flows through Run's single
// goroutine.
type Engine struct {
	d      Deps
	m      metrics
	filter *WatchFilter
	open   map[string]route.EventKind

	// Time is data time: it advances with the updates, and while no data
	// arrives at wall-clock speed from the last update (so live events
	// can resolve while nothing arrives) — never from the wall clock
	// directly.
	lastData  time.Time
	lastWall  time.Time
	lastPrune time.Time
	now       func() time.Time

	// The updates counter of the last source seen (one map lookup per
	// batch, not per update).
	srcName    string
	srcCounter prometheus.Counter

	// val is the validator of the last batch (nil: none): it names the
	// authorised origins in hijack summaries.
	val Validator

	pendUps    []route.Update
	pendStates []route.PeerState
	q          eventQueue
	// flushFailing: the last flush failed (logged once per outage).
	flushFailing bool

	cur  route.Update // the update being handled (see handle)
	memo prefixMemo

	// Checkpoints (checkpoint.go).
	ck        *ckMetrics
	ckCfg     CheckpointConfig
	lastCk    time.Time
	dataClock bool
	restored  bool
	resynced  map[route.Peer]struct{}
	// ckDue: an event opened or resolved since the last checkpoint.
	ckDue bool
	// streamID is the last update stream entry applied (analyzer role);
	// streamBase the stream position the analyzer started from, recorded
	// while no entry has been applied yet.
	streamID   string
	streamBase string
	// sessions: vantage points of session sources whose session is up;
	// resyncBy: when those that did not come back after a restore are
	// taken as down (resync.go).
	sessions map[route.Peer]struct{}
	resyncBy time.Time
}

// New wires an engine; nothing runs until Run.
func New(d Deps) *Engine {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{d: d, m: newMetrics(d.Registerer), now: time.Now, filter: NewWatchFilter(),
		open: make(map[string]route.EventKind), q: newEventQueue(), ckCfg: d.Checkpoint.withDefaults(),
		sessions: make(map[route.Peer]struct{})}
	e.ck = newCkMetrics(d.Registerer, func() time.Time { return e.now() })
	e.lastCk = e.now()
	return e
}

// Run consumes batches (in) and jobs until ctx ends or in is closed,
// flushing pending writes on the way out. jobs may be nil.
func (e *Engine) Run(ctx context.Context, in <-chan route.Batch, jobs <-chan Job, cfg Config) error {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 200 * time.Millisecond
	}
	if cfg.FlushSize <= 0 {
		cfg.FlushSize = 2000
	}
	e.dataClock = cfg.DataClock
	tick := time.NewTicker(cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return e.final(ctx)
		case j := <-jobs:
			// What the sources sent before the job goes first.
			for n := len(in); n > 0; n-- {
				if b, ok := <-in; ok {
					e.handle(ctx, b)
				}
			}
			if e.applied(j.StreamID) {
				j.Done <- e.flush(ctx)
				continue
			}
			e.handle(ctx, j.Batch)
			if j.StreamID != "" {
				e.streamID = j.StreamID
			}
			if j.End {
				e.see(j.At)
				e.settle(ctx)
			}
			j.Done <- e.flush(ctx)
			e.dueCheckpoint(ctx, cfg)
		case b, ok := <-in:
			if !ok {
				return e.final(ctx)
			}
			e.handle(ctx, b)
			if len(e.pendUps) >= cfg.FlushSize {
				e.logFlush(ctx)
			}
			e.dueCheckpoint(ctx, cfg)
		case <-tick.C:
			// Data time moves on its own only while no data arrives, so a
			// replay's events depend on its records alone.
			if !cfg.DataClock && !held(cfg.HoldClock) && !e.lastData.IsZero() && e.now().Sub(e.lastWall) >= idleAfter {
				e.clock(ctx, e.dataNow())
			}
			e.resyncDeadline(ctx)
			e.logFlush(ctx)
			e.dueCheckpoint(ctx, cfg)
			e.maybeCheckpoint(ctx)
		}
	}
}

// final flushes what is pending with a fresh context: the writes must
// still land after ctx ended. What cannot be written is counted in the
// error.
func (e *Engine) final(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := e.flush(fctx)
	if cerr := e.checkpoint(fctx); cerr != nil {
		e.d.Logger.Error("checkpoint at shutdown failed; the next start uses the previous one", "err", cerr)
	}
	if err == nil {
		return nil
	}
	evs, alerts := e.q.pending()
	e.d.Logger.Error("engine: stopped with writes the store did not take", "events", evs, "alerts", alerts,
		"updates", len(e.pendUps), "peer_states", len(e.pendStates), "err", err)
	return fmt.Errorf("pipeline: shutdown: %d event changes, %d alert enqueues, %d updates and %d peer states not written: %w",
		evs, alerts, len(e.pendUps), len(e.pendStates), err)
}

// logFlush flushes and logs the first failure of an outage and the
// recovery, not every retry.
func (e *Engine) logFlush(ctx context.Context) {
	err := e.flush(ctx)
	switch {
	case err != nil && !e.flushFailing:
		e.d.Logger.Error("engine: store write failed; retrying", "err", err)
	case err == nil && e.flushFailing:
		e.d.Logger.Info("engine: store writes succeed again")
	}
	e.flushFailing = err != nil
}

// clock advances the analyzer's time to now while no data arrives.
func (e *Engine) clock(ctx context.Context, now time.Time) {
	e.emit(ctx, e.d.Analyzer.Tick(now))
	// Resolved events live on in the store; the analyzer forgets them an
	// hour (of data time) after they ended.
	if now.Sub(e.lastPrune) > time.Minute {
		e.d.Analyzer.Prune(now.Add(-time.Hour))
		e.lastPrune = now
	}
	e.setHeld()
}

func (e *Engine) setHeld() {
	st := e.d.Analyzer.Stats()
	for what, n := range map[string]int64{"routes": st.Slots, "prefixes": st.Prefixes, "peers": st.Peers,
		"window": st.Window, "events": st.Events} {
		e.m.held.WithLabelValues(what).Set(float64(n))
	}
}

// settle ends a finite source: the clock runs to its last record and
// whatever waits for more data is decided.
func (e *Engine) settle(ctx context.Context) {
	if !e.lastData.IsZero() {
		e.emit(ctx, e.d.Analyzer.Tick(e.lastData))
	}
	e.emit(ctx, e.d.Analyzer.Flush())
}

// see moves data time to t if t is later.
func (e *Engine) see(t time.Time) {
	if t.After(e.lastData) {
		e.lastData = t
	}
}

// dataNow extrapolates data time from the last update at wall-clock speed.
func (e *Engine) dataNow() time.Time {
	return e.lastData.Add(e.now().Sub(e.lastWall))
}

func (e *Engine) handle(ctx context.Context, b route.Batch) {
	if b.Empty() {
		return
	}
	if e.d.Recycle != nil {
		defer func() {
			select {
			case e.d.Recycle <- b:
			default:
			}
		}()
	}
	e.lastWall = e.now()
	tg := e.memo.wrap(e.d.Tagger())
	var val Validator
	if e.d.Validator != nil {
		val = e.d.Validator()
	}
	e.val = val
	// u is the engine's own scratch copy: tagging it through the Tagger
	// interface would otherwise move a fresh copy of every update to the
	// heap. The counters are added once per run of one source.
	u := &e.cur
	seen, watched := 0, 0
	for i := range b.Updates {
		*u = b.Updates[i]
		e.see(u.Time)
		if u.Source != e.srcName || e.srcCounter == nil {
			e.countUpdates(seen)
			seen = 0
			e.srcName, e.srcCounter = u.Source, e.m.updates.WithLabelValues(u.Source)
		}
		seen++
		tg.Tag(u)
		validate(u, val)
		if u.RPKI == route.ROVInvalid {
			e.m.rpkiInvalid.Inc()
		}
		switch {
		case e.d.Routes == nil:
			// Nothing to store: the analyzer keeps its own watch list
			// (a replay saves a map lookup per route).
			if len(u.Tags) > 0 {
				watched++
			}
		case e.filter.Keep(u, nil):
			watched++
			e.pendUps = append(e.pendUps, *u)
		}
		e.emit(ctx, e.d.Analyzer.Observe(*u))
	}
	*u = route.Update{} // keep no attributes alive
	e.countUpdates(seen)
	if watched > 0 {
		e.m.watched.Add(float64(watched))
	}
	e.m.invalidWatched.Set(float64(e.filter.Invalid()))
	if len(b.States) > 0 && e.d.Routes != nil {
		// Keep the store's order: a batch's updates precede its state
		// changes, and a session's stale marking must not overtake them.
		e.logFlush(ctx)
		defer e.logFlush(ctx)
	}
	for _, s := range b.States {
		e.see(s.Time)
		e.session(s)
		e.resync(s)
		if e.d.Routes != nil {
			e.pendStates = append(e.pendStates, s)
		}
		e.emit(ctx, e.d.Analyzer.ObservePeer(s))
	}
}

// countUpdates adds n updates of the current source to its counter.
func (e *Engine) countUpdates(n int) {
	if n > 0 {
		e.srcCounter.Add(float64(n))
	}
}

func (e *Engine) flush(ctx context.Context) error {
	var errs []error
	if err := e.writeEvents(ctx); err != nil {
		errs = append(errs, err)
	}
	if e.d.Routes == nil {
		return errors.Join(errs...)
	}
	if len(e.pendUps) > 0 {
		if err := e.d.Routes.ApplyUpdates(ctx, e.pendUps); err != nil {
			e.m.storeErr.Inc()
			errs = append(errs, fmt.Errorf("pipeline: apply %d updates: %w", len(e.pendUps), err))
		} else {
			e.pendUps = e.pendUps[:0]
		}
	}
	if len(e.pendStates) > 0 {
		if err := e.d.Routes.ApplyPeerStates(ctx, e.pendStates); err != nil {
			e.m.storeErr.Inc()
			errs = append(errs, fmt.Errorf("pipeline: apply %d peer states: %w", len(e.pendStates), err))
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
	return errors.Join(errs...)
}

// setOpenGauge sets routewatch_events_open for every kind (0 included).
func (e *Engine) setOpenGauge() {
	n := make(map[route.EventKind]int, len(route.EventKinds))
	for _, k := range e.open {
		n[k]++
	}
	for _, k := range route.EventKinds {
		e.m.openEvents.WithLabelValues(string(k)).Set(float64(n[k]))
	}
	for k, c := range n {
		if !slices.Contains(route.EventKinds, k) {
			e.m.openEvents.WithLabelValues(string(k)).Set(float64(c))
		}
	}
}
