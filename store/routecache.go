package store

import (
	"hash/maphash"
	"net/netip"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// routeCache is the reader's route cache (RedisConfig.RouteCache): decoded
// routes by prefix, least recently used out, sharded by prefix so that
// lookups, every one of which moves its entry, do not all queue on one
// lock.
type routeCache struct {
	seed   maphash.Seed
	shards [routeShards]routeShard
}

// routeShards is a power of two; each shard holds 1/routeShards of the
// entries.
const routeShards = 16

type routeShard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[netip.Prefix, *routeEntry]
}

// newRouteCache returns nil (no cache) when size is not positive.
func newRouteCache(size int) *routeCache {
	if size <= 0 {
		return nil
	}
	c := &routeCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].lru, _ = simplelru.NewLRU[netip.Prefix, *routeEntry](max(1, size/routeShards), nil)
	}
	return c
}

func (c *routeCache) shard(p netip.Prefix) *routeShard {
	return &c.shards[maphash.Comparable(c.seed, p)%routeShards]
}

// Get returns p's entry, marking it recently used.
func (c *routeCache) Get(p netip.Prefix) (*routeEntry, bool) {
	sh := c.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.lru.Get(p)
}

// Add sets p's entry.
func (c *routeCache) Add(p netip.Prefix, e *routeEntry) {
	sh := c.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.lru.Add(p, e)
}

// Len is the number of entries.
func (c *routeCache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.lru.Len()
		sh.mu.Unlock()
	}
	return n
}
