package pipeline

import (
	"context"
	"fmt"
	"time"

	"routewatch/route"
)

// maxQueued bounds the event changes and alert enqueues kept while the
// store is unreachable; past it the engine stops taking input until the
// store is back (backpressure rather than loss).
const maxQueued = 10000

// eventQueue holds, in order, what the store has not taken yet: the latest
// state of each event (a later version replaces an earlier one: the store
// keeps only the last) and every change for the alert outbox.
type eventQueue struct {
	events  []route.Event
	index   map[string]int // event ID → position in events
	alerts  []route.EventChange
	failing bool // the last write failed (logged once per outage)
}

func newEventQueue() eventQueue { return eventQueue{index: map[string]int{}} }

func (q *eventQueue) add(chs []route.EventChange, alerts bool) {
	for _, c := range chs {
		if i, ok := q.index[c.Event.ID]; ok {
			q.events[i] = c.Event
		} else {
			q.index[c.Event.ID] = len(q.events)
			q.events = append(q.events, c.Event)
		}
	}
	if alerts {
		q.alerts = append(q.alerts, chs...)
	}
}

func (q *eventQueue) pending() (events, alerts int) { return len(q.events), len(q.alerts) }

func (q *eventQueue) full() bool { return len(q.events) >= maxQueued || len(q.alerts) >= maxQueued }

// emit hands event changes to the console, the metrics, the store and the
// alert outbox, in order.
func (e *Engine) emit(ctx context.Context, chs []route.EventChange) {
	if len(chs) == 0 {
		return
	}
	for i := range chs {
		annotateRPKI(&chs[i].Event, e.val)
		c := chs[i]
		e.m.events.WithLabelValues(string(c.Event.Kind), string(c.Change)).Inc()
		if c.Change != route.EventUpdated {
			e.ckDue = true
		}
		if c.Event.Open() {
			e.open[c.Event.ID] = c.Event.Kind
		} else {
			delete(e.open, c.Event.ID)
		}
		if e.d.OnEvent != nil {
			e.d.OnEvent(c)
		}
	}
	e.setOpenGauge()
	e.q.add(chs, e.d.Notify != nil)
	if e.writeEvents(ctx) == nil || !e.q.full() {
		return // written, or kept for the next flush
	}
	// Full: hold everything (the sources' queues absorb the wait) until
	// the store takes the backlog or ctx ends.
	for wait := 100 * time.Millisecond; e.q.full(); wait = min(2*wait, 5*time.Second) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		_ = e.writeEvents(ctx)
	}
}

// writeEvents writes the queued events, then enqueues the queued alerts;
// on failure both stay queued, in order, for the next try.
func (e *Engine) writeEvents(ctx context.Context) error {
	q := &e.q
	if len(q.events) > 0 {
		if err := e.d.Events.PutEvents(ctx, q.events); err != nil {
			return e.writeFailed("store events", err)
		}
		clear(q.index)
		q.events = q.events[:0]
	}
	if len(q.alerts) > 0 {
		if err := e.d.Notify.Notify(ctx, q.alerts); err != nil {
			return e.writeFailed("queue alerts", err)
		}
		q.alerts = q.alerts[:0]
	}
	if q.failing {
		q.failing = false
		e.d.Logger.Info("engine: the store takes events again; the backlog is written")
	}
	return nil
}

func (e *Engine) writeFailed(what string, err error) error {
	e.m.storeErr.Inc()
	evs, alerts := e.q.pending()
	if !e.q.failing {
		e.q.failing = true
		e.d.Logger.Error("engine: "+what+" failed; kept and retried until the store is back", "err", err,
			"events", evs, "alerts", alerts)
	}
	return fmt.Errorf("pipeline: %s (%d events, %d alerts kept): %w", what, evs, alerts, err)
}
