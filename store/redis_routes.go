package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

// routeEntry is a route-cache entry: a decoded record and what the read
// that confirmed it saw (invalidations).
type routeEntry struct {
	sp *storedPrefix
	st stamp
}

// storedPrefix is one prefix's routes hash, decoded.
type storedPrefix struct {
	tags       []route.Tag
	routes     []Route
	epochs     []uint64
	horizon    time.Time
	hasHorizon bool
	seq        uint64
	exists     bool
	ver        string     // \x00v: the token of the last change ("" before versions existed)
	views      *viewCache // set on records kept in the route cache
}

func parseStoredPrefix(m map[string]string) (storedPrefix, error) {
	sp := storedPrefix{exists: len(m) > 0}
	for f, v := range m {
		if strings.HasPrefix(f, "\x00") {
			switch f {
			case "\x00tags":
				t, err := decodeTags(v)
				if err != nil {
					return sp, err
				}
				sp.tags = t
			case "\x00hz":
				sp.horizon, sp.hasHorizon = parseNanos(v), true
			case "\x00seq":
				sp.seq, _ = strconv.ParseUint(v, 10, 64)
			case "\x00v":
				sp.ver = v
			}
			continue
		}
		k, err := parseRouteField(f)
		if err != nil {
			return sp, err
		}
		hdr, attrs, ok := strings.Cut(v, "\n")
		since, ep, ok2 := strings.Cut(hdr, " ")
		if !ok || !ok2 {
			return sp, fmt.Errorf("%w: path value", ErrCorrupt)
		}
		a, err := decodeAttrs([]byte(attrs))
		if err != nil {
			return sp, err
		}
		e, _ := strconv.ParseUint(ep, 10, 64)
		sp.routes = append(sp.routes, Route{Peer: k.Peer, PathID: k.PathID, Attrs: a, Since: parseNanos(since)})
		sp.epochs = append(sp.epochs, e)
	}
	return sp, nil
}

// loadPrefixes reads the routes of the given prefixes with staleness.
func (r *Redis) loadPrefixes(ctx context.Context, ps []netip.Prefix) ([]PrefixRoutes, []*storedPrefix, error) {
	if len(ps) == 0 {
		return []PrefixRoutes{}, nil, nil
	}
	sps, ver, err := r.readPrefixes(ctx, ps)
	if err != nil {
		return nil, nil, err
	}
	views, ok := cachedViews(sps, ver)
	if !ok {
		if views, ver, err = r.staleViews(ctx, sps, ver); err != nil {
			return nil, nil, err
		}
	}
	out := make([]PrefixRoutes, 0, len(ps))
	for i, sp := range sps {
		if len(sp.routes) == 0 {
			continue
		}
		pr := PrefixRoutes{Prefix: ps[i], Tags: sp.tags, Routes: views[i]}
		if sp.ver != "" && ver != "" {
			pr.Version = sp.ver + "/" + ver
		}
		out = append(out, pr)
	}
	return out, sps, nil
}

// staleView is a cached record's routes with the staleness the peers'
// statuses under token ver give them.
type staleView struct {
	ver    string
	routes []Route
}

// viewCache holds a cached record's last staleView: most lookups of an
// unchanged prefix under unchanged sessions need no copy of its routes.
type viewCache struct{ p atomic.Pointer[staleView] }

// cachedViews returns every record's routes viewed under the peers'
// token ver, if each has them cached (or has no routes).
func cachedViews(sps []*storedPrefix, ver string) ([][]Route, bool) {
	if ver == "" {
		return nil, false
	}
	views := make([][]Route, len(sps))
	for i, sp := range sps {
		if len(sp.routes) == 0 {
			continue
		}
		if sp.views == nil {
			return nil, false
		}
		v := sp.views.p.Load()
		if v == nil || v.ver != ver {
			return nil, false
		}
		views[i] = v.routes
	}
	return views, true
}

// staleViews gives every record's routes this moment's staleness and
// caches them with the records (under the token the statuses came with).
// The decoded records are shared through the cache: each view is a copy.
func (r *Redis) staleViews(ctx context.Context, sps []*storedPrefix, ver string) ([][]Route, string, error) {
	addrs := map[vantage]bool{}
	for _, sp := range sps {
		for _, rt := range sp.routes {
			addrs[vantageOf(rt.Peer)] = true
		}
	}
	st, ver, err := r.peerStatuses(ctx, addrs, ver)
	if err != nil {
		return nil, "", err
	}
	views := make([][]Route, len(sps))
	for i, sp := range sps {
		if len(sp.routes) == 0 {
			continue
		}
		rs := slices.Clone(sp.routes)
		for j := range rs {
			rs[j].Stale = st[vantageOf(rs[j].Peer)].stale(sp.epochs[j])
		}
		views[i] = rs
		if sp.views != nil && ver != "" {
			sp.views.p.Store(&staleView{ver: ver, routes: rs})
		}
	}
	return views, ver, nil
}

// readPrefixes reads and decodes the routes hashes of ps, reusing the
// decoded copies of unchanged ones (RouteCache), and the peers' version
// token, in one round trip; an exact lookup whose cached read no change
// notice has voided (invalidate.go) needs none. The records are shared:
// read only. Routes come sorted (sortStored).
func (r *Redis) readPrefixes(ctx context.Context, ps []netip.Prefix) ([]*storedPrefix, string, error) {
	if len(ps) == 1 && r.rc != nil {
		if e, ok := r.rc.Get(ps[0]); ok && r.inv.prefixCurrent(ps[0], e.st) {
			if ver, ok := r.ps.token(r.inv); ok {
				r.m.readLocal.Inc()
				return []*storedPrefix{e.sp}, ver, nil
			}
		}
	}
	for attempt := 0; ; attempt++ {
		pipe := r.c.Pipeline()
		have := make([]*storedPrefix, len(ps))
		sts := make([]stamp, len(ps))
		cmds := make([]*redis.Cmd, len(ps))
		for i, p := range ps {
			// Before asking: a notice arriving meanwhile voids the read.
			sts[i] = r.inv.stamp(p)
			v := ""
			if r.rc != nil {
				if e, ok := r.rc.Get(p); ok {
					have[i], v = e.sp, e.sp.ver
				}
			}
			cmds[i] = routesIfChangedScript.EvalSha(ctx, pipe, []string{r.k.routes(p)}, v)
		}
		pst := r.inv.stamp(netip.Prefix{})
		verCmd := pipe.Get(ctx, r.k.peersVer())
		_, _ = pipe.Exec(ctx)
		if err := verCmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, "", err
		}
		sps := make([]*storedPrefix, len(ps))
		noscript := false
		for i, c := range cmds {
			vals, err := c.Slice()
			if redis.HasErrorPrefix(err, "NOSCRIPT") {
				noscript = true
				break
			}
			if err != nil {
				return nil, "", err
			}
			if len(vals) == 1 && have[i] != nil {
				sps[i] = have[i]
				r.rc.Add(ps[i], &routeEntry{sp: have[i], st: sts[i]})
				r.m.readUnchanged.Inc()
				continue
			}
			if len(vals)%2 != 0 {
				return nil, "", fmt.Errorf("%w: routes reply of %d elements", ErrCorrupt, len(vals))
			}
			m := make(map[string]string, len(vals)/2)
			for j := 0; j < len(vals); j += 2 {
				k, _ := vals[j].(string)
				v, _ := vals[j+1].(string)
				m[k] = v
			}
			sp, err := parseStoredPrefix(m)
			if err != nil {
				return nil, "", err
			}
			sortStored(&sp)
			sps[i] = &sp
			if r.rc != nil && sp.ver != "" {
				sp.views = &viewCache{}
				r.rc.Add(ps[i], &routeEntry{sp: &sp, st: sts[i]})
			}
			r.m.readFull.Inc()
		}
		if !noscript {
			r.ps.observe(verCmd.Val(), pst)
			return sps, verCmd.Val(), nil
		}
		// Redis restarted or flushed its scripts: load them and retry once.
		if attempt > 0 {
			return nil, "", fmt.Errorf("store: scripts missing after reload")
		}
		if err := r.loadScripts(ctx); err != nil {
			return nil, "", err
		}
	}
}

// sortStored sorts a record's routes (and their epochs with them).
func sortStored(sp *storedPrefix) {
	sort.Sort(storedByRoute{sp})
}

type storedByRoute struct{ sp *storedPrefix }

func (s storedByRoute) Len() int           { return len(s.sp.routes) }
func (s storedByRoute) Less(i, j int) bool { return routeLess(&s.sp.routes[i], &s.sp.routes[j]) }
func (s storedByRoute) Swap(i, j int) {
	s.sp.routes[i], s.sp.routes[j] = s.sp.routes[j], s.sp.routes[i]
	s.sp.epochs[i], s.sp.epochs[j] = s.sp.epochs[j], s.sp.epochs[i]
}

// Routes implements Store. Covering: the at most 33/129 masked candidates
// are checked against the per-family index; covered: a lex range over the
// sortable prefix keys.
func (r *Redis) Routes(ctx context.Context, p netip.Prefix, m Match) (_ []PrefixRoutes, err error) {
	defer r.observe("routes", time.Now(), &err)
	if !p.IsValid() {
		return nil, fmt.Errorf("store: routes: %w prefix", ErrInvalid)
	}
	p = p.Masked()
	fam := r.k.family(p.Addr().Is4())
	var cands []netip.Prefix
	switch m {
	case MatchExact:
		cands = []netip.Prefix{p}
	case MatchCovering:
		// Every less-specific of p is one of at most 33/129 masked
		// candidates: read them all in one pipeline; absent ones are empty.
		for b := 0; b <= p.Bits(); b++ {
			q, _ := p.Addr().Prefix(b)
			cands = append(cands, q)
		}
	case MatchCovered:
		lo := prefixKey(p)
		hiAddr := lastAddr(p)
		hi := prefixKey(netip.PrefixFrom(hiAddr, hiAddr.BitLen()))
		hi = hi[:len(hi)-1] + "\xff"
		ks, err := r.c.ZRangeByLex(ctx, fam, &redis.ZRangeBy{Min: "[" + lo, Max: "[" + hi}).Result()
		if err != nil {
			return nil, fmt.Errorf("store: routes: %w", err)
		}
		for _, k := range ks {
			q, err := parsePrefixKey(k)
			if err == nil && p.Bits() <= q.Bits() && p.Contains(q.Addr()) {
				cands = append(cands, q)
			}
		}
	default:
		return nil, fmt.Errorf("store: routes: unknown match %d", m)
	}
	out, _, err := r.loadPrefixes(ctx, cands)
	if err != nil {
		return nil, fmt.Errorf("store: routes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return prefixKey(out[i].Prefix) < prefixKey(out[j].Prefix) })
	return out, nil
}

// RoutesPage implements Store: a covered page is one bounded lex range
// (from the cursor, LIMIT page+1) over the family index and one pipeline
// for the page's prefixes.
func (r *Redis) RoutesPage(ctx context.Context, p netip.Prefix, m Match, pg Page) (_ []PrefixRoutes, _ string, err error) {
	defer r.observe("routes_page", time.Now(), &err)
	out, next, q, err := routesPage(ctx, r.Routes, p, m, pg)
	if err != nil || !q.covered {
		return out, next, err
	}
	p, after, limit := q.prefix, q.after, q.limit
	lo := "[" + prefixKey(p)
	if after.IsValid() {
		lo = "(" + prefixKey(after)
	}
	hiAddr := lastAddr(p)
	hi := prefixKey(netip.PrefixFrom(hiAddr, hiAddr.BitLen()))
	hi = hi[:len(hi)-1] + "\xff"
	ks, err := r.c.ZRangeByLex(ctx, r.k.family(p.Addr().Is4()), &redis.ZRangeBy{Min: lo, Max: "[" + hi, Count: int64(limit) + 1}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("store: routes page: %w", err)
	}
	if len(ks) > limit {
		ks = ks[:limit]
		last, err := parsePrefixKey(ks[limit-1])
		if err != nil {
			return nil, "", fmt.Errorf("store: routes page: %w", err)
		}
		next = routesCursor(last)
	}
	cands := make([]netip.Prefix, 0, len(ks))
	for _, k := range ks {
		c, err := parsePrefixKey(k)
		if err == nil && p.Bits() <= c.Bits() && p.Contains(c.Addr()) {
			cands = append(cands, c)
		}
	}
	out, _, err = r.loadPrefixes(ctx, cands)
	if err != nil {
		return nil, "", fmt.Errorf("store: routes page: %w", err)
	}
	return out, next, nil
}
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	b := a.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}
func parseHistEntry(p netip.Prefix, s string) (histRec, error) {
	bad := fmt.Errorf("%w: history entry", ErrCorrupt)
	hdr, body, ok := strings.Cut(s, "\n")
	if !ok {
		return histRec{}, bad
	}
	parts := strings.Split(hdr, " ")
	if len(parts) != 5 {
		return histRec{}, bad
	}
	seq, err1 := strconv.ParseUint(parts[0], 10, 64)
	tn, err2 := strconv.ParseInt(parts[1], 10, 64)
	fl, err3 := strconv.Atoi(parts[2])
	ol, err4 := strconv.Atoi(parts[3])
	nl, err5 := strconv.Atoi(parts[4])
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil || fl < 0 || fl+max(ol, 0)+max(nl, 0) != len(body) {
		return histRec{}, bad
	}
	k, err := parseRouteField(body[:fl])
	if err != nil {
		return histRec{}, err
	}
	h := histRec{Seq: seq, Entry: HistoryEntry{Time: parseNanos(parts[1]), Prefix: p, Peer: k.Peer, PathID: k.PathID}}
	if tn == 0 {
		h.Entry.Time = time.Time{}
	}
	rest := body[fl:]
	if ol >= 0 {
		a, err := decodeAttrs([]byte(rest[:ol]))
		if err != nil {
			return histRec{}, err
		}
		h.Entry.Old = &a
		rest = rest[ol:]
	}
	if nl >= 0 {
		a, err := decodeAttrs([]byte(rest[:nl]))
		if err != nil {
			return histRec{}, err
		}
		h.Entry.New = &a
	}
	return h, nil
}

// RoutesAt implements Store.
func (r *Redis) RoutesAt(ctx context.Context, p netip.Prefix, at time.Time) (_ PrefixRoutes, err error) {
	defer r.observe("routes_at", time.Now(), &err)
	if !p.IsValid() {
		return PrefixRoutes{}, fmt.Errorf("store: routes at: %w prefix", ErrInvalid)
	}
	p = p.Masked()
	var hc *redis.StringSliceCmd
	var rc *redis.MapStringStringCmd
	if _, err := r.c.TxPipelined(ctx, func(pp redis.Pipeliner) error {
		rc = pp.HGetAll(ctx, r.k.routes(p))
		hc = pp.LRange(ctx, r.k.hist(p), 0, -1)
		return nil
	}); err != nil {
		return PrefixRoutes{}, fmt.Errorf("store: routes at: %w", err)
	}
	sp, err := parseStoredPrefix(rc.Val())
	if err != nil {
		return PrefixRoutes{}, fmt.Errorf("store: routes at: %w", err)
	}
	if (!sp.exists && len(hc.Val()) == 0) || (sp.hasHorizon && sp.horizon.After(at)) {
		return PrefixRoutes{}, ErrNotFound
	}
	hist := make([]histRec, 0, len(hc.Val()))
	for _, s := range hc.Val() {
		h, err := parseHistEntry(p, s)
		if err != nil {
			return PrefixRoutes{}, fmt.Errorf("store: routes at: %w", err)
		}
		hist = append(hist, h)
	}
	return reconstruct(p, sp.tags, sp.routes, hist, at), nil
}

// History implements Store. Entries carry dense per-prefix sequence
// numbers, so a cursor (a sequence number) maps to a list index even while
// new changes are pushed.
func (r *Redis) History(ctx context.Context, p netip.Prefix, pg Page) (_ []HistoryEntry, _ string, err error) {
	defer r.observe("history", time.Now(), &err)
	if !p.IsValid() {
		return nil, "", fmt.Errorf("store: history: %w prefix", ErrInvalid)
	}
	before, err := parseHistoryCursor(pg.Cursor) // 0: from the newest
	if err != nil {
		return nil, "", err
	}
	limit := clampLimit(pg.Limit)
	p = p.Masked()
	for attempt := 0; attempt < 3; attempt++ {
		head, err := r.c.HGet(ctx, r.k.routes(p), "\x00seq").Uint64()
		if errors.Is(err, redis.Nil) {
			return []HistoryEntry{}, "", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("store: history: %w", err)
		}
		start := int64(0)
		if before != 0 {
			start = max(int64(head)-int64(before)+1, 0)
		}
		var hc *redis.StringSliceCmd
		var sc *redis.StringCmd
		if _, err := r.c.TxPipelined(ctx, func(pp redis.Pipeliner) error {
			sc = pp.HGet(ctx, r.k.routes(p), "\x00seq")
			hc = pp.LRange(ctx, r.k.hist(p), start, start+int64(limit))
			return nil
		}); err != nil {
			return nil, "", fmt.Errorf("store: history: %w", err)
		}
		if now, _ := sc.Uint64(); now != head {
			continue // changed between the two reads: recompute the index
		}
		out := []HistoryEntry{}
		next := ""
		for i, s := range hc.Val() {
			h, err := parseHistEntry(p, s)
			if err != nil {
				return nil, "", fmt.Errorf("store: history: %w", err)
			}
			if i == limit {
				next = cursorHistory.next(strconv.FormatUint(h.Seq+1, 10))
				break
			}
			out = append(out, h.Entry)
		}
		return out, next, nil
	}
	return nil, "", fmt.Errorf("store: history: prefix too busy")
}

// PrefixesByASN implements Store. The per-ASN index is added to on
// announcement and cleaned lazily here: candidates whose paths no longer
// contain the ASN are dropped from the index as they are met.
func (r *Redis) PrefixesByASN(ctx context.Context, asn uint32, pg Page) (_ []netip.Prefix, _ string, err error) {
	defer r.observe("prefixes_by_asn", time.Now(), &err)
	after, err := cursorASN.parse(pg.Cursor, validPrefixKey)
	if err != nil {
		return nil, "", err
	}
	lo := "-"
	if after != "" {
		lo = "(" + after
	}
	limit := clampLimit(pg.Limit)
	key := r.k.asn(asn)
	var out []netip.Prefix
	var keysOut []string
	for {
		ks, err := r.c.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: lo, Max: "+", Count: int64(limit + 1)}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("store: prefixes by asn: %w", err)
		}
		if len(ks) == 0 {
			break
		}
		var ps []netip.Prefix
		for _, k := range ks {
			if p, err := parsePrefixKey(k); err == nil {
				ps = append(ps, p)
			}
		}
		_, sps, err := r.loadPrefixes(ctx, ps)
		if err != nil {
			return nil, "", fmt.Errorf("store: prefixes by asn: %w", err)
		}
		var gone []any
		for i, sp := range sps {
			has := false
			for _, rt := range sp.routes {
				if pathHasASN(rt.Attrs.ASPath, asn) {
					has = true
					break
				}
			}
			if has {
				out = append(out, ps[i])
				keysOut = append(keysOut, prefixKey(ps[i]))
			} else {
				gone = append(gone, prefixKey(ps[i]))
			}
		}
		if len(gone) > 0 {
			r.c.ZRem(ctx, key, gone...)
		}
		if len(out) > limit || len(ks) < limit+1 {
			break
		}
		lo = "(" + ks[len(ks)-1]
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = cursorASN.next(keysOut[limit-1])
	}
	if out == nil {
		out = []netip.Prefix{}
	}
	return out, next, nil
}
