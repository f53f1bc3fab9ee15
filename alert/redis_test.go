package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"routewatch/internal/testenv"
	"routewatch/store"
)

var (
	redisPrefixMu sync.Mutex
	redisPrefixes = map[*testing.T]string{}
)

// newRedisOutbox opens a store.Redis on the test Redis under a key prefix
// unique to the test (several handles of one test share it) and deletes
// the keys afterwards.
func newRedisOutbox(t *testing.T, _ string) *store.Redis {
	t.Helper()
	addr := testenv.RedisAddr(t)
	redisPrefixMu.Lock()
	prefix, ok := redisPrefixes[t]
	if !ok {
		b := make([]byte, 6)
		rand.Read(b)
		prefix = "rwtest-alert-" + hex.EncodeToString(b)
		redisPrefixes[t] = prefix
		t.Cleanup(func() {
			c := redis.NewClient(&redis.Options{Addr: addr})
			defer c.Close()
			ctx := context.Background()
			keys, _ := c.Keys(ctx, prefix+"*").Result()
			if len(keys) > 0 {
				c.Del(ctx, keys...)
			}
			redisPrefixMu.Lock()
			delete(redisPrefixes, t)
			redisPrefixMu.Unlock()
		})
	}
	redisPrefixMu.Unlock()
	s, err := store.NewRedis(context.Background(), store.RedisConfig{URL: "redis://" + addr + "/0", KeyPrefix: prefix}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newBenchRedis is newRedisOutbox for benchmarks.
func newBenchRedis(b *testing.B) *store.Redis {
	b.Helper()
	addr := testenv.RedisAddr(b)
	buf := make([]byte, 6)
	rand.Read(buf)
	prefix := "rwbench-alert-" + hex.EncodeToString(buf)
	s, err := store.NewRedis(context.Background(), store.RedisConfig{URL: "redis://" + addr + "/0", KeyPrefix: prefix}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatalf("NewRedis: %v", err)
	}
	b.Cleanup(func() {
		s.Close()
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return s
}
