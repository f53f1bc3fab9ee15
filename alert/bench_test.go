package alert

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"routewatch/route"
	"routewatch/store"
)

func BenchmarkRender(b *testing.B) {
	one := []notice{{Change: route.EventOpened, Event: fixtureEvent(1, route.KindPathShift), At: at()}}
	var ten []notice
	for i := range 10 {
		ten = append(ten, notice{Change: route.EventOpened, Event: fixtureEvent(i, route.KindPathShift), At: at()})
	}
	for _, typ := range allTypes {
		for name, ns := range map[string][]notice{"1": one, "10": ten} {
			if typ == Generic && len(ns) > 1 {
				continue
			}
			b.Run(fmt.Sprintf("%s/notices=%s", typ, name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := render(typ, ns, "https://routewatch.example.net"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkSign(b *testing.B) {
	key, _ := parseSecret(testSecret)
	body, _ := render(Generic, []notice{{Change: route.EventOpened, Event: fixtureEvent(1, route.KindPathShift), At: at()}}, "")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
	}
}

// BenchmarkDeliver measures end-to-end throughput (Notify → outbox → HTTP
// POST to a local receiver → Finish) with each outbox backend. Rate limits
// are lifted so the pipeline itself is measured.
func BenchmarkDeliver(b *testing.B) {
	backends := map[string]func(b *testing.B) Outbox{
		"memory": func(b *testing.B) Outbox { return store.NewMemory(store.MemoryConfig{}) },
		"redis":  func(b *testing.B) Outbox { return newBenchRedis(b) },
	}
	for _, name := range []string{"memory", "redis"} {
		for _, typ := range []SinkType{Generic, Slack} {
			b.Run(name+"/"+string(typ), func(b *testing.B) {
				ob := backends[name](b)
				var got atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					got.Add(1)
					w.WriteHeader(http.StatusOK)
				}))
				defer srv.Close()
				sc := sinkFor("s", typ, srv.URL)
				sc.RatePerSecond, sc.Burst, sc.CoalesceMax = 1e6, 1e6, 1 // no throttling, no merging
				cfg := Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sc},
					Delivery: DeliveryConfig{PollInterval: time.Millisecond}}
				a, err := New(cfg, ob, slog.New(slog.DiscardHandler), nil)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { a.Run(ctx); close(done) }()
				b.ResetTimer()
				for i := range b.N {
					ev := fixtureEvent(i, route.KindPathShift)
					ev.ID = fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
					if err := a.Notify(ctx, []route.EventChange{{Change: route.EventOpened, Event: ev}}); err != nil {
						b.Fatal(err)
					}
				}
				for got.Load() < int64(b.N) {
					time.Sleep(100 * time.Microsecond)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				cancel()
				<-done
			})
		}
	}
}
