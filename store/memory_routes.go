package store

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"
)

func (m *Memory) prefixRoutesLocked(mp *memPrefix) PrefixRoutes {
	out := PrefixRoutes{Prefix: mp.prefix, Tags: slices.Clone(mp.tags), Routes: make([]Route, 0, len(mp.routes)),
		Version: m.versionLocked(mp)}
	for k, r := range mp.routes {
		st := peerStatus{}
		if pr := m.peers[vantageOf(k.Peer)]; pr != nil {
			st = pr.status()
		}
		out.Routes = append(out.Routes, Route{
			Peer: k.Peer, PathID: k.PathID, Attrs: cloneAttrs(&r.attrs), Since: r.since, Stale: st.stale(r.epoch),
		})
	}
	sortRoutes(out.Routes)
	return out
}

// Routes implements Store.
func (m *Memory) Routes(ctx context.Context, p netip.Prefix, match Match) ([]PrefixRoutes, error) {
	if !p.IsValid() {
		return nil, fmt.Errorf("store: routes: %w prefix", ErrInvalid)
	}
	p = p.Masked()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var found []*memPrefix
	switch match {
	case MatchExact:
		if mp, ok := m.active.Get(p); ok {
			found = append(found, mp)
		}
	case MatchCovering:
		for _, mp := range m.active.Supernets(p) {
			found = append(found, mp)
		}
	case MatchCovered:
		for _, mp := range m.active.Subnets(p) {
			found = append(found, mp)
		}
	default:
		return nil, fmt.Errorf("store: routes: unknown match %d", match)
	}
	out := make([]PrefixRoutes, 0, len(found))
	for _, mp := range found {
		out = append(out, m.prefixRoutesLocked(mp))
	}
	sort.Slice(out, func(i, j int) bool { return prefixKey(out[i].Prefix) < prefixKey(out[j].Prefix) })
	return out, nil
}

// RoutesAt implements Store.
func (m *Memory) RoutesAt(ctx context.Context, p netip.Prefix, at time.Time) (PrefixRoutes, error) {
	if !p.IsValid() {
		return PrefixRoutes{}, fmt.Errorf("store: routes at: %w prefix", ErrInvalid)
	}
	p = p.Masked()
	m.mu.RLock()
	defer m.mu.RUnlock()
	mp := m.prefixes[p]
	// As on Redis: a prefix that never changed nor got tags (only
	// withdrawals of paths it did not have) has no record.
	if mp == nil || (mp.seq == 0 && len(mp.tags) == 0) || (mp.hasHorizon && mp.horizon.After(at)) {
		return PrefixRoutes{}, ErrNotFound
	}
	cur := m.prefixRoutesLocked(mp)
	hist := make([]histRec, len(mp.hist))
	for i, h := range mp.hist {
		hist[len(hist)-1-i] = h
	}
	return reconstruct(p, cur.Tags, cur.Routes, hist, at), nil
}

// History implements Store.
func (m *Memory) History(ctx context.Context, p netip.Prefix, pg Page) ([]HistoryEntry, string, error) {
	if !p.IsValid() {
		return nil, "", fmt.Errorf("store: history: %w prefix", ErrInvalid)
	}
	before, err := parseHistoryCursor(pg.Cursor) // 0: from the newest
	if err != nil {
		return nil, "", err
	}
	limit := clampLimit(pg.Limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	mp := m.prefixes[p.Masked()]
	if mp == nil {
		return []HistoryEntry{}, "", nil
	}
	out := []HistoryEntry{}
	next := ""
	for i := len(mp.hist) - 1; i >= 0; i-- {
		h := mp.hist[i]
		if before != 0 && h.Seq >= before {
			continue
		}
		if len(out) == limit {
			next = cursorHistory.next(strconv.FormatUint(mp.hist[i+1].Seq, 10))
			break
		}
		out = append(out, cloneEntry(h.Entry))
	}
	return out, next, nil
}
func cloneEntry(e HistoryEntry) HistoryEntry {
	if e.Old != nil {
		a := cloneAttrs(e.Old)
		e.Old = &a
	}
	if e.New != nil {
		a := cloneAttrs(e.New)
		e.New = &a
	}
	return e
}

// PrefixesByASN implements Store.
func (m *Memory) PrefixesByASN(ctx context.Context, asn uint32, pg Page) ([]netip.Prefix, string, error) {
	after, err := cursorASN.parse(pg.Cursor, validPrefixKey)
	if err != nil {
		return nil, "", err
	}
	limit := clampLimit(pg.Limit)
	m.mu.RLock()
	keys := make([]string, 0, len(m.byASN[asn]))
	for p := range m.byASN[asn] {
		if k := prefixKey(p); k > after {
			keys = append(keys, k)
		}
	}
	m.mu.RUnlock()
	sort.Strings(keys)
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = cursorASN.next(keys[limit-1])
	}
	out := make([]netip.Prefix, 0, len(keys))
	for _, k := range keys {
		p, _ := parsePrefixKey(k)
		out = append(out, p)
	}
	return out, next, nil
}

// RoutesPage implements Store. A covered page seeks into the prefix tree
// (coveredAfter), so it costs the tree depth plus the page.
func (m *Memory) RoutesPage(ctx context.Context, p netip.Prefix, match Match, pg Page) ([]PrefixRoutes, string, error) {
	out, next, q, err := routesPage(ctx, m.Routes, p, match, pg)
	if err != nil || !q.covered {
		return out, next, err
	}
	p, after, limit := q.prefix, q.after, q.limit
	roots := []netip.Prefix{p}
	if after.IsValid() {
		roots = coveredAfter(p, after)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out = []PrefixRoutes{}
walk:
	for _, root := range roots {
		for sub, mp := range m.active.Subnets(root) {
			if sub == after {
				continue
			}
			if len(out) == limit {
				next = routesCursor(out[limit-1].Prefix)
				break walk
			}
			out = append(out, m.prefixRoutesLocked(mp))
		}
	}
	return out, next, nil
}
