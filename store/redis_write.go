package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

// ApplyUpdates implements Store: per chunk, one round trip for peer
// epochs, one for the per-prefix scripts and one for indexes and counters.
func (r *Redis) ApplyUpdates(ctx context.Context, ups []route.Update) (err error) {
	defer r.observe("apply_updates", time.Now(), &err)
	for i := range ups {
		if err := validUpdate(&ups[i]); err != nil {
			return fmt.Errorf("store: apply updates: %w", err)
		}
	}
	for len(ups) > 0 {
		n := min(len(ups), r.cfg.ChunkSize)
		if err := r.applyChunk(ctx, ups[:n]); err != nil {
			return fmt.Errorf("store: apply updates: %w", err)
		}
		ups = ups[n:]
	}
	return nil
}

type applyResult struct {
	changed, tagsChanged bool
	delta, n             int64
	oldTags, tags        string
}

func (r *Redis) applyChunk(ctx context.Context, ups []route.Update) error {
	// Round 1: the current session epoch of every peer in the chunk, and
	// the run id (a changed one means Redis lost data: a gap).
	addrs := map[netip.Addr]*redis.StringCmd{}
	pipe := r.c.Pipeline()
	runCmd := pipe.Get(ctx, r.k.run())
	for i := range ups {
		a := ups[i].Peer.Addr
		if _, ok := addrs[a]; !ok {
			addrs[a] = pipe.HGet(ctx, r.k.peer(a), "epoch")
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	r.mu.Lock()
	mine := r.runID
	r.mu.Unlock()
	if runCmd.Val() != mine {
		if _, err := r.checkRun(ctx, true); err != nil {
			return err
		}
	}
	epochs := make(map[netip.Addr]string, len(addrs))
	for a, c := range addrs {
		e := c.Val()
		if e == "" {
			e = "0"
		}
		epochs[a] = e
	}

	// Round 2: one atomic script per update.
	calls := make([]evalCall, len(ups))
	hcount, hage := strconv.Itoa(r.cfg.HistoryCount), strconv.FormatInt(int64(r.cfg.HistoryAge), 10)
	// One unique version token per script call: a reader between two
	// calls of this chunk on one prefix must see two versions.
	tok := newToken() + "."
	for i := range ups {
		u := &ups[i]
		p := u.Prefix.Masked()
		op, attrs := "W", ""
		if !u.Withdraw {
			op, attrs = "A", string(encodeAttrs(u.Attrs))
		}
		calls[i] = evalCall{s: applyScript, keys: []string{r.k.routes(p), r.k.hist(p)}, args: []any{
			routeField(routeKey{u.Peer, u.PathID}), op, epochs[u.Peer.Addr], nanos(u.Time), attrs,
			encodeTags(u.Tags), hcount, hage, tok + strconv.Itoa(i), p.String(), r.k.inv(),
		}}
	}
	cmds, err := r.evalAll(ctx, calls)
	// This process reads its own writes: its cached reads of these
	// prefixes are void before ApplyUpdates returns (other processes learn
	// from the notices the script published). Also on error: some calls
	// may have run.
	for i := range ups {
		r.inv.note(ups[i].Prefix.Masked().String())
	}
	if err != nil {
		return err
	}
	res := make([]applyResult, len(ups))
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil || len(v) != 6 {
			return fmt.Errorf("apply script: unexpected reply %v: %v", v, err)
		}
		toI := func(x any) int64 { n, _ := x.(int64); return n }
		toS := func(x any) string { s, _ := x.(string); return s }
		res[i] = applyResult{changed: toI(v[0]) == 1, delta: toI(v[1]), n: toI(v[2]),
			tagsChanged: toI(v[3]) == 1, oldTags: toS(v[4]), tags: toS(v[5])}
	}

	// Round 3: indexes and counters derived from what changed.
	type peerAgg struct {
		asn  uint32
		src  string
		last time.Time
		// paths: final presence of each "prefix pathid" in this chunk.
		paths map[string]bool
	}
	peers := map[netip.Addr]*peerAgg{}
	famState := map[netip.Prefix]int64{}
	asnAdds := map[uint32]map[string]struct{}{}
	type grpAgg struct {
		last    time.Time
		buckets map[int64]int64
	}
	groups := map[string]*grpAgg{}
	members := map[string]map[string]bool{} // group -> prefix -> member
	member := func(gn string) map[string]bool {
		if members[gn] == nil {
			members[gn] = map[string]bool{}
		}
		return members[gn]
	}
	groupCache := map[string][]string{}
	groupsOf := func(tags string) []string {
		if gs, ok := groupCache[tags]; ok {
			return gs
		}
		ts, _ := decodeTags(tags)
		var gs []string
		for _, g := range tagGroups(ts) {
			gs = append(gs, groupName(g))
		}
		groupCache[tags] = gs
		return gs
	}
	changed := 0
	for i := range ups {
		u, rs := &ups[i], res[i]
		p := u.Prefix.Masked()
		pa := peers[u.Peer.Addr]
		if pa == nil {
			pa = &peerAgg{paths: map[string]bool{}}
			peers[u.Peer.Addr] = pa
		}
		if u.Peer.ASN != 0 {
			pa.asn = u.Peer.ASN
		}
		if u.Source != "" {
			pa.src = u.Source
		}
		if u.Time.After(pa.last) {
			pa.last = u.Time
		}
		// Group membership follows the prefix's current tags; adds are
		// re-issued for every update (idempotent, repairs retries).
		ps := p.String()
		if rs.tagsChanged {
			for _, gn := range groupsOf(rs.oldTags) {
				member(gn)[ps] = false
			}
		}
		for _, gn := range groupsOf(rs.tags) {
			member(gn)[ps] = true
		}
		// Index writes are idempotent and issued for unchanged updates
		// too, so a retried batch repairs what an interrupted one missed.
		famState[p] = rs.n
		pa.paths[p.String()+" "+strconv.FormatUint(uint64(u.PathID), 10)] = !u.Withdraw
		if !u.Withdraw {
			pk := prefixKey(p)
			for _, a := range pathASNs(u.Attrs.ASPath) {
				if asnAdds[a] == nil {
					asnAdds[a] = map[string]struct{}{}
				}
				asnAdds[a][pk] = struct{}{}
			}
		}
		if !rs.changed {
			continue
		}
		changed++
		for _, gn := range groupsOf(rs.tags) {
			ga := groups[gn]
			if ga == nil {
				ga = &grpAgg{buckets: map[int64]int64{}}
				groups[gn] = ga
			}
			ga.buckets[minuteOf(u.Time)]++
			if u.Time.After(ga.last) {
				ga.last = u.Time
			}
		}
	}
	r.m.updates.WithLabelValues("changed").Add(float64(changed))
	r.m.updates.WithLabelValues("unchanged").Add(float64(len(ups) - changed))

	pipe = r.c.Pipeline()
	for gn, ms := range members {
		var add, rem []any
		for m, in := range ms {
			if in {
				add = append(add, m)
			} else {
				rem = append(rem, m)
			}
		}
		if len(add) > 0 {
			pipe.SAdd(ctx, r.k.groupMembers(gn), add...)
			pipe.SAdd(ctx, r.k.groups(), gn)
		}
		if len(rem) > 0 {
			pipe.SRem(ctx, r.k.groupMembers(gn), rem...)
		}
	}
	// One multi-member ZADD/ZREM per index key and chunk.
	famAdd := map[bool][]redis.Z{}
	famRem := map[bool][]any{}
	for p, n := range famState {
		is4 := p.Addr().Is4()
		if n > 0 {
			famAdd[is4] = append(famAdd[is4], redis.Z{Member: prefixKey(p)})
		} else {
			famRem[is4] = append(famRem[is4], prefixKey(p))
		}
	}
	for is4, zs := range famAdd {
		pipe.ZAdd(ctx, r.k.family(is4), zs...)
	}
	for is4, ms := range famRem {
		pipe.ZRem(ctx, r.k.family(is4), ms...)
	}
	for asn, pks := range asnAdds {
		zs := make([]redis.Z, 0, len(pks))
		for pk := range pks {
			zs = append(zs, redis.Z{Member: pk})
		}
		pipe.ZAdd(ctx, r.k.asn(asn), zs...)
	}
	var evals []evalCall
	for a, pa := range peers {
		// A set of paths rather than a counter: SADD/SREM are idempotent,
		// so a batch retried after a partial failure counts exactly.
		var add, rem []any
		for m, present := range pa.paths {
			if present {
				add = append(add, m)
			} else {
				rem = append(rem, m)
			}
		}
		if len(add) > 0 {
			pipe.SAdd(ctx, r.k.peerPaths(a), add...)
		}
		if len(rem) > 0 {
			pipe.SRem(ctx, r.k.peerPaths(a), rem...)
		}
		evals = append(evals, evalCall{s: peerTouchScript, keys: []string{r.k.peer(a), r.k.peers()}, args: []any{
			a.String(), strconv.FormatUint(uint64(pa.asn), 10), pa.src, nanos(pa.last)}})
	}
	for gn, ga := range groups {
		args := []any{nanos(ga.last), changeWindowMinutes}
		for m, c := range ga.buckets {
			args = append(args, strconv.FormatInt(m, 10), c)
		}
		evals = append(evals, evalCall{s: groupChangesScript, keys: []string{r.k.groupChanges(gn)}, args: args})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	_, err = r.evalAll(ctx, evals)
	return err
}
