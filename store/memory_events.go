package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"routewatch/route"
)

// EventsVersion implements Store.
func (m *Memory) EventsVersion(ctx context.Context) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.inst + ":e" + strconv.FormatUint(m.evGen, 10), nil
}

// PutEvents implements Store.
func (m *Memory) PutEvents(ctx context.Context, evs []route.Event) error {
	for _, e := range evs {
		if e.ID == "" {
			return fmt.Errorf("store: put events: %w: empty id", ErrInvalid)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evGen++
	for _, e := range evs {
		if old, ok := m.events[e.ID]; ok {
			m.unindexEventLocked(&old)
		}
		c := cloneEvent(e)
		m.events[e.ID] = c
		m.indexEventLocked(&c)
	}
	// Retention: the oldest resolved events (by start, then id) go first.
	if extra := m.evResolved - m.ret.ResolvedEvents; extra > 0 {
		for _, mem := range slices.Clone(m.evIndex["s:resolved"][:extra]) {
			_, id, _ := cutMember(mem)
			e := m.events[id]
			m.unindexEventLocked(&e)
			delete(m.events, id)
		}
	}
	return nil
}
func memEventFacets(e *route.Event) []string {
	st := "s:open"
	if !e.Open() {
		st = "s:resolved"
	}
	return []string{"all", "k:" + string(e.Kind), "p:" + e.Provider, "r:" + e.Region, "pr:" + e.Provider + "\t" + e.Region, st}
}
func (m *Memory) indexEventLocked(e *route.Event) {
	mem := eventMember(e.Start, e.ID)
	for _, f := range memEventFacets(e) {
		ix := m.evIndex[f]
		i, found := slices.BinarySearch(ix, mem)
		if !found {
			m.evIndex[f] = slices.Insert(ix, i, mem)
		}
	}
	if !e.Open() {
		m.evResolved++
	}
}
func (m *Memory) unindexEventLocked(e *route.Event) {
	mem := eventMember(e.Start, e.ID)
	for _, f := range memEventFacets(e) {
		ix := m.evIndex[f]
		if i, found := slices.BinarySearch(ix, mem); found {
			ix = slices.Delete(ix, i, i+1)
			if len(ix) == 0 {
				delete(m.evIndex, f)
			} else {
				m.evIndex[f] = ix
			}
		}
	}
	if !e.Open() {
		m.evResolved--
	}
}
func cutMember(mem string) (string, string, bool) {
	if len(mem) < 22 || mem[20] != '|' {
		return "", "", false
	}
	return mem[:20], mem[21:], true
}
func cloneEvent(e route.Event) route.Event {
	if e.End != nil {
		t := *e.End
		e.End = &t
	}
	e.Transitions = slices.Clone(e.Transitions)
	e.AffectedPeers = slices.Clone(e.AffectedPeers)
	e.SamplePrefixes = slices.Clone(e.SamplePrefixes)
	return e
}

// Event implements Store.
func (m *Memory) Event(ctx context.Context, id string) (route.Event, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.events[id]
	if !ok {
		return route.Event{}, ErrNotFound
	}
	return cloneEvent(e), nil
}

// Events implements Store: it walks the smallest facet index that applies,
// from the cursor or From (binary search) until To, and filters the rest.
func (m *Memory) Events(ctx context.Context, f EventFilter) ([]route.Event, string, error) {
	after, err := cursorEvents.parse(f.Page.Cursor, validEventMember)
	if err != nil {
		return nil, "", err
	}
	limit := clampLimit(f.Page.Limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	ix := m.evIndex["all"]
	pick := func(name string) {
		if cand := m.evIndex[name]; len(cand) < len(ix) {
			ix = cand
		}
	}
	switch {
	case f.Provider != "" && f.Region != "":
		pick("pr:" + f.Provider + "\t" + f.Region)
	case f.Provider != "":
		pick("p:" + f.Provider)
	case f.Region != "":
		pick("r:" + f.Region)
	}
	if f.Kind != "" {
		pick("k:" + string(f.Kind))
	}
	switch f.Status {
	case StatusOpen:
		pick("s:open")
	case StatusResolved:
		pick("s:resolved")
	}
	start := 0
	if !f.From.IsZero() {
		start, _ = slices.BinarySearch(ix, startKey(f.From))
	}
	if after != "" {
		i, found := slices.BinarySearch(ix, after)
		if found {
			i++
		}
		start = max(start, i)
	}
	// Members are fixed-width "start|id": once the start key passes To's,
	// every later member starts after To.
	toKey := ""
	if !f.To.IsZero() {
		toKey = startKey(f.To)
	}
	out := []route.Event{}
	next := ""
	for i := start; i < len(ix); i++ {
		mem := ix[i]
		if toKey != "" && mem[:20] > toKey {
			break
		}
		_, id, _ := cutMember(mem)
		e, ok := m.events[id]
		if !ok || !eventMatches(&e, &f) {
			continue
		}
		if len(out) == limit {
			next = cursorEvents.next(eventMember(out[limit-1].Start, out[limit-1].ID))
			break
		}
		out = append(out, cloneEvent(e))
	}
	return out, next, nil
}
