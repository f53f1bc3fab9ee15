package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

func (r *Redis) eventIndexes(e *route.Event) []string {
	ix := []string{r.k.evIndex("all"), r.k.evIndex("k:" + string(e.Kind)), r.k.evIndex("p:" + e.Provider),
		r.k.evIndex("r:" + e.Region), r.k.evIndex("pr:" + e.Provider + "\t" + e.Region)}
	if e.Open() {
		ix = append(ix, r.k.evIndex("s:open"))
	} else {
		ix = append(ix, r.k.evIndex("s:resolved"))
	}
	return ix
}

// PutEvents implements Store.
func (r *Redis) PutEvents(ctx context.Context, evs []route.Event) (err error) {
	defer r.observe("put_events", time.Now(), &err)
	calls := make([]evalCall, 0, len(evs))
	tok := newToken() + "."
	for i := range evs {
		e := &evs[i]
		if e.ID == "" {
			return fmt.Errorf("store: put events: %w: empty id", ErrInvalid)
		}
		js, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("store: put events: %w", err)
		}
		args := []any{e.ID, js, eventMember(e.Start, e.ID), r.cfg.ResolvedEvents, tok + strconv.Itoa(i), r.k.inv()}
		for _, ix := range r.eventIndexes(e) {
			args = append(args, ix)
		}
		calls = append(calls, evalCall{s: putEventScript,
			keys: []string{r.k.evData(), r.k.evIndexOf(), r.k.evIndex("s:resolved"), r.k.evVer()}, args: args})
	}
	_, err = r.evalAll(ctx, calls)
	r.inv.note(eventsNotice) // read our own writes (see ApplyUpdates)
	if err != nil {
		return fmt.Errorf("store: put events: %w", err)
	}
	return nil
}

// Event implements Store.
func (r *Redis) Event(ctx context.Context, id string) (_ route.Event, err error) {
	defer r.observe("event", time.Now(), &err)
	js, err := r.c.HGet(ctx, r.k.evData(), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return route.Event{}, ErrNotFound
	}
	if err != nil {
		return route.Event{}, fmt.Errorf("store: event: %w", err)
	}
	var e route.Event
	if err := json.Unmarshal(js, &e); err != nil {
		return route.Event{}, fmt.Errorf("store: event: %w: %v", ErrCorrupt, err)
	}
	return e, nil
}

// Events implements Store: it walks the most selective index in (start,
// id) order between the time bounds and filters the remaining fields.
func (r *Redis) Events(ctx context.Context, f EventFilter) (_ []route.Event, _ string, err error) {
	defer r.observe("events", time.Now(), &err)
	// A page no events notice has voided since it was read is answered
	// locally (invalidate.go).
	key := eventsKey(f)
	if e, ok := r.evc.Get(key); ok && r.inv.eventsCurrent(e.st) {
		return slices.Clone(e.evs), e.next, nil
	}
	st := r.inv.stamp(netip.Prefix{})
	evs, next, err := r.events(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if st.live && len(evs) <= eventsCacheMaxPage {
		r.evc.Add(key, &eventsEntry{evs: evs, next: next, st: st})
	}
	return slices.Clone(evs), next, nil
}

// eventsEntry is a cached Events page.
type eventsEntry struct {
	evs  []route.Event
	next string
	st   stamp
}

// Events page cache bounds: pages kept, events per cached page.
const (
	eventsCachePages   = 256
	eventsCacheMaxPage = 100
)

// eventsKey identifies an Events query.
func eventsKey(f EventFilter) string {
	return strings.Join([]string{f.Provider, f.Region, string(f.Kind), strconv.Itoa(int(f.Status)),
		strconv.FormatInt(f.From.UnixNano(), 10), strconv.FormatInt(f.To.UnixNano(), 10),
		strconv.Itoa(clampLimit(f.Page.Limit)), f.Page.Cursor}, "\x00")
}

// EventsVersion implements Store: the token putEventScript replaces with
// every put, trusted locally while no events notice voided it.
func (r *Redis) EventsVersion(ctx context.Context) (_ string, err error) {
	r.evTok.mu.Lock()
	tok, st := r.evTok.tok, r.evTok.st
	r.evTok.mu.Unlock()
	if tok != "" && r.inv.eventsCurrent(st) {
		return "t" + tok, nil
	}
	defer r.observe("events_version", time.Now(), &err)
	st = r.inv.stamp(netip.Prefix{})
	tok, err = r.c.Get(ctx, r.k.evVer()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: events version: %w", err)
	}
	r.evTok.mu.Lock()
	r.evTok.tok, r.evTok.st = tok, st
	r.evTok.mu.Unlock()
	return "t" + tok, nil
}

// events reads one Events page from Redis.
func (r *Redis) events(ctx context.Context, f EventFilter) ([]route.Event, string, error) {
	lo, hi := "-", "+"
	if !f.From.IsZero() {
		lo = "[" + startKey(f.From)
	}
	if !f.To.IsZero() {
		hi = "(" + startKey(f.To)
	}
	pos, err := cursorEvents.parse(f.Page.Cursor, validEventMember)
	if err != nil {
		return nil, "", err
	}
	if pos != "" && (f.From.IsZero() || pos >= startKey(f.From)) {
		lo = "(" + pos
	}
	ix := r.k.evIndex("all")
	switch {
	case f.Provider != "" && f.Region != "":
		ix = r.k.evIndex("pr:" + f.Provider + "\t" + f.Region)
	case f.Provider != "":
		ix = r.k.evIndex("p:" + f.Provider)
	case f.Region != "":
		ix = r.k.evIndex("r:" + f.Region)
	case f.Kind != "":
		ix = r.k.evIndex("k:" + string(f.Kind))
	case f.Status == StatusOpen:
		ix = r.k.evIndex("s:open")
	case f.Status == StatusResolved:
		ix = r.k.evIndex("s:resolved")
	}
	limit := clampLimit(f.Page.Limit)
	var out []route.Event
	var mems []string
	for len(out) <= limit {
		ms, err := r.c.ZRangeByLex(ctx, ix, &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit + 1)}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("store: events: %w", err)
		}
		if len(ms) == 0 {
			break
		}
		ids := make([]string, len(ms))
		for i, m := range ms {
			_, ids[i], _ = cutMember(m)
		}
		vals, err := r.c.HMGet(ctx, r.k.evData(), ids...).Result()
		if err != nil {
			return nil, "", fmt.Errorf("store: events: %w", err)
		}
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue
			}
			var e route.Event
			if err := json.Unmarshal([]byte(s), &e); err != nil {
				return nil, "", fmt.Errorf("store: events: %w: %v", ErrCorrupt, err)
			}
			if eventMatches(&e, &f) {
				out = append(out, e)
				mems = append(mems, ms[i])
			}
		}
		if len(ms) < limit+1 {
			break
		}
		lo = "(" + ms[len(ms)-1]
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = cursorEvents.next(mems[limit-1])
	}
	if out == nil {
		out = []route.Event{}
	}
	return out, next, nil
}
