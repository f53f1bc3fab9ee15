package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Redis is the shared, durable Store on Redis (single node or Cluster).
type Redis struct {
	cfg RedisConfig
	c   redis.UniversalClient
	// w carries ApplyUpdates' round trips on a pool of its own, so reads
	// never wait for a connection behind a write batch, nor it behind them.
	w      redis.UniversalClient
	log    *slog.Logger
	m      *metrics
	k      keys
	mu     sync.Mutex
	runID  string
	closed bool
	sum    summaryCache
	ps     peerStatusCache
	rc     *routeCache // nil: RouteCache off
	inv    *invalidations
	evc    *lru.Cache[string, *eventsEntry]
	evTok  struct {
		mu  sync.Mutex
		tok string
		st  stamp
	}
}

var _ Store = (*Redis)(nil)

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
	c, err := newClient(cfg, 0)
	if err != nil {
		return nil, err
	}
	w, err := newClient(cfg, writePool)
	if err != nil {
		c.Close()
		return nil, err
	}
	r := &Redis{cfg: cfg, c: c, w: w, log: logger, m: newMetrics(reg), k: keys{pre: cfg.KeyPrefix}, sum: summaryCache{ttl: cfg.SummaryTTL},
		inv: newInvalidations()}
	r.evc, _ = lru.New[string, *eventsEntry](eventsCachePages)
	r.rc = newRouteCache(cfg.RouteCache)
	if err := r.loadScripts(ctx); err != nil {
		c.Close()
		w.Close()
		return nil, fmt.Errorf("store: connect redis: %w", err)
	}
	if _, err := r.checkRun(ctx, false); err != nil {
		c.Close()
		w.Close()
		return nil, fmt.Errorf("store: connect redis: %w", err)
	}
	return r, nil
}

// writePool is the size of the write client's pool: ApplyUpdates issues
// its round trips one after another, so a few writers share it.
const writePool = 4

// newClient connects a client of cfg; poolSize 0 keeps go-redis's default
// (10 per CPU) or the URL's pool_size.
func newClient(cfg RedisConfig, poolSize int) (redis.UniversalClient, error) {
	if cfg.Cluster {
		o, err := redis.ParseClusterURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("store: parse redis url: %w", err)
		}
		if poolSize > 0 {
			o.PoolSize = poolSize
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("store: parse redis url: %w", err)
	}
	if poolSize > 0 {
		o.PoolSize = poolSize
	}
	return redis.NewClient(o), nil
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

// scriptsPerTrip bounds the scripts sent in one round trip. Redis runs a
// connection's pipelined commands back to back and is single-threaded: a
// round trip of 100 apply scripts (~80 µs each) holds every other client,
// the API's reads among them, for 8 ms. Slices of 16 let reads in between
// (about 1 ms apart) for a round trip's overhead per slice.
const scriptsPerTrip = 16

// evalAll runs the calls pipelined, scriptsPerTrip at a time and in order,
// on the read client.
func (r *Redis) evalAll(ctx context.Context, calls []evalCall) ([]*redis.Cmd, error) {
	return r.evalOn(ctx, r.c, calls)
}

// evalOn runs the calls pipelined on c, scriptsPerTrip at a time and in
// order (a later call may depend on an earlier one's effect).
func (r *Redis) evalOn(ctx context.Context, c redis.UniversalClient, calls []evalCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, 0, len(calls))
	for len(calls) > 0 {
		n := min(len(calls), scriptsPerTrip)
		got, err := r.evalTrip(ctx, c, calls[:n])
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, got...)
		calls = calls[n:]
	}
	return cmds, nil
}

// evalTrip runs the calls in one pipeline. Scripts vanish when Redis
// restarts, so NOSCRIPT reloads them and re-runs just the failed calls.
func (r *Redis) evalTrip(ctx context.Context, c redis.UniversalClient, calls []evalCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	todo := make([]int, len(calls))
	for i := range todo {
		todo[i] = i
	}
	for attempt := 0; ; attempt++ {
		pipe := c.Pipeline()
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

// newToken is a random 64-bit hex token (run ids, version tokens).
func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
	return errors.Join(r.c.Close(), r.w.Close())
}
