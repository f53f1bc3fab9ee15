package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

// RedisConfig configures the Redis backend.
type RedisConfig struct {
	// URL: redis://[user:password@]host:port/db or rediss:// for TLS.
	// With Cluster set, a cluster URL: redis://host1:port?addr=host2:port.
	URL     string `yaml:"url"`
	Cluster bool   `yaml:"cluster"`
	// KeyPrefix starts every key (default "rw"), so several deployments or
	// test runs can share one server.
	KeyPrefix string `yaml:"key_prefix"`
	// Stream is the update stream's name (under KeyPrefix, default "updates").
	Stream string `yaml:"stream"`
	// StreamMaxLen trims the stream approximately (entries = batches).
	StreamMaxLen int64 `yaml:"stream_max_len"`
	// ChunkSize is the number of updates per pipeline round trip.
	ChunkSize int `yaml:"chunk_size"`
	// GapCheck is how often Run verifies that Redis kept its data.
	GapCheck time.Duration `yaml:"gap_check"`
	// SummaryTTL is how long provider/region summaries (Groups, Group)
	// are reused: computing them reads every watched prefix. They lag
	// writes (this process's too) by up to the TTL. Default 2s; negative
	// reads through (exact, as Memory).
	SummaryTTL time.Duration `yaml:"summary_ttl"`
	// RouteCache is how many prefixes' decoded routes a reader keeps
	// (least recently used go first). A lookup asks Redis whether the
	// prefix changed, and an unchanged one answers with its version token
	// instead of every path and is not decoded again. While Run keeps the
	// change-notice subscription (invalidate.go), an exact lookup that no
	// notice voided needs no round trip at all; another process's write
	// then shows after its notice arrives (milliseconds; at most 30 s if
	// notices are lost unnoticed). Default 16384; negative: off.
	RouteCache int `yaml:"route_cache"`
	Retention  `yaml:",inline"`
}

func (c RedisConfig) withDefaults() RedisConfig {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "rw"
	}
	if c.Stream == "" {
		c.Stream = "updates"
	}
	if c.StreamMaxLen <= 0 {
		c.StreamMaxLen = 100000
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 2000
	}
	if c.GapCheck <= 0 {
		c.GapCheck = 5 * time.Second
	}
	if c.RouteCache == 0 {
		c.RouteCache = 16384
	}
	if c.SummaryTTL == 0 {
		c.SummaryTTL = 2 * time.Second
	}
	c.Retention = c.Retention.withDefaults()
	return c
}

// Redis is the shared, durable Store on Redis (single node or Cluster).
type Redis struct {
	cfg    RedisConfig
	c      redis.UniversalClient
	log    *slog.Logger
	m      *metrics
	k      keys
	mu     sync.Mutex
	runID  string
	closed bool
	sum    summaryCache
	ps     peerStatusCache
	rc     *lru.Cache[netip.Prefix, *routeEntry] // nil: RouteCache off
	inv    *invalidations
	evc    *lru.Cache[string, *eventsEntry]
	evTok  struct {
		mu  sync.Mutex
		tok string
		st  stamp
	}
}

// routeEntry is a route-cache entry: a decoded record and what the read
// that confirmed it saw (invalidations).
type routeEntry struct {
	sp *storedPrefix
	st stamp
}

var _ Store = (*Redis)(nil)

// keys lays out the key space. Per-prefix keys share a {p:...} hash tag so
// one script updates routes and history atomically on a cluster slot;
// small global structures each live under one tag. With prefix "rw":
//
//	rw:{p:192.0.2.0/24}:r   hash: "addr asn pathid" -> "<since ns> <epoch>\n<attrs>",
//	                        plus \x00n (paths), \x00seq, \x00tags, \x00hz (history horizon)
//	rw:{p:192.0.2.0/24}:h   list: history entries, newest first (count/age bounded)
//	rw:{i}:pfx4, :pfx6      zset (lex): prefixes with paths, for covered lookups
//	rw:{a:16509}:p          zset (lex): prefixes whose paths contain the ASN (cleaned lazily)
//	rw:{peers}:all, :p:<addr>, :h:<addr>   peer set, peer hash, session history list
//	rw:{peers}:n:<addr>                    set of the peer's paths ("prefix pathid"): SCARD = count
//	rw:{peers}:ver                         random token, replaced with every session change (status cache)
//	rw:{inv}                               pub/sub channel: change notices (prefix, or "peers"; invalidate.go)
//	rw:{g}:all, :m:<grp>, :c:<grp>         groups, member prefixes, per-minute change counts
//	rw:{ev}:d, :x, :ix:<facet>             events JSON, index membership, lex indexes (start|id)
//	rw:{ev}:ver                            random token, replaced with every event put (EventsVersion)
//	rw:{ob}:d, :due, :fin, :out            outbox records, due/lease zset, finished ids, outcomes
//	rw:{meta}:run                          run id: a different one means Redis lost data
//	rw:{s:updates}                         the update stream
type keys struct{ pre string }

func (k keys) routes(p netip.Prefix) string { return k.pre + ":{p:" + p.String() + "}:r" }
func (k keys) hist(p netip.Prefix) string   { return k.pre + ":{p:" + p.String() + "}:h" }
func (k keys) family(is4 bool) string {
	if is4 {
		return k.pre + ":{i}:pfx4"
	}
	return k.pre + ":{i}:pfx6"
}
func (k keys) asn(a uint32) string           { return k.pre + ":{a:" + strconv.FormatUint(uint64(a), 10) + "}:p" }
func (k keys) peer(a netip.Addr) string      { return k.pre + ":{peers}:p:" + a.String() }
func (k keys) peers() string                 { return k.pre + ":{peers}:all" }
func (k keys) peersVer() string              { return k.pre + ":{peers}:ver" }
func (k keys) inv() string                   { return k.pre + ":{inv}" }
func (k keys) sessions(a netip.Addr) string  { return k.pre + ":{peers}:h:" + a.String() }
func (k keys) peerPaths(a netip.Addr) string { return k.pre + ":{peers}:n:" + a.String() }
func (k keys) groups() string                { return k.pre + ":{g}:all" }
func (k keys) groupMembers(g string) string  { return k.pre + ":{g}:m:" + g }
func (k keys) groupChanges(g string) string  { return k.pre + ":{g}:c:" + g }
func (k keys) evData() string                { return k.pre + ":{ev}:d" }
func (k keys) evIndexOf() string             { return k.pre + ":{ev}:x" }
func (k keys) evIndex(name string) string    { return k.pre + ":{ev}:ix:" + name }
func (k keys) evVer() string                 { return k.pre + ":{ev}:ver" }
func (k keys) obData() string                { return k.pre + ":{ob}:d" }
func (k keys) obDue() string                 { return k.pre + ":{ob}:due" }
func (k keys) obFinished() string            { return k.pre + ":{ob}:fin" }
func (k keys) obOutcome() string             { return k.pre + ":{ob}:out" }
func (k keys) run() string                   { return k.pre + ":{meta}:run" }
func (k keys) stream(name string) string     { return k.pre + ":{s:" + name + "}" }

func groupName(g route.Group) string { return g.Provider + "\t" + g.Region }

func parseGroupName(s string) route.Group {
	p, r, _ := strings.Cut(s, "\t")
	return route.Group{Provider: p, Region: r}
}

// NewRedis connects, loads the scripts and records (or adopts) the run id
// used to notice a Redis that came back empty.
func NewRedis(ctx context.Context, cfg RedisConfig, logger *slog.Logger, reg prometheus.Registerer) (*Redis, error) {
	// go-redis logs pool dial failures through a process-wide logger of
	// its own (plain text on stderr); route them into the structured log
	// of the first store created (setting it is not safe concurrently).
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{logger}) })
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var c redis.UniversalClient
	if cfg.Cluster {
		o, err := redis.ParseClusterURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("store: parse redis url: %w", err)
		}
		c = redis.NewClusterClient(o)
	} else {
		o, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("store: parse redis url: %w", err)
		}
		c = redis.NewClient(o)
	}
	r := &Redis{cfg: cfg, c: c, log: logger, m: newMetrics(reg), k: keys{pre: cfg.KeyPrefix}, sum: summaryCache{ttl: cfg.SummaryTTL},
		inv: newInvalidations()}
	r.evc, _ = lru.New[string, *eventsEntry](eventsCachePages)
	if cfg.RouteCache > 0 {
		r.rc, _ = lru.New[netip.Prefix, *routeEntry](cfg.RouteCache)
	}
	if err := r.loadScripts(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: connect redis: %w", err)
	}
	if _, err := r.checkRun(ctx, false); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: connect redis: %w", err)
	}
	return r, nil
}

func (r *Redis) loadScripts(ctx context.Context) error {
	load := func(ctx context.Context, c redis.Scripter) error {
		for _, s := range allScripts {
			if err := s.Load(ctx, c).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	if cc, ok := r.c.(*redis.ClusterClient); ok {
		return cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return load(ctx, c) })
	}
	return load(ctx, r.c)
}

// checkRun compares the run id in Redis with ours. A missing or different
// id after we started means Redis lost its data (restarted without
// persistence, flushed, failed over to an empty replica): a gap.
func (r *Redis) checkRun(ctx context.Context, surface bool) (bool, error) {
	got, err := r.c.Get(ctx, r.k.run()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, err
	}
	r.mu.Lock()
	mine := r.runID
	r.mu.Unlock()
	if got != "" && got == mine {
		return false, nil
	}
	if got == "" {
		id := newToken()
		ok, err := r.c.SetNX(ctx, r.k.run(), id, 0).Result()
		if err != nil {
			return false, err
		}
		if !ok {
			if id, err = r.c.Get(ctx, r.k.run()).Result(); err != nil {
				return false, err
			}
		}
		got = id
	}
	r.mu.Lock()
	r.runID = got
	r.mu.Unlock()
	gap := surface && mine != ""
	if gap {
		r.m.gaps.Inc()
		r.log.Warn("store: redis came back without our data; state before now is missing (gap)",
			"run_id_before", mine, "run_id_now", got)
	}
	return gap, nil
}

// Gap checks now whether Redis lost its data since the last check.
func (r *Redis) Gap(ctx context.Context) (bool, error) { return r.checkRun(ctx, true) }

// Run watches for a Redis that came back empty while idle; writes check on
// every batch too. It returns when ctx ends.
func (r *Redis) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.runInvalidations(ctx)
	}()
	defer func() { <-done }()
	t := time.NewTicker(r.cfg.GapCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := r.checkRun(ctx, true); err != nil && ctx.Err() == nil {
				r.m.errors.WithLabelValues("gap_check").Inc()
				r.log.Warn("store: redis gap check", "err", err)
			}
		}
	}
}

func (r *Redis) observe(op string, start time.Time, err *error) {
	r.m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if *err != nil {
		r.m.errors.WithLabelValues(op).Inc()
	}
}

// evalCall is one script invocation inside a pipeline.
type evalCall struct {
	s    *redis.Script
	keys []string
	args []any
}

// evalAll runs the calls pipelined. Scripts vanish when Redis restarts, so
// NOSCRIPT reloads them and re-runs just the failed calls.
func (r *Redis) evalAll(ctx context.Context, calls []evalCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	todo := make([]int, len(calls))
	for i := range todo {
		todo[i] = i
	}
	for attempt := 0; ; attempt++ {
		pipe := r.c.Pipeline()
		for _, i := range todo {
			cmds[i] = calls[i].s.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
		var again []int
		var firstErr error
		for _, i := range todo {
			err := cmds[i].Err()
			switch {
			case err == nil || errors.Is(err, redis.Nil):
			case redis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0:
				again = append(again, i)
			case firstErr == nil:
				firstErr = err
			}
		}
		if firstErr != nil {
			return nil, firstErr
		}
		if len(again) == 0 {
			return cmds, nil
		}
		if err := r.loadScripts(ctx); err != nil {
			return nil, err
		}
		todo = again
	}
}

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

// ApplyPeerStates implements Store. Session changes are rare, so each is
// an optimistic transaction around the same logic Memory uses.
func (r *Redis) ApplyPeerStates(ctx context.Context, states []route.PeerState) (err error) {
	defer r.observe("apply_peer_states", time.Now(), &err)
	for _, s := range states {
		if !s.Peer.Addr.IsValid() {
			return fmt.Errorf("store: apply peer states: %w peer address", ErrInvalid)
		}
	}
	for _, s := range states {
		key := r.k.peer(s.Peer.Addr)
		for attempt := 0; ; attempt++ {
			err := r.c.Watch(ctx, func(tx *redis.Tx) error {
				m, err := tx.HGetAll(ctx, key).Result()
				if err != nil {
					return err
				}
				p := peerFromFields(m)
				if !p.applyState(s) && len(m) > 0 {
					return nil
				}
				_, err = tx.TxPipelined(ctx, func(pp redis.Pipeliner) error {
					pp.HSet(ctx, key, p.fields())
					// Readers cache peer statuses under this token; a new
					// random one (not a counter, which restarts after data
					// loss) invalidates every cached status.
					pp.Set(ctx, r.k.peersVer(), newToken(), 0)
					pp.Publish(ctx, r.k.inv(), peersNotice)
					pp.SAdd(ctx, r.k.peers(), s.Peer.Addr.String())
					pp.LPush(ctx, r.k.sessions(s.Peer.Addr), EncodeBatch(Batch{States: []route.PeerState{s}}))
					pp.LTrim(ctx, r.k.sessions(s.Peer.Addr), 0, SessionHistoryLen-1)
					return nil
				})
				return err
			}, key)
			r.inv.note(peersNotice) // read our own writes (see ApplyUpdates)
			if errors.Is(err, redis.TxFailedErr) && attempt < 20 {
				continue
			}
			if err != nil {
				return fmt.Errorf("store: apply peer states: %w", err)
			}
			break
		}
	}
	return nil
}

// SessionHistory implements Store.
func (r *Redis) SessionHistory(ctx context.Context, addr netip.Addr, limit int) (_ []route.PeerState, err error) {
	defer r.observe("session_history", time.Now(), &err)
	vals, err := r.c.LRange(ctx, r.k.sessions(addr), 0, int64(clampLimit(limit))-1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: session history: %w", err)
	}
	out := make([]route.PeerState, 0, len(vals))
	for _, v := range vals {
		b, err := DecodeBatch([]byte(v))
		if err != nil || len(b.States) != 1 {
			return nil, fmt.Errorf("store: session history: %w", ErrCorrupt)
		}
		out = append(out, b.States[0])
	}
	return out, nil
}

// peerStatuses reads the staleness inputs of the given peers. ver is the
// peers' version token read together with the routes (see peerStatusCache):
// when it matches the cache, no round trip is needed. It returns the token
// the statuses are at least as new as ("" when unknown).
func (r *Redis) peerStatuses(ctx context.Context, addrs map[netip.Addr]bool, ver string) (map[netip.Addr]peerStatus, string, error) {
	if len(addrs) == 0 {
		return nil, ver, nil
	}
	out, missing := r.ps.lookup(ver, addrs)
	if len(missing) == 0 {
		return out, ver, nil
	}
	fresh := len(missing) == len(addrs) // nothing came from the cache
	// The token is re-read before the statuses on the same slot, so they
	// are at least as new as it; a store without a token (nothing changed
	// sessions since it was created) gets one here.
	seen := r.inv.stamp(netip.Prefix{})
	pipe := r.c.Pipeline()
	pipe.SetNX(ctx, r.k.peersVer(), newToken(), 0)
	verCmd := pipe.Get(ctx, r.k.peersVer())
	cmds := make(map[netip.Addr]*redis.SliceCmd, len(missing))
	for _, a := range missing {
		cmds[a] = pipe.HMGet(ctx, r.k.peer(a), "known", "state", "epoch")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", err
	}
	got := make(map[netip.Addr]peerStatus, len(cmds))
	for a, c := range cmds {
		v := c.Val()
		s := func(i int) string { x, _ := v[i].(string); return x }
		st, _ := strconv.Atoi(s(1))
		ep, _ := strconv.ParseUint(s(2), 10, 64)
		ps := peerStatus{Known: s(0) == "1", State: route.SessionState(st), Epoch: ep}
		got[a] = ps
		out[a] = ps
	}
	now := verCmd.Val()
	r.ps.store(now, got, seen)
	if !fresh && now != ver {
		// Statuses cached under ver may predate now: the answer is only
		// as current as its oldest part.
		return out, "", nil
	}
	return out, now, nil
}

// newToken is a random 64-bit hex token (run ids, version tokens).
func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// peerStatusCache keeps the peers' session statuses between reads. Every
// session change replaces the {peers}:ver token in the same transaction,
// and readers fetch the token in the pipeline that reads the routes, so a
// cached status is used only while the token it was read under is still
// current: exact, and a route lookup is one round trip instead of two.
// A status fetched after the token may be newer than the token; it is
// cached under the old token and thrown away at the next change, which is
// conservative.
type peerStatusCache struct {
	mu  sync.Mutex
	ver string
	st  map[netip.Addr]peerStatus
	// seen: what a read that found ver current saw (invalidations).
	seen stamp
}

// observe records that ver was current when a read stamped st asked.
func (c *peerStatusCache) observe(ver string, st stamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ver != "" && ver == c.ver {
		c.seen = st
	}
}

// token returns the cached token while no session-change notice may have
// replaced it since it was last seen current.
func (c *peerStatusCache) token(inv *invalidations) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ver == "" || !inv.peersCurrent(c.seen) {
		return "", false
	}
	return c.ver, true
}

// peerStatusCacheMax bounds the cache; beyond it the cache restarts.
const peerStatusCacheMax = 1 << 16

// lookup returns the cached statuses of addrs under ver and the addresses
// it does not hold (all of them when ver is not the cached token).
func (c *peerStatusCache) lookup(ver string, addrs map[netip.Addr]bool) (map[netip.Addr]peerStatus, []netip.Addr) {
	out := make(map[netip.Addr]peerStatus, len(addrs))
	var missing []netip.Addr
	c.mu.Lock()
	defer c.mu.Unlock()
	hit := ver != "" && ver == c.ver
	for a := range addrs {
		if st, ok := c.st[a]; ok && hit {
			out[a] = st
			continue
		}
		missing = append(missing, a)
	}
	return out, missing
}

func (c *peerStatusCache) store(ver string, got map[netip.Addr]peerStatus, seen stamp) {
	if ver == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ver != c.ver || len(c.st)+len(got) > peerStatusCacheMax {
		c.ver, c.st = ver, make(map[netip.Addr]peerStatus, len(got))
	}
	c.seen = seen
	for a, st := range got {
		c.st[a] = st
	}
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
	ver        string // \x00v: the token of the last change ("" before versions existed)
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
	addrs := map[netip.Addr]bool{}
	for _, sp := range sps {
		for _, rt := range sp.routes {
			addrs[rt.Peer.Addr] = true
		}
	}
	st, ver, err := r.peerStatuses(ctx, addrs, ver)
	if err != nil {
		return nil, nil, err
	}
	out := make([]PrefixRoutes, 0, len(ps))
	for i, sp := range sps {
		if len(sp.routes) == 0 {
			continue
		}
		// The decoded record may be shared through the cache: the answer
		// gets its own routes with this moment's staleness.
		rs := slices.Clone(sp.routes)
		for j := range rs {
			rs[j].Stale = st[rs[j].Peer.Addr].stale(sp.epochs[j])
		}
		pr := PrefixRoutes{Prefix: ps[i], Tags: sp.tags, Routes: rs}
		if sp.ver != "" && ver != "" {
			pr.Version = sp.ver + "/" + ver
		}
		out = append(out, pr)
	}
	return out, sps, nil
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
	before := uint64(0)
	if pg.Cursor != "" {
		pos, err := decodeCursor("h1", pg.Cursor)
		if err != nil {
			return nil, "", err
		}
		if before, err = strconv.ParseUint(pos, 10, 64); err != nil || before == 0 {
			return nil, "", ErrBadCursor
		}
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
				next = encodeCursor("h1", strconv.FormatUint(h.Seq+1, 10))
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
	lo := "-"
	if pg.Cursor != "" {
		pos, err := decodeCursor("a1", pg.Cursor)
		if err != nil {
			return nil, "", err
		}
		if _, err := parsePrefixKey(pos); err != nil {
			return nil, "", ErrBadCursor
		}
		lo = "(" + pos
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
		next = encodeCursor("a1", keysOut[limit-1])
	}
	if out == nil {
		out = []netip.Prefix{}
	}
	return out, next, nil
}

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
	if f.Page.Cursor != "" {
		pos, err := decodeCursor("e1", f.Page.Cursor)
		if err != nil {
			return nil, "", err
		}
		if !validEventMember(pos) {
			return nil, "", ErrBadCursor
		}
		if f.From.IsZero() || pos >= startKey(f.From) {
			lo = "(" + pos
		}
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
		next = encodeCursor("e1", mems[limit-1])
	}
	if out == nil {
		out = []route.Event{}
	}
	return out, next, nil
}

// Peers implements Store.
func (r *Redis) Peers(ctx context.Context) (_ []PeerInfo, err error) {
	defer r.observe("peers", time.Now(), &err)
	recs, err := r.allPeers(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: peers: %w", err)
	}
	out := make([]PeerInfo, 0, len(recs))
	for _, p := range recs {
		out = append(out, p.info())
	}
	sortPeers(out)
	return out, nil
}

func (r *Redis) allPeers(ctx context.Context) (map[netip.Addr]peerRec, error) {
	addrs, err := r.c.SMembers(ctx, r.k.peers()).Result()
	if err != nil {
		return nil, err
	}
	pipe := r.c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(addrs))
	counts := make([]*redis.IntCmd, len(addrs))
	for i, a := range addrs {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("%w: peer address %q", ErrCorrupt, a)
		}
		cmds[i] = pipe.HGetAll(ctx, r.k.peer(addr))
		counts[i] = pipe.SCard(ctx, r.k.peerPaths(addr))
	}
	if len(addrs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	out := make(map[netip.Addr]peerRec, len(addrs))
	for i, c := range cmds {
		p := peerFromFields(c.Val())
		p.Prefixes = int(counts[i].Val())
		if p.Peer.Addr.IsValid() {
			out[p.Peer.Addr] = p
		}
	}
	return out, nil
}

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

func ms(t time.Time) int64 { return t.UnixMilli() }

// Enqueue implements Store.
func (r *Redis) Enqueue(ctx context.Context, ds []Delivery) (err error) {
	defer r.observe("enqueue", time.Now(), &err)
	calls := make([]evalCall, 0, len(ds))
	for _, d := range ds {
		if d.ID == "" {
			return fmt.Errorf("store: enqueue: %w: empty id", ErrInvalid)
		}
		js, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("store: enqueue: %w", err)
		}
		calls = append(calls, evalCall{s: enqueueScript, keys: []string{r.k.obData(), r.k.obDue(), r.k.obFinished()},
			args: []any{d.ID, js, ms(d.NextAttempt)}})
	}
	if _, err := r.evalAll(ctx, calls); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	return nil
}

// Due implements Store: one script picks and leases atomically, so two
// workers never get the same delivery while the lease lasts.
func (r *Redis) Due(ctx context.Context, now time.Time, lease time.Duration, limit int) (_ []Delivery, err error) {
	defer r.observe("due", time.Now(), &err)
	if limit <= 0 {
		return []Delivery{}, nil
	}
	cmds, err := r.evalAll(ctx, []evalCall{{s: dueScript, keys: []string{r.k.obData(), r.k.obDue()},
		args: []any{ms(now), ms(now.Add(lease)), limit}}})
	if err != nil {
		return nil, fmt.Errorf("store: due: %w", err)
	}
	vals, err := cmds[0].StringSlice()
	if err != nil {
		return nil, fmt.Errorf("store: due: %w", err)
	}
	out := make([]Delivery, 0, len(vals))
	for _, v := range vals {
		var d Delivery
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return nil, fmt.Errorf("store: due: %w: %v", ErrCorrupt, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Reschedule implements Store.
func (r *Redis) Reschedule(ctx context.Context, d Delivery) (err error) {
	defer r.observe("reschedule", time.Now(), &err)
	cur, err := r.c.HGet(ctx, r.k.obData(), d.ID).Bytes()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: reschedule: %w", err)
	}
	var stored Delivery
	if err := json.Unmarshal(cur, &stored); err != nil {
		return fmt.Errorf("store: reschedule: %w: %v", ErrCorrupt, err)
	}
	stored.Attempts, stored.NextAttempt, stored.LastError = d.Attempts, d.NextAttempt, d.LastError
	js, _ := json.Marshal(stored)
	cmds, err := r.evalAll(ctx, []evalCall{{s: rescheduleScript, keys: []string{r.k.obData(), r.k.obDue()},
		args: []any{d.ID, js, ms(d.NextAttempt)}}})
	if err != nil {
		return fmt.Errorf("store: reschedule: %w", err)
	}
	if n, _ := cmds[0].Int(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Finish implements Store.
func (r *Redis) Finish(ctx context.Context, id string, o Outcome, at time.Time) (err error) {
	defer r.observe("finish", time.Now(), &err)
	cmds, err := r.evalAll(ctx, []evalCall{{s: finishScript,
		keys: []string{r.k.obData(), r.k.obDue(), r.k.obFinished(), r.k.obOutcome()},
		args: []any{id, string(o), ms(at), r.cfg.FinishedDeliveries}}})
	if err != nil {
		return fmt.Errorf("store: finish: %w", err)
	}
	if n, _ := cmds[0].Int(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close implements Store.
func (r *Redis) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.c.Close()
}

// redisLogOnce guards go-redis's process-wide logger setting.
var redisLogOnce sync.Once

// redisLog adapts slog to go-redis's internal logger.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "store: redis client", "detail", fmt.Sprintf(format, v...))
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
	var peers map[netip.Addr]peerRec
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
