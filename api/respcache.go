package api

import (
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"routewatch/route"
	"routewatch/store"
)

// respCache keeps encoded answers of GET /prefixes/{prefix} by request
// URI. An entry is served only when the fingerprint of the store's answer
// (every prefix with its version, the tags the matcher gives, the next
// cursor, the VRPs in force) equals the one it was encoded from, so it is exact: the store is
// still asked every time, but an unchanged answer is not built and encoded
// again, which is most of a lookup's CPU. Bounded by the bytes it holds,
// least recently used first out. Sharded by key: every request takes a
// shard's lock (an LRU get moves the entry), and one lock for all of them
// queued requests behind whichever holder the scheduler preempted.
type respCache struct {
	shards   [respShards]respShard
	seed     maphash.Seed
	maxEntry int64
}

// respShards: a power of two; each shard holds 1/respShards of the bound,
// still 2 entries of the largest size (the bound / 16) at least.
const respShards = 8

type respShard struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[string, *cachedResp]
	bytes int64
	max   int64
}

type cachedResp struct {
	fp   string
	body []byte
}

// newRespCache returns nil (no caching) when max is not positive.
func newRespCache(max int64) *respCache {
	if max <= 0 {
		return nil
	}
	c := &respCache{seed: maphash.MakeSeed(), maxEntry: max / 16}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.max = max / respShards
		// The byte bound is the real one; the count only has to be large.
		sh.lru, _ = simplelru.NewLRU[string, *cachedResp](1<<20/respShards, func(k string, v *cachedResp) {
			sh.bytes -= entrySize(k, v)
		})
	}
	return c
}

func (c *respCache) shard(key string) *respShard {
	return &c.shards[maphash.String(c.seed, key)%respShards]
}

// size reports the bytes and entries held and the bound.
func (c *respCache) size() (bytes, max int64, n int) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		bytes, max, n = bytes+sh.bytes, max+sh.max, n+sh.lru.Len()
		sh.mu.Unlock()
	}
	return bytes, max, n
}

// entrySize approximates what an entry holds: key, fingerprint, body and
// bookkeeping.
func entrySize(k string, v *cachedResp) int64 { return int64(len(k) + len(v.fp) + len(v.body) + 64) }

// get returns the body cached for key if it was encoded from fp.
func (c *respCache) get(key, fp string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.lru.Get(key)
	if !ok || v.fp != fp {
		return nil, false
	}
	return v.body, true
}

// put caches body (which the cache now owns) for key and fp.
func (c *respCache) put(key, fp string, body []byte) {
	if c == nil {
		return
	}
	v := &cachedResp{fp: fp, body: body}
	n := entrySize(key, v)
	if n > c.maxEntry {
		return
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Add replaces an entry of the same key without the eviction
	// callback: account for the old one here.
	if old, ok := sh.lru.Peek(key); ok {
		sh.bytes -= entrySize(key, old)
	}
	sh.lru.Add(key, v)
	sh.bytes += n
	for sh.bytes > sh.max {
		if _, _, ok := sh.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// fingerprint describes everything an answer of getPrefix is built from
// besides the request itself; ok is false when some part is unversioned.
func fingerprint(b *strings.Builder, top []route.Tag, prs []store.PrefixRoutes, next string, m Matcher, tagLimit int, v Validator) bool {
	if v != nil {
		// Route views carry ROV states: another VRP table, another answer.
		b.WriteString("rpki ")
		b.WriteString(v.Fingerprint())
		b.WriteByte('\n')
	}
	writeTags(b, top)
	for _, pr := range prs {
		if pr.Version == "" {
			return false
		}
		b.WriteByte('\n')
		b.WriteString(pr.Prefix.String())
		b.WriteByte(' ')
		b.WriteString(pr.Version)
		if len(pr.Tags) == 0 && m != nil {
			// viewPrefixRoutes falls back to the matcher's tags.
			writeTags(b, capTags(m.Match(pr.Prefix), tagLimit))
		}
	}
	b.WriteString("\nnext ")
	b.WriteString(next)
	return true
}

func writeTags(b *strings.Builder, ts []route.Tag) {
	for _, t := range ts {
		b.WriteByte('\x1e')
		for _, f := range []string{t.Provider, t.Region, t.Service, t.BorderGroup, t.Match.String()} {
			b.WriteString(f)
			b.WriteByte('\x1f')
		}
	}
}

// rov is the validator in force (nil: route views carry no ROV state).
func (s *Server) rov() Validator {
	if s.validator == nil {
		return nil
	}
	return s.validator()
}

// matchTags is the matcher's tags of p (none without a matcher).
func (s *Server) matchTags(p netip.Prefix) []route.Tag {
	if s.matcher == nil {
		return nil
	}
	return s.matcher.Match(p)
}
