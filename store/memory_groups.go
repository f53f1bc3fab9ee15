package store

import (
	"context"
	"sort"

	"routewatch/route"
)

func (m *Memory) summaryLocked(g route.Group, mg *memGroup) GroupSummary {
	s := GroupSummary{Provider: g.Provider, Region: g.Region, LastChange: mg.last}
	for p := range mg.members {
		mp := m.prefixes[p]
		if mp == nil || len(mp.routes) == 0 {
			continue
		}
		s.Prefixes++
		s.PeerPaths += len(mp.routes)
		for k, r := range mp.routes {
			st := peerStatus{}
			if pr := m.peers[vantageOf(k.Peer)]; pr != nil {
				st = pr.status()
			}
			if !st.stale(r.epoch) {
				s.Visible++
				break
			}
		}
	}
	if !mg.last.IsZero() {
		s.Changes = countWindow(mg.buckets, mg.last)
	}
	return s
}

// Groups implements Store.
func (m *Memory) Groups(ctx context.Context) ([]GroupSummary, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []GroupSummary{}
	for g, mg := range m.groups {
		if len(mg.members) == 0 {
			continue
		}
		out = append(out, m.summaryLocked(g, mg))
	}
	sortGroups(out)
	return out, nil
}

// Group implements Store.
func (m *Memory) Group(ctx context.Context, provider, region string) (GroupSummary, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g := route.Group{Provider: provider, Region: region}
	mg := m.groups[g]
	if mg == nil || len(mg.members) == 0 {
		return GroupSummary{}, ErrNotFound
	}
	return m.summaryLocked(g, mg), nil
}

// GroupPrefixes implements Store.
func (m *Memory) GroupPrefixes(ctx context.Context, provider, region string, pg Page) ([]PrefixVisibility, string, error) {
	after, err := parseGroupCursor(pg.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := clampLimit(pg.Limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	mg := m.groups[route.Group{Provider: provider, Region: region}]
	if mg == nil {
		return []PrefixVisibility{}, "", nil
	}
	keys := make([]string, 0, len(mg.members))
	for p := range mg.members {
		if mp := m.prefixes[p]; mp != nil && len(mp.routes) > 0 {
			if k := prefixKey(p); k > after {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = groupCursor(keys[limit-1])
	}
	out := make([]PrefixVisibility, 0, len(keys))
	for _, k := range keys {
		p, _ := parsePrefixKey(k)
		mp := m.prefixes[p]
		peers := make([]vantage, 0, len(mp.routes))
		stale := make([]bool, 0, len(mp.routes))
		for rk, r := range mp.routes {
			st := peerStatus{}
			v := vantageOf(rk.Peer)
			if pr := m.peers[v]; pr != nil {
				st = pr.status()
			}
			peers = append(peers, v)
			stale = append(stale, st.stale(r.epoch))
		}
		out = append(out, visibility(p, peers, func(i int) bool { return stale[i] }))
	}
	return out, next, nil
}
