package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"

	"routewatch/internal/testenv"
	"routewatch/store"
)

// openRedis opens the Redis backend on the test Redis under a key prefix of
// its own (other engineers' tests and CI share the server) and deletes
// those keys afterwards.
func openRedis(t *testing.T) fixtureStore {
	t.Helper()
	addr := testenv.RedisAddr(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	pre := "rwapitest-" + hex.EncodeToString(b)
	st, err := store.NewRedis(context.Background(), store.RedisConfig{URL: "redis://" + addr + "/0", KeyPrefix: pre}, nil, nil)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() {
		st.Close()
		deleteKeys(t, addr, pre)
	})
	return st
}

func deleteKeys(t testing.TB, addr, pre string) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	var ks []string
	iter := c.Scan(ctx, 0, pre+":*", 1000).Iterator()
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
	if err := iter.Err(); err != nil {
		t.Errorf("redis cleanup: %v", err)
	}
}
