package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

func (r *Redis) summaries(ctx context.Context, names []string) ([]GroupSummary, error) {
	pipe := r.c.Pipeline()
	mc := make([]*redis.StringSliceCmd, len(names))
	cc := make([]*redis.MapStringStringCmd, len(names))
	for i, n := range names {
		mc[i] = pipe.SMembers(ctx, r.k.groupMembers(n))
		cc[i] = pipe.HGetAll(ctx, r.k.groupChanges(n))
	}
	if len(names) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	peers, err := r.allPeers(ctx)
	if err != nil {
		return nil, err
	}
	out := []GroupSummary{}
	for i, n := range names {
		if len(mc[i].Val()) == 0 {
			continue
		}
		g := parseGroupName(n)
		s := GroupSummary{Provider: g.Provider, Region: g.Region}
		var ps []netip.Prefix
		for _, m := range mc[i].Val() {
			if p, err := netip.ParsePrefix(m); err == nil {
				ps = append(ps, p)
			}
		}
		sps, err := r.loadSummaryPrefixes(ctx, ps)
		if err != nil {
			return nil, err
		}
		// A prefix re-tagged by a batch that failed half way may still be
		// listed here: its stored tags decide, and stale members go.
		var gone []any
		for j, sp := range sps {
			if !slices.Contains(tagGroups(sp.tags), g) {
				gone = append(gone, ps[j].String())
				sps[j].peers = nil
			}
		}
		if len(gone) > 0 {
			r.c.SRem(ctx, r.k.groupMembers(n), gone...)
			if len(gone) == len(sps) {
				continue
			}
		}
		for _, sp := range sps {
			if len(sp.peers) == 0 {
				continue
			}
			s.Prefixes++
			s.PeerPaths += len(sp.peers)
			for j, a := range sp.peers {
				p := peers[a]
				if !p.status().stale(sp.epochs[j]) {
					s.Visible++
					break
				}
			}
		}
		buckets := map[int64]int64{}
		for k, v := range cc[i].Val() {
			if k == "last" {
				s.LastChange = parseNanos(v)
				continue
			}
			m, _ := strconv.ParseInt(k, 10, 64)
			c, _ := strconv.ParseInt(v, 10, 64)
			buckets[m] = c
		}
		if !s.LastChange.IsZero() {
			s.Changes = countWindow(buckets, s.LastChange)
		}
		out = append(out, s)
	}
	sortGroups(out)
	return out, nil
}

// Groups implements Store.
func (r *Redis) Groups(ctx context.Context) (_ []GroupSummary, err error) {
	defer r.observe("groups", time.Now(), &err)
	out, err := r.cachedGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: groups: %w", err)
	}
	// Callers may reorder or edit the slice: the cached one stays intact.
	return slices.Clone(out), nil
}

// Group implements Store.
func (r *Redis) Group(ctx context.Context, provider, region string) (_ GroupSummary, err error) {
	defer r.observe("group", time.Now(), &err)
	if all, ok := r.sum.get(time.Now()); ok {
		for _, g := range all {
			if g.Provider == provider && g.Region == region {
				return g, nil
			}
		}
		return GroupSummary{}, ErrNotFound
	}
	out, err := r.summaries(ctx, []string{groupName(route.Group{Provider: provider, Region: region})})
	if err != nil {
		return GroupSummary{}, fmt.Errorf("store: group: %w", err)
	}
	if len(out) == 0 {
		return GroupSummary{}, ErrNotFound
	}
	return out[0], nil
}

// GroupPrefixes implements Store. Group members are an unordered set: the
// page is cut from the sorted members, and only the page's route hashes
// are read, in one pipeline per page (more only when members without paths
// must be skipped).
func (r *Redis) GroupPrefixes(ctx context.Context, provider, region string, pg Page) (_ []PrefixVisibility, _ string, err error) {
	defer r.observe("group_prefixes", time.Now(), &err)
	after, err := parseGroupCursor(pg.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := clampLimit(pg.Limit)
	g := route.Group{Provider: provider, Region: region}
	ms, err := r.c.SMembers(ctx, r.k.groupMembers(groupName(g))).Result()
	if err != nil {
		return nil, "", fmt.Errorf("store: group prefixes: %w", err)
	}
	keys := make([]string, 0, len(ms))
	for _, m := range ms {
		if p, err := netip.ParsePrefix(m); err == nil {
			if k := prefixKey(p); k > after {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	out := []PrefixVisibility{}
	var peers map[vantage]peerRec
	for len(keys) > 0 && len(out) <= limit {
		n := min(len(keys), limit+1-len(out))
		ps := make([]netip.Prefix, n)
		for i, k := range keys[:n] {
			ps[i], _ = parsePrefixKey(k)
		}
		keys = keys[n:]
		sps, err := r.loadSummaryPrefixes(ctx, ps)
		if err != nil {
			return nil, "", fmt.Errorf("store: group prefixes: %w", err)
		}
		if peers == nil {
			if peers, err = r.allPeers(ctx); err != nil {
				return nil, "", fmt.Errorf("store: group prefixes: %w", err)
			}
		}
		for i, sp := range sps {
			// As in summaries: the stored tags decide membership.
			if len(sp.peers) == 0 || !slices.Contains(tagGroups(sp.tags), g) {
				continue
			}
			out = append(out, visibility(ps[i], sp.peers, func(j int) bool {
				p := peers[sp.peers[j]]
				return p.status().stale(sp.epochs[j])
			}))
		}
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = groupCursor(prefixKey(out[limit-1].Prefix))
	}
	return out, next, nil
}
