package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os/exec"
	"strconv"
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

// TestRedisContractWithNotices runs the contract with change notices
// subscribed, so exact lookups are answered from the route cache whenever
// no notice voided it: the store must still read its own writes.
func TestRedisContractWithNotices(t *testing.T) {
	contractSuite(t, func(t *testing.T, ret Retention) Store {
		s := newTestRedis(t, RedisConfig{Retention: ret, SummaryTTL: -1})
		runNotices(t, s)
		return s
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
	open := func(t *testing.T, cfg RedisConfig, reg prometheus.Registerer) *Redis {
		cfg.URL, cfg.Cluster = url, true
		st, err := NewRedis(ctx, cfg, nil, reg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	contractSuite(t, func(t *testing.T, ret Retention) Store {
		return open(t, RedisConfig{KeyPrefix: randomPrefix("rwc-"), Retention: ret, SummaryTTL: -1}, nil)
	})
	// Notices published by a script on one shard reach a subscriber on
	// another (cluster-wide Pub/Sub).
	t.Run("change notices", func(t *testing.T) {
		pre := randomPrefix("rwc-")
		writer := open(t, RedisConfig{KeyPrefix: pre}, nil)
		reg := prometheus.NewRegistry()
		reader := open(t, RedisConfig{KeyPrefix: pre}, reg)
		runNotices(t, reader)
		local := func() float64 { return testutil.ToFloat64(reader.m.readLocal) }
		path := func() string {
			prs := routesOf(t, reader, "192.0.2.0/24", MatchExact)
			if len(prs) != 1 || len(prs[0].Routes) != 1 {
				return ""
			}
			return prs[0].Routes[0].Attrs.ASPath.String()
		}
		for i, asn := range []uint32{3333, 1299, 174} {
			mustApply(t, writer, ann(i, peerA, "192.0.2.0/24", awsW2, asn, 16509))
			want := strconv.Itoa(int(asn)) + " 16509"
			waitFor(t, "the writer's change "+want, func() bool { return path() == want })
			waitFor(t, "a local answer", func() bool { b := local(); path(); return local() > b })
		}
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

// TestRedisPeerStatusCache: a reader caches session statuses under the
// {peers}:ver token, so a session change made by another process (the
// writer role) must show in the reader's very next lookup, and a store that
// lost the token (data loss, FLUSHALL) must not serve old statuses.
func TestRedisPeerStatusCache(t *testing.T) {
	ctx := context.Background()
	writer := newTestRedis(t, RedisConfig{})
	reader := newTestRedis(t, RedisConfig{KeyPrefix: writer.cfg.KeyPrefix})
	stale := func() bool {
		t.Helper()
		prs := routesOf(t, reader, "192.0.2.0/24", MatchExact)
		if len(prs) != 1 || len(prs[0].Routes) != 1 {
			t.Fatalf("routes = %+v", prs)
		}
		return prs[0].Routes[0].Stale
	}
	t.Run("no token yet", func(t *testing.T) {
		mustApply(t, writer, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
		first, second := stale(), stale() // the second read is answered from the cache
		if first || second {
			t.Fatal("stale without any session state")
		}
		if reader.ps.ver == "" {
			t.Fatal("the reader did not set and cache a token")
		}
	})
	t.Run("session change by another instance", func(t *testing.T) {
		mustStates(t, writer, state(2, peerA, route.StateOpenConfirm, route.StateEstablished))
		mustApply(t, writer, ann(3, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
		first, second := stale(), stale()
		if first || second {
			t.Fatal("stale while established")
		}
		mustStates(t, writer, state(4, peerA, route.StateEstablished, route.StateIdle))
		if !stale() {
			t.Fatal("the reader served a cached status after the session went down")
		}
		mustStates(t, writer, state(5, peerA, route.StateOpenConfirm, route.StateEstablished))
		mustApply(t, writer, ann(6, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
		if stale() {
			t.Fatal("stale after re-establishment and re-announcement")
		}
	})
	t.Run("token lost", func(t *testing.T) {
		before := reader.ps.ver
		// A state written by something that does not touch the token (an
		// older writer, a restore), then the token disappears.
		raw := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
		defer raw.Close()
		if err := raw.HSet(ctx, writer.k.peer(vantageOf(peerA)), "state", strconv.Itoa(int(route.StateIdle))).Err(); err != nil {
			t.Fatal(err)
		}
		if err := raw.Del(ctx, writer.k.peersVer()).Err(); err != nil {
			t.Fatal(err)
		}
		if !stale() {
			t.Fatal("cached status served after the token was lost")
		}
		if reader.ps.ver == before {
			t.Fatal("token was not replaced")
		}
	})
}

// TestRedisRouteCache: readers keep decoded routes and ask Redis only
// whether they changed; another instance's writes, a disabled cache and
// flushed scripts must all still give the current routes.
func TestRedisRouteCache(t *testing.T) {
	ctx := context.Background()
	path := func(t *testing.T, s *Redis, pfx string) string {
		t.Helper()
		prs := routesOf(t, s, pfx, MatchExact)
		if len(prs) != 1 || len(prs[0].Routes) != 1 {
			t.Fatalf("routes = %+v", prs)
		}
		return prs[0].Routes[0].Attrs.ASPath.String()
	}
	t.Run("another instance writes", func(t *testing.T) {
		writer := newTestRedis(t, RedisConfig{})
		reader := newTestRedis(t, RedisConfig{KeyPrefix: writer.cfg.KeyPrefix})
		mustApply(t, writer, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
		if got := path(t, reader, "192.0.2.0/24"); got != "3333 16509" {
			t.Fatalf("path = %s", got)
		}
		if reader.rc.Len() != 1 {
			t.Fatalf("reader caches %d prefixes, want 1", reader.rc.Len())
		}
		cached, _ := reader.rc.Get(netip.MustParsePrefix("192.0.2.0/24"))
		if got := path(t, reader, "192.0.2.0/24"); got != "3333 16509" {
			t.Fatalf("path = %s", got)
		}
		if again, _ := reader.rc.Get(netip.MustParsePrefix("192.0.2.0/24")); again.sp != cached.sp {
			t.Fatal("an unchanged prefix was decoded again")
		}
		mustApply(t, writer, ann(2, peerA, "192.0.2.0/24", awsW2, 1299, 16509))
		if got := path(t, reader, "192.0.2.0/24"); got != "1299 16509" {
			t.Fatalf("after the writer's change: path = %s (served from the cache)", got)
		}
		// The hash removed behind the reader's back (FLUSHDB, expiry):
		// no routes, not the cached ones.
		raw := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
		defer raw.Close()
		if err := raw.Del(ctx, writer.k.routes(netip.MustParsePrefix("192.0.2.0/24"))).Err(); err != nil {
			t.Fatal(err)
		}
		if prs := routesOf(t, reader, "192.0.2.0/24", MatchExact); len(prs) != 0 {
			t.Fatalf("deleted prefix still answered: %+v", prs)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		s := newTestRedis(t, RedisConfig{RouteCache: -1})
		mustApply(t, s, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
		mustApply(t, s, ann(2, peerA, "192.0.2.0/24", awsW2, 1299, 16509))
		if got := path(t, s, "192.0.2.0/24"); got != "1299 16509" || s.rc != nil {
			t.Fatalf("path = %s, cache %v", got, s.rc)
		}
	})
	t.Run("scripts flushed", func(t *testing.T) {
		// A private server: SCRIPT FLUSH on the shared one would disturb
		// other packages' tests.
		proc := startRedis(t, testenv.Command(t, "redis-server"), testenv.FreePort(t), t.TempDir())
		t.Cleanup(proc.kill)
		s, err := NewRedis(ctx, RedisConfig{URL: "redis://" + proc.addr() + "/0"}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		mustApply(t, s, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
		raw := redis.NewClient(&redis.Options{Addr: proc.addr()})
		defer raw.Close()
		if err := raw.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if got := path(t, s, "192.0.2.0/24"); got != "3333 16509" {
			t.Fatalf("path = %s", got)
		}
	})
}

// runNotices runs s.Run (change notices, gap checks) for the test and waits
// until the subscription is confirmed.
func runNotices(t *testing.T, s *Redis) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "change notices subscribed", s.inv.live.Load)
}

// TestRedisChangeNotices: with change notices, an exact lookup of an
// unchanged prefix is answered from the route cache without a round trip,
// and every change — by this process or another, to a path, its tags or a
// session — is seen (another process's within the notice's travel time).
func TestRedisChangeNotices(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	writer := newTestRedis(t, RedisConfig{})
	name := randomPrefix("rwtest-reader-")
	reader, err := NewRedis(ctx, RedisConfig{URL: writer.cfg.URL + "?client_name=" + name, KeyPrefix: writer.cfg.KeyPrefix}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	runNotices(t, reader)
	runNotices(t, writer)
	reads := func(result string) float64 { return testutil.ToFloat64(reader.m.routeReads.WithLabelValues(result)) }
	lookup := func(s *Redis) (path string, stale bool) {
		t.Helper()
		prs := routesOf(t, s, "192.0.2.0/24", MatchExact)
		if len(prs) != 1 || len(prs[0].Routes) != 1 {
			t.Fatalf("routes = %+v", prs)
		}
		return prs[0].Routes[0].Attrs.ASPath.String(), prs[0].Routes[0].Stale
	}
	// eventually: another process's change shows within a bounded time.
	eventually := func(what, wantPath string, wantStale bool) {
		t.Helper()
		waitFor(t, what+" seen by the reader", func() bool {
			p, st := lookup(reader)
			return p == wantPath && st == wantStale
		})
	}
	mustStates(t, writer, state(0, peerA, route.StateOpenConfirm, route.StateEstablished))
	mustApply(t, writer, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
	eventually("announcement", "3333 16509", false)
	// The announcement's notice may arrive after the reader saw it.
	waitFor(t, "a local answer", func() bool {
		b := reads("local")
		lookup(reader)
		return reads("local") > b
	})
	before := reads("local")
	for range 10 {
		lookup(reader)
	}
	if got := reads("local") - before; got != 10 {
		t.Errorf("%v of 10 lookups of an unchanged prefix were answered locally", got)
	}
	mustApply(t, writer, ann(2, peerA, "192.0.2.0/24", awsW2, 1299, 16509))
	eventually("path change", "1299 16509", false)
	mustStates(t, writer, state(3, peerA, route.StateEstablished, route.StateIdle))
	eventually("session down", "1299 16509", true)
	mustStates(t, writer, state(4, peerA, route.StateOpenConfirm, route.StateEstablished))
	mustApply(t, writer, ann(5, peerA, "192.0.2.0/24", nil, 1299, 16509))
	eventually("re-announcement in the new session", "1299 16509", false)

	// Events: another process's put shows in the reader's pages and
	// version; pages without a put in between are answered locally.
	v0, err := reader.EventsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := route.Event{ID: "e-notice", Kind: route.KindWithdrawal, Provider: "aws", Region: "us-west-2", Start: at(5)}
	if err := writer.PutEvents(ctx, []route.Event{e}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the writer's event", func() bool {
		evs, _, err := reader.Events(ctx, EventFilter{Region: "us-west-2"})
		v, verr := reader.EventsVersion(ctx)
		return err == nil && verr == nil && len(evs) == 1 && evs[0].ID == "e-notice" && v != v0
	})
	e.Prefixes = 3
	if err := writer.PutEvents(ctx, []route.Event{e}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the writer's event update", func() bool {
		evs, _, err := reader.Events(ctx, EventFilter{Region: "us-west-2"})
		return err == nil && len(evs) == 1 && evs[0].Prefixes == 3
	})

	// The reader's own writes are seen at once.
	mustApply(t, reader, ann(6, peerA, "192.0.2.0/24", awsW2, 174, 16509))
	if p, _ := lookup(reader); p != "174 16509" {
		t.Fatalf("own write not seen: %s", p)
	}

	// A broken subscription: nothing cached is trusted until it is back.
	raw := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	defer raw.Close()
	lookup(reader)
	// Only the reader's subscription: other tests share this server.
	list, err := raw.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, " sub=1 ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := raw.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d subscriptions, want 1:\n%s", killed, list)
	}
	waitFor(t, "subscription loss noticed", func() bool { return !reader.inv.live.Load() })
	before = reads("local")
	lookup(reader)
	if reads("local") != before {
		t.Error("answered from the route cache without a subscription")
	}
	waitFor(t, "subscribed again", reader.inv.live.Load)
	mustApply(t, writer, ann(7, peerA, "192.0.2.0/24", awsW2, 6939, 16509))
	eventually("change after resubscribing", "6939 16509", false)
}
