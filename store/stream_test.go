package store

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

// recorder applies batches to a Memory store and counts deliveries per
// batch (batch i carries prefix 10.0.i.0/24).
type recorder struct {
	mu    sync.Mutex
	seen  map[string]int
	store *Memory
	// failFrom makes the handler fail (as a crash would) from this
	// delivery number on; 0 = never.
	failFrom int
	calls    int
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]int{}, store: NewMemory(MemoryConfig{})}
}

func (rc *recorder) handle(ctx context.Context, b Batch) error {
	rc.mu.Lock()
	rc.calls++
	fail := rc.failFrom > 0 && rc.calls >= rc.failFrom
	rc.mu.Unlock()
	if fail {
		return fmt.Errorf("simulated crash")
	}
	if err := ApplyTo(rc.store)(ctx, b); err != nil {
		return err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, u := range b.Updates {
		rc.seen[u.Prefix.String()]++
	}
	return nil
}

func (rc *recorder) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

func batchN(i int) Batch {
	return Batch{
		Updates: []route.Update{ann(i, peerA, fmt.Sprintf("10.0.%d.0/24", i), awsW2, 3333, 16509)},
		States:  []route.PeerState{state(0, peerA, route.StateOpenConfirm, route.StateEstablished)},
	}
}

// waitFor polls cond until it holds; the deadline only bounds a broken
// run (real processes: Redis, pub/sub delivery), it is no timing claim.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func runConsumer(t *testing.T, c *Consumer, h Handler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestStream(t *testing.T) {
	ctx := context.Background()
	const n = 6
	tests := []struct {
		name string
		run  func(t *testing.T, r *Redis)
	}{
		{"crashed consumer re-reads its pending entries", func(t *testing.T, r *Redis) {
			crash := newRecorder()
			crash.failFrom = 3
			cfg := ConsumerConfig{Group: "g", Name: "c1", Retry: 10 * time.Millisecond}
			stop := runConsumer(t, r.NewConsumer(cfg), crash.handle)
			waitFor(t, "the crash", func() bool { crash.mu.Lock(); defer crash.mu.Unlock(); return crash.calls >= 3 })
			stop()
			if crash.distinct() != 2 {
				t.Fatalf("before crash handled %d batches", crash.distinct())
			}
			// Same consumer name after a restart: pending entries first.
			again := newRecorder()
			again.store = crash.store
			stop = runConsumer(t, r.NewConsumer(cfg), again.handle)
			waitFor(t, "all batches", func() bool { return again.distinct() == n-2 })
			stop()
			peers, _ := again.store.Peers(ctx)
			if len(peers) != 1 || peers[0].Prefixes != n {
				t.Errorf("peers = %+v", peers)
			}
		}},
		{"dead consumer's entries are claimed", func(t *testing.T, r *Redis) {
			dead := newRecorder()
			dead.failFrom = 1
			stop := runConsumer(t, r.NewConsumer(ConsumerConfig{Group: "g", Name: "dead", Retry: time.Hour}), dead.handle)
			waitFor(t, "the dead consumer to read", func() bool { dead.mu.Lock(); defer dead.mu.Unlock(); return dead.calls >= 1 })
			stop()
			alive := newRecorder()
			stop = runConsumer(t, r.NewConsumer(ConsumerConfig{Group: "g", Name: "alive", ClaimIdle: 200 * time.Millisecond, Block: 50 * time.Millisecond}), alive.handle)
			waitFor(t, "claimed batches", func() bool { return alive.distinct() == n })
			stop()
			pend, err := r.c.XPending(ctx, r.k.stream(r.cfg.Stream), "g").Result()
			if err != nil || pend.Count != 0 {
				t.Errorf("pending after claim = %+v %v", pend, err)
			}
		}},
		{"redelivery is idempotent and corrupt entries are skipped", func(t *testing.T, r *Redis) {
			if err := r.c.XAdd(ctx, &redis.XAddArgs{Stream: r.k.stream(r.cfg.Stream), Values: []any{"b", "garbage"}}).Err(); err != nil {
				t.Fatal(err)
			}
			// Decodes, but can never be stored (no peer address): dropped,
			// or the duplicate behind it would never be handled.
			if err := r.Publish(ctx, Batch{Updates: []route.Update{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Withdraw: true}}}); err != nil {
				t.Fatal(err)
			}
			if err := r.Publish(ctx, batchN(0)); err != nil { // a duplicate of batch 0
				t.Fatal(err)
			}
			rc := newRecorder()
			stop := runConsumer(t, r.NewConsumer(ConsumerConfig{Group: "g", Name: "c"}), rc.handle)
			waitFor(t, "all batches", func() bool {
				rc.mu.Lock()
				defer rc.mu.Unlock()
				return rc.seen["10.0.0.0/24"] == 2 && len(rc.seen) == n
			})
			stop()
			h, _, _ := rc.store.History(ctx, netip.MustParsePrefix("10.0.0.0/24"), Page{})
			peers, _ := rc.store.Peers(ctx)
			if len(h) != 1 || len(peers) != 1 || peers[0].Prefixes != n || peers[0].Flaps != 0 {
				t.Errorf("after duplicates: history %d, peers %+v", len(h), peers)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRedis(t, RedisConfig{})
			for i := 0; i < n; i++ {
				if err := r.Publish(ctx, batchN(i)); err != nil {
					t.Fatal(err)
				}
			}
			tt.run(t, r)
		})
	}
}

// TestStreamKeepsVantagePoints: a batch through the Redis Stream (split
// roles) arrives with every peer field, and an entry a version 1 publisher
// left in the stream still decodes.
func TestStreamKeepsVantagePoints(t *testing.T) {
	ctx := context.Background()
	r := newTestRedis(t, RedisConfig{})
	want := []Batch{sampleBatches()["vantage points"], sampleBatches()["announce"]}
	if err := r.Publish(ctx, want[0]); err != nil {
		t.Fatal(err)
	}
	var old []byte // want[1] as version 1 wrote it (a fuzz seed of the old encoder)
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeBatch", "v1-*"))
	for _, f := range files {
		if b, err := DecodeBatch(readSeed(t, f)); err == nil && reflect.DeepEqual(b, want[1]) {
			old = readSeed(t, f)
		}
	}
	if !bytes.HasPrefix(old, []byte(batchMagicV1)) {
		t.Fatal("no version 1 seed of the announce batch")
	}
	if err := r.c.XAdd(ctx, &redis.XAddArgs{Stream: r.k.stream(r.cfg.Stream), Values: []any{"b", old}}).Err(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Batch
	stop := runConsumer(t, r.NewConsumer(ConsumerConfig{Group: "g", Name: "c"}), func(ctx context.Context, b Batch) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, b)
		return nil
	})
	waitFor(t, "both batches", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	stop()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("through the stream:\n got %+v\nwant %+v", got, want)
	}
}
