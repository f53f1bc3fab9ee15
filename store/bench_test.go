package store

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

// benchUpdates builds n announcements: n/peers prefixes, each announced
// by every peer with its own path (4-5 ASNs), tagged into 16 groups.
func benchUpdates(n, peers, offset int) []route.Update {
	ups := make([]route.Update, 0, n)
	prefixes := n / peers
	for i := 0; i < prefixes; i++ {
		x := uint32(i + offset)
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(10 + x>>16), byte(x >> 8), byte(x), 0}), 24)
		tags := []route.Tag{{Provider: "aws", Region: "r" + strconv.Itoa(int(x%16)), Match: route.MatchEqual}}
		for p := 0; p < peers; p++ {
			peer := route.Peer{Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(p + 1)}), ASN: uint32(64500 + p)}
			ups = append(ups, route.Update{
				Time: t0.Add(time.Duration(i) * time.Millisecond), Source: "bench", Peer: peer, Prefix: pfx, Tags: tags,
				Attrs: &route.Attrs{
					ASPath:      route.ASPath{{Type: route.ASSequence, ASNs: []uint32{peer.ASN, 3356 + uint32(i%7), 1299 + uint32(p%3), 16509}}},
					NextHop:     peer.Addr,
					Communities: []route.Community{route.Community(peer.ASN<<16 | 100)},
				},
			})
		}
	}
	return ups
}

// ingest writes ups with w concurrent writers in batches of size b.
func ingest(ctx context.Context, st Store, ups []route.Update, w, b int) error {
	ch := make(chan []route.Update)
	errs := make(chan error, w)
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		wg.Go(func() {
			for batch := range ch {
				if err := st.ApplyUpdates(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for len(ups) > 0 {
		n := min(b, len(ups))
		select {
		case ch <- ups[:n]:
		case err := <-errs:
			close(ch)
			wg.Wait()
			return err
		}
		ups = ups[n:]
	}
	close(ch)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// BenchmarkRedisApplyUpdates: updates/s through the store into Redis
// (ns/op is per update).
func BenchmarkRedisApplyUpdates(b *testing.B) {
	benchRedisApply(b, "")
}

// BenchmarkRedisApplyUpdatesCollector: the same with the peer at a RIS
// collector (every RIS Live update: a vantage point token in each field
// and key).
func BenchmarkRedisApplyUpdatesCollector(b *testing.B) {
	benchRedisApply(b, "rrc00")
}

func benchRedisApply(b *testing.B, collector string) {
	st := newTestRedis(b, RedisConfig{})
	ups := benchUpdates(b.N, 1, 0)
	for len(ups) < b.N {
		ups = append(ups, benchUpdates(1, 1, len(ups))...)
	}
	for i := range ups {
		ups[i].Peer.Collector = collector
	}
	b.ResetTimer()
	if err := ingest(context.Background(), st, ups, 4, 2000); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

func infoField(ctx context.Context, c *redis.Client, section, field string) string {
	s, _ := c.Info(ctx, section).Result()
	for _, l := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return v
		}
	}
	return ""
}

// commandCalls reads INFO commandstats: calls per command.
func commandCalls(ctx context.Context, c *redis.Client) map[string]int64 {
	s, _ := c.Info(ctx, "commandstats").Result()
	out := map[string]int64{}
	for _, l := range strings.Split(s, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(l, "cmdstat_"), ":calls=")
		if !ok || !strings.HasPrefix(l, "cmdstat_") {
			continue
		}
		n, _ := strconv.ParseInt(strings.Split(rest, ",")[0], 10, 64)
		out[name] = n
	}
	return out
}

// BenchmarkStoreIngest is the driver bench/store.sh runs once
// (-benchtime 1x) against its own redis-server
// (ROUTEWATCH_BENCH_REDIS=host:port; it FLUSHes that server). It prints the
// apply script's SHA (for redis-benchmark), updates/s, commands per update
// and memory per stored route.
func BenchmarkStoreIngest(b *testing.B) {
	addr := os.Getenv("ROUTEWATCH_BENCH_REDIS")
	if addr == "" {
		b.Skip("set ROUTEWATCH_BENCH_REDIS=host:port to a disposable server (bench/store.sh does)")
	}
	var t testing.TB = b
	routes, _ := strconv.Atoi(os.Getenv("ROUTEWATCH_BENCH_ROUTES"))
	if routes <= 0 {
		routes = 1_000_000
	}
	peers := 10
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := NewRedis(ctx, RedisConfig{URL: "redis://" + addr + "/0"}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fmt.Printf("apply_sha %s\n", applyScript.Hash())
	ups := benchUpdates(routes, peers, 0)
	memBefore, _ := strconv.ParseInt(infoField(ctx, c, "memory", "used_memory"), 10, 64)
	calls := commandCalls(ctx, c)
	start := time.Now()
	if err := ingest(ctx, st, ups, 4, 2000); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	memAfter, _ := strconv.ParseInt(infoField(ctx, c, "memory", "used_memory"), 10, 64)
	after := commandCalls(ctx, c)
	var total int64
	for k, v := range after {
		if k == "info" {
			continue
		}
		d := v - calls[k]
		total += d
		if d > 0 {
			fmt.Printf("cmd %s %d %.3f_per_update\n", k, d, float64(d)/float64(len(ups)))
		}
	}
	fmt.Printf("routes %d prefixes %d peers %d\n", len(ups), len(ups)/peers, peers)
	fmt.Printf("store_updates_per_sec %.0f\n", float64(len(ups))/el.Seconds())
	fmt.Printf("store_commands_per_sec %.0f\n", float64(total)/el.Seconds())
	fmt.Printf("elapsed_sec %.2f\n", el.Seconds())
	fmt.Printf("used_memory_before %d after %d bytes_per_route %.0f\n", memBefore, memAfter, float64(memAfter-memBefore)/float64(len(ups)))
	// Re-applying the same updates: idempotent, no new history.
	start = time.Now()
	if err := ingest(ctx, st, ups[:len(ups)/10], 4, 2000); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("store_reapply_updates_per_sec %.0f\n", float64(len(ups)/10)/time.Since(start).Seconds())
}
