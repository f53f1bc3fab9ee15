package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"routewatch/route"
)

// summaryPrefix is what a group summary needs of one prefix: its tags and
// each path's peer and epoch. Attributes are not decoded, which is most of
// the cost of loadPrefixes.
type summaryPrefix struct {
	tags   []route.Tag
	peers  []vantage
	epochs []uint64
}

func parseSummaryPrefix(m map[string]string) (summaryPrefix, error) {
	var sp summaryPrefix
	for f, v := range m {
		if strings.HasPrefix(f, "\x00") {
			if f == "\x00tags" {
				t, err := decodeTags(v)
				if err != nil {
					return sp, err
				}
				sp.tags = t
			}
			continue
		}
		a, err := fieldVantage(f)
		if err != nil {
			return sp, err
		}
		hdr, _, ok := strings.Cut(v, "\n")
		_, ep, ok2 := strings.Cut(hdr, " ")
		if !ok || !ok2 {
			return sp, fmt.Errorf("%w: path value", ErrCorrupt)
		}
		e, _ := strconv.ParseUint(ep, 10, 64)
		sp.peers = append(sp.peers, a)
		sp.epochs = append(sp.epochs, e)
	}
	return sp, nil
}

// summaryChunk bounds one pipeline of per-prefix reads in a summary.
const summaryChunk = 1000

// loadSummaryPrefixes reads the summary inputs of the given prefixes.
func (r *Redis) loadSummaryPrefixes(ctx context.Context, ps []netip.Prefix) ([]summaryPrefix, error) {
	out := make([]summaryPrefix, 0, len(ps))
	for len(ps) > 0 {
		n := min(len(ps), summaryChunk)
		pipe := r.c.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, n)
		for i, p := range ps[:n] {
			cmds[i] = pipe.HGetAll(ctx, r.k.routes(p))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for _, c := range cmds {
			sp, err := parseSummaryPrefix(c.Val())
			if err != nil {
				return nil, err
			}
			out = append(out, sp)
		}
		ps = ps[n:]
	}
	return out, nil
}

// summaryCache keeps the last Groups answer for SummaryTTL: a summary
// reads every prefix of every group, too much for each GET /providers.
// Writes, this process's included, show once the TTL has passed: with live
// ingest every batch is a write, so dropping the cache on writes would
// leave nothing cached.
type summaryCache struct {
	ttl time.Duration
	sf  singleflight.Group

	mu  sync.Mutex
	at  time.Time
	all []GroupSummary
	ok  bool
}

// get returns the cached summaries if fresh.
func (c *summaryCache) get(now time.Time) ([]GroupSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && now.Sub(c.at) < c.ttl {
		return c.all, true
	}
	return nil, false
}

// put stores a computation started at at.
func (c *summaryCache) put(at time.Time, all []GroupSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok || at.After(c.at) {
		c.all, c.at, c.ok = all, at, true
	}
}

// cachedGroups answers Groups from the cache, computing it at most once
// at a time.
func (r *Redis) cachedGroups(ctx context.Context) ([]GroupSummary, error) {
	if r.sum.ttl <= 0 {
		return r.loadGroups(ctx)
	}
	if all, ok := r.sum.get(time.Now()); ok {
		return all, nil
	}
	// The computation is shared by every caller waiting for it, so one
	// caller's cancellation must not fail the others; each caller still
	// stops waiting when its own context ends.
	ch := r.sum.sf.DoChan("groups", func() (any, error) {
		if all, ok := r.sum.get(time.Now()); ok {
			return all, nil
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), summaryTimeout)
		defer cancel()
		start := time.Now()
		all, err := r.loadGroups(cctx)
		if err != nil {
			return nil, err
		}
		r.sum.put(start, all)
		return all, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]GroupSummary), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// summaryTimeout bounds a shared summary computation.
const summaryTimeout = 30 * time.Second

func (r *Redis) loadGroups(ctx context.Context) ([]GroupSummary, error) {
	names, err := r.c.SMembers(ctx, r.k.groups()).Result()
	if err != nil {
		return nil, err
	}
	return r.summaries(ctx, names)
}
