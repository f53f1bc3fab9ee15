package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// testPrefix gives every test its own key space on the shared Redis, so
// parallel runs by other engineers and CI never collide; keys are removed
// afterwards.
func testPrefix(t testing.TB, addr string) string {
	pre := randomPrefix("rwtest-")
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

func randomPrefix(kind string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return kind + hex.EncodeToString(b)
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
		// Exact summaries: the contract suite reads them right after writes.
		return newTestRedis(t, RedisConfig{Retention: ret, SummaryTTL: -1})
	})
}

// TestRedisURL checks URL configuration against a private server with a
// password: database selection, key prefix, and clear errors.
func TestRedisURL(t *testing.T) {
	bin := testenv.Command(t, "redis-server")
	proc := startRedis(t, bin, testenv.FreePort(t), t.TempDir(), "--requirepass", "s3cret")
	ctx := context.Background()
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"password and db", "redis://:s3cret@" + proc.addr() + "/5", ""},
		{"user default", "redis://default:s3cret@" + proc.addr() + "/0", ""},
		{"no password", "redis://" + proc.addr() + "/0", "NOAUTH"},
		{"wrong password", "redis://:nope@" + proc.addr() + "/0", "WRONGPASS"},
		{"bad scheme", "http://" + proc.addr(), "parse redis url"},
		{"bad db", "redis://:s3cret@" + proc.addr() + "/x", "parse redis url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := NewRedis(ctx, RedisConfig{URL: tt.url, KeyPrefix: "cfgtest"}, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The run id landed in db 5 under the prefix.
	c := redis.NewClient(&redis.Options{Addr: proc.addr(), Password: "s3cret", DB: 5})
	defer c.Close()
	if n, err := c.Exists(ctx, "cfgtest:{meta}:run").Result(); err != nil || n != 1 {
		t.Errorf("run key in db 5: %d %v", n, err)
	}
}

// TestRedisClusterContract runs the contract suite on a three-master Redis
// Cluster started by the test: the hash-tag key layout must never trigger
// CROSSSLOT, and scripts must be loaded on every shard.
func TestRedisClusterContract(t *testing.T) {
	bin := testenv.Command(t, "redis-server")
	cli := testenv.Command(t, "redis-cli")
	var addrs []string
	for i := 0; i < 3; i++ {
		p := startRedis(t, bin, testenv.FreePort(t), t.TempDir(), "--cluster-enabled", "yes", "--appendonly", "no")
		addrs = append(addrs, p.addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	url := "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	ctx := context.Background()
	waitFor(t, "the cluster to serve every slot", func() bool {
		c := redis.NewClient(&redis.Options{Addr: addrs[0]})
		defer c.Close()
		info, err := c.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	contractSuite(t, func(t *testing.T, ret Retention) Store {
		st, err := NewRedis(ctx, RedisConfig{URL: url, Cluster: true, KeyPrefix: randomPrefix("rwc-"), Retention: ret, SummaryTTL: -1}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestRedisMetricsShareRegistry(t *testing.T) {
	addr := testenv.RedisAddr(t)
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		st, err := NewRedis(ctx, RedisConfig{URL: "redis://" + addr + "/0", KeyPrefix: testPrefix(t, addr)}, nil, reg)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.ApplyUpdates(ctx, []route.Update{ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := testutil.GatherAndCount(reg, "routewatch_store_updates_total", "routewatch_store_op_duration_seconds")
	if err != nil || n == 0 {
		t.Fatalf("metrics: %d %v", n, err)
	}
	if v := testutil.ToFloat64(newMetricsFrom(t, reg)); v != 2 {
		t.Errorf("changed updates counted %v, want 2 (both stores)", v)
	}
}

func newMetricsFrom(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	return newMetrics(reg).updates.WithLabelValues("changed")
}

// TestRedisSummaryCache: summaries are reused within SummaryTTL, whoever
// writes, and a negative TTL reads through.
func TestRedisSummaryCache(t *testing.T) {
	ctx := context.Background()
	writer := newTestRedis(t, RedisConfig{SummaryTTL: -1})
	cached := newTestRedis(t, RedisConfig{KeyPrefix: writer.cfg.KeyPrefix, SummaryTTL: time.Hour})
	short := newTestRedis(t, RedisConfig{KeyPrefix: writer.cfg.KeyPrefix, SummaryTTL: time.Nanosecond})
	tags := awsW2
	prefixes := func(s *Redis) int {
		t.Helper()
		gs, err := s.Groups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		g, err := s.Group(ctx, "aws", "us-west-2")
		if err != nil || len(gs) != 1 || g != gs[0] {
			t.Fatalf("Groups = %+v, Group = %+v %v", gs, g, err)
		}
		return gs[0].Prefixes
	}
	mustApply(t, writer, ann(1, peerA, "10.1.0.0/16", tags, 3333, 16509))
	if n := prefixes(cached); n != 1 {
		t.Fatalf("cached: %d prefixes want 1", n)
	}
	_ = prefixes(short)
	mustApply(t, writer, ann(2, peerA, "10.2.0.0/16", tags, 3333, 16509))
	mustApply(t, cached, ann(3, peerA, "10.3.0.0/16", tags, 3333, 16509))
	if n := prefixes(cached); n != 1 {
		t.Errorf("cached after writes: %d prefixes want 1 (still cached)", n)
	}
	if n := prefixes(writer); n != 3 {
		t.Errorf("read-through: %d prefixes want 3", n)
	}
	if n := prefixes(short); n != 3 {
		t.Errorf("expired cache: %d prefixes want 3", n)
	}
	// The caller owns the returned slice.
	gs, _ := cached.Groups(ctx)
	gs[0].Prefixes = -1
	if n := prefixes(cached); n != 1 {
		t.Errorf("cache changed through a returned slice: %d", n)
	}
}
