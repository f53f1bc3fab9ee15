package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

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
	return r.c.Close()
}
