package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"

	"github.com/redis/go-redis/v9"

	"routewatch/internal/testenv"
)

// testPrefix gives every test its own key space on the shared Redis, so
// parallel runs by other engineers and CI never collide; keys are removed
// afterwards.
func testPrefix(t testing.TB, addr string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	pre := "rwtest-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, pre+":*", 1000).Iterator()
		var ks []string
		for iter.Next(ctx) {
			ks = append(ks, iter.Val())
			if len(ks) == 1000 {
				c.Del(ctx, ks...)
				ks = ks[:0]
			}
		}
		if len(ks) > 0 {
			c.Del(ctx, ks...)
		}
	})
	return pre
}

func newTestRedis(t testing.TB, cfg RedisConfig) *Redis {
	t.Helper()
	addr := testenv.RedisAddr(t)
	if cfg.URL == "" {
		cfg.URL = "redis://" + addr + "/0"
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = testPrefix(t, addr)
	}
	s, err := NewRedis(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedisContract(t *testing.T) {
	contractSuite(t, func(t *testing.T, ret Retention) Store {
		return newTestRedis(t, RedisConfig{Retention: ret})
	})
}
