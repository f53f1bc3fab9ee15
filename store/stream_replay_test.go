package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestCompareStreamIDs(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "5-1", "5-1", 0},
		{"sequence", "5-1", "5-2", -1},
		{"milliseconds before sequence", "10-0", "9-99", 1},
		{"numeric, not lexical", "9-0", "10-0", -1},
		{"empty is 0-0", "", "0-0", 0},
		{"empty before any", "", "1-0", -1},
		{"no sequence", "7", "7-0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CompareStreamIDs(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareStreamIDs(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// idRecorder records the entry IDs a handler was called with.
type idRecorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *idRecorder) handle(ctx context.Context, _ Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, StreamEntryID(ctx))
	return nil
}

func (r *idRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// TestStreamReplay: a consumer that acknowledged six entries; Replay from
// the second re-reads the four after it up to the group's delivered
// position (not the entry published since), and says when the stream was
// trimmed past the start.
func TestStreamReplay(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		maxLen  int64
		from    int // index of the checkpointed entry
		want    int
		wantGap bool
	}{
		{"entries after the checkpoint", 0, 1, 4, false},
		{"nothing after the last", 0, 5, 0, false},
		{"trimmed past the checkpoint", 3, 0, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRedis(t, RedisConfig{StreamMaxLen: tt.maxLen})
			c := r.NewConsumer(ConsumerConfig{Group: "g", Name: "c", Block: 20 * time.Millisecond})
			if got, err := c.Delivered(ctx); err != nil || got != "" {
				t.Fatalf("Delivered before any group = %q, %v", got, err)
			}
			var ids []string
			first := &idRecorder{}
			stop := runConsumer(t, c, first.handle)
			for i := range 6 {
				if err := r.Publish(ctx, batchN(i)); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "six entries consumed", func() bool { return len(first.got()) == 6 })
			stop()
			ids = first.got()
			if tt.maxLen > 0 {
				// Exact trim (Publish trims approximately, by whole nodes).
				if err := r.c.XTrimMaxLen(ctx, r.k.stream(r.cfg.Stream), tt.maxLen).Err(); err != nil {
					t.Fatal(err)
				}
			}
			upto, err := c.Delivered(ctx)
			if err != nil || upto != ids[5] {
				t.Fatalf("Delivered = %q, %v; want %q", upto, err, ids[5])
			}
			if err := r.Publish(ctx, batchN(6)); err != nil { // not delivered yet
				t.Fatal(err)
			}
			again := &idRecorder{}
			res, err := c.Replay(ctx, ids[tt.from], upto, again.handle)
			if err != nil {
				t.Fatal(err)
			}
			got := again.got()
			if res.Entries != tt.want || len(got) != tt.want || res.Gap != tt.wantGap {
				t.Fatalf("Replay from entry %d = %+v, handled %v; want %d entries, gap %v", tt.from, res, got, tt.want, tt.wantGap)
			}
			for i, id := range got {
				if want := ids[6-tt.want+i]; id != want {
					t.Errorf("replayed entry %d = %s, want %s", i, id, want)
				}
			}
			if tt.want > 0 && res.Last != upto {
				t.Errorf("Last = %s, want %s", res.Last, upto)
			}
		})
	}
}
