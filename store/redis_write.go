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

// applyChunk writes one chunk in three round trips: the peers' session
// epochs, one applyScript per update (planPath, atomically per prefix),
// then the index and counter changes planIndexes derives from the replies.
func (r *Redis) applyChunk(ctx context.Context, ups []route.Update) error {
	epochs, err := r.readEpochs(ctx, ups)
	if err != nil {
		return err
	}
	res, err := r.applyPaths(ctx, ups, epochs)
	if err != nil {
		return err
	}
	pl := planIndexes(ups, res, true)
	r.m.updates.WithLabelValues("changed").Add(float64(pl.changed))
	r.m.updates.WithLabelValues("unchanged").Add(float64(len(ups) - pl.changed))
	return r.writeIndexes(ctx, &pl)
}

// readEpochs reads the current session epoch of every peer in the chunk,
// and the run id (a changed one means Redis lost data: a gap).
func (r *Redis) readEpochs(ctx context.Context, ups []route.Update) (map[vantage]string, error) {
	addrs := map[vantage]*redis.StringCmd{}
	pipe := r.w.Pipeline()
	runCmd := pipe.Get(ctx, r.k.run())
	for i := range ups {
		a := vantageOf(ups[i].Peer)
		if _, ok := addrs[a]; !ok {
			addrs[a] = pipe.HGet(ctx, r.k.peer(a), "epoch")
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	r.mu.Lock()
	mine := r.runID
	r.mu.Unlock()
	if runCmd.Val() != mine {
		if _, err := r.checkRun(ctx, true); err != nil {
			return nil, err
		}
	}
	epochs := make(map[vantage]string, len(addrs))
	for a, c := range addrs {
		e := c.Val()
		if e == "" {
			e = "0"
		}
		epochs[a] = e
	}
	return epochs, nil
}

// applyPaths runs one atomic applyScript per update and decodes the
// replies.
func (r *Redis) applyPaths(ctx context.Context, ups []route.Update, epochs map[vantage]string) ([]applyResult, error) {
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
			routeField(routeKey{u.Peer, u.PathID}), op, epochs[vantageOf(u.Peer)], nanos(u.Time), attrs,
			encodeTags(u.Tags), hcount, hage, tok + strconv.Itoa(i), p.String(), r.k.inv(),
		}}
	}
	cmds, err := r.evalOn(ctx, r.w, calls)
	// This process reads its own writes: its cached reads of these
	// prefixes are void before ApplyUpdates returns (other processes learn
	// from the notices the script published). Also on error: some calls
	// may have run.
	for i := range ups {
		r.inv.note(ups[i].Prefix.Masked().String())
	}
	if err != nil {
		return nil, err
	}
	res := make([]applyResult, len(ups))
	for i, c := range cmds {
		if res[i], err = parseApplyReply(c); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// parseApplyReply decodes applyScript's reply.
func parseApplyReply(c *redis.Cmd) (applyResult, error) {
	v, err := c.Slice()
	if err != nil || len(v) != 6 {
		return applyResult{}, fmt.Errorf("apply script: unexpected reply %v: %v", v, err)
	}
	toI := func(x any) int64 { n, _ := x.(int64); return n }
	toS := func(x any) string { s, _ := x.(string); return s }
	return applyResult{changed: toI(v[0]) == 1, delta: toI(v[1]), n: toI(v[2]),
		tagsChanged: toI(v[3]) == 1, oldTags: toS(v[4]), tags: toS(v[5])}, nil
}

// writeIndexes issues a plan's changes: one pipeline of idempotent set
// and index writes, then the peer and group scripts.
func (r *Redis) writeIndexes(ctx context.Context, pl *indexPlan) error {
	pipe := r.w.Pipeline()
	for g, ms := range pl.members {
		add, rem := splitMembers(ms, netip.Prefix.String)
		gn := groupName(g)
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
	for p, n := range pl.paths {
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
	for asn, pks := range pl.asns {
		zs := make([]redis.Z, 0, len(pks))
		for pk := range pks {
			zs = append(zs, redis.Z{Member: pk})
		}
		pipe.ZAdd(ctx, r.k.asn(asn), zs...)
	}
	evals := make([]evalCall, 0, len(pl.peers)+len(pl.groups))
	for a, pt := range pl.peers {
		// A set of paths rather than a counter: SADD/SREM are idempotent,
		// so a batch retried after a partial failure counts exactly.
		add, rem := splitMembers(pt.paths, pathRef.member)
		if len(add) > 0 {
			pipe.SAdd(ctx, r.k.peerPaths(a), add...)
		}
		if len(rem) > 0 {
			pipe.SRem(ctx, r.k.peerPaths(a), rem...)
		}
		evals = append(evals, evalCall{s: peerTouchScript, keys: []string{r.k.peer(a), r.k.peers()}, args: []any{
			a.id(), strconv.FormatUint(uint64(pt.asn), 10), pt.source, nanos(pt.last), a.Addr.String()}})
	}
	for g, gc := range pl.groups {
		args := []any{nanos(gc.last), changeWindowMinutes}
		for m, c := range gc.buckets {
			args = append(args, strconv.FormatInt(m, 10), c)
		}
		evals = append(evals, evalCall{s: groupChangesScript, keys: []string{r.k.groupChanges(groupName(g))}, args: args})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	_, err := r.evalOn(ctx, r.w, evals)
	return err
}

// member is a path's member in the peer's path set: "prefix pathid".
func (p pathRef) member() string {
	return p.prefix.String() + " " + strconv.FormatUint(uint64(p.pathID), 10)
}

// splitMembers splits a presence map into the members to add and remove.
func splitMembers[K comparable](m map[K]bool, name func(K) string) (add, rem []any) {
	for k, in := range m {
		if in {
			add = append(add, name(k))
		} else {
			rem = append(rem, name(k))
		}
	}
	return add, rem
}
