package pipeline

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"routewatch/analyzer"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
	"routewatch/store"
)

// openEngine feeds the TE-shift scenario until its event is open and
// returns the engine, its store and the data time reached.
func openEngine(t *testing.T) (*Engine, *store.Memory, *scenario.Scenario, time.Time) {
	t.Helper()
	sc := scenario.TEShift(scenario.Options{Seed: 7})
	st := store.NewMemory(store.MemoryConfig{})
	e := New(Deps{Tagger: func() Tagger { return tagFunc(sc.Tag) }, Analyzer: analyzer.New(analyzer.DefaultConfig()),
		Routes: st, Events: st, Checkpoints: st, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	var last time.Time
	for _, it := range sc.Items() {
		var b route.Batch
		if it.Update != nil {
			b.Updates, last = []route.Update{*it.Update}, it.Update.Time
		} else {
			b.States, last = []route.PeerState{*it.State}, it.State.Time
		}
		e.now = func() time.Time { return last }
		e.handle(ctx, b)
		if len(e.open) > 0 {
			return e, st, sc, last
		}
	}
	t.Fatal("the scenario opened no event")
	return nil, nil, nil, time.Time{}
}

func TestCheckpointRestore(t *testing.T) {
	e, st, sc, at := openEngine(t)
	ctx := context.Background()
	if err := e.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	wantOpen := len(e.open)
	wantSlots := e.d.Analyzer.Stats().Slots
	cases := []struct {
		name   string
		prep   func(t *testing.T, ck Checkpoints)
		wall   time.Time
		result string
		open   int
	}{
		{"fresh", nil, at.Add(time.Minute), "restored", wantOpen},
		{"stale", nil, at.Add(DefaultCheckpointMaxAge + time.Minute), "stale", 0},
		{"corrupt", func(t *testing.T, ck Checkpoints) {
			if err := ck.PutCheckpoint(ctx, CheckpointName, []byte("RWCK\x01garbage"), at); err != nil {
				t.Fatal(err)
			}
		}, at, "invalid", 0},
		{"none", nil, at, "none", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ck Checkpoints = st
			if c.name == "none" {
				ck = store.NewMemory(store.MemoryConfig{})
			}
			if c.prep != nil {
				ck = store.NewMemory(store.MemoryConfig{})
				c.prep(t, ck)
			}
			reg := prometheus.NewRegistry()
			r := New(Deps{Tagger: func() Tagger { return tagFunc(sc.Tag) }, Analyzer: analyzer.New(analyzer.DefaultConfig()),
				Routes: st, Events: st, Checkpoints: ck, Logger: slog.New(slog.DiscardHandler), Registerer: reg})
			r.now = func() time.Time { return c.wall }
			res, err := r.Restore(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := testutil.ToFloat64(r.ck.restores.WithLabelValues(c.result)); got != 1 {
				t.Errorf("restores{result=%s} = %v, want 1", c.result, got)
			}
			if res.OpenEvents != c.open || len(r.open) != c.open {
				t.Errorf("open events = %d (engine %d), want %d", res.OpenEvents, len(r.open), c.open)
			}
			if c.result != "restored" {
				return
			}
			if !r.lastData.Equal(at) || r.d.Analyzer.Stats().Slots != wantSlots {
				t.Errorf("restored data time %v slots %d, want %v %d", r.lastData, r.d.Analyzer.Stats().Slots, at, wantSlots)
			}
			var n float64
			for _, k := range []route.EventKind{route.KindPathShift, route.KindWithdrawal} {
				n += testutil.ToFloat64(r.m.openEvents.WithLabelValues(string(k)))
			}
			if int(n) != wantOpen {
				t.Errorf("routewatch_events_open = %v right after restore, want %d", n, wantOpen)
			}
		})
	}
}

// TestResyncAfterRestore: a peer whose session comes up after a restore
// re-sends its table; identical routes are no changes, and what it no
// longer sends is gone at End-of-RIB.
func TestResyncAfterRestore(t *testing.T) {
	e, st, sc, at := openEngine(t)
	ctx := context.Background()
	if err := e.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	r := New(Deps{Tagger: func() Tagger { return tagFunc(sc.Tag) }, Analyzer: analyzer.New(analyzer.DefaultConfig()),
		Routes: st, Events: st, Checkpoints: st, Logger: slog.New(slog.DiscardHandler)})
	r.now = func() time.Time { return at }
	if _, err := r.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	// The current routes of one peer, as the store holds them.
	var peer route.Peer
	var table []route.Update
	for _, it := range sc.Items() {
		if it.Update != nil && !it.Update.Withdraw {
			if peer == (route.Peer{}) {
				peer = it.Update.Peer
			}
			if it.Update.Peer == peer {
				table = append(table, *it.Update)
			}
		}
	}
	before := r.d.Analyzer.Stats()
	t1 := at.Add(time.Second)
	r.handle(ctx, route.Batch{States: []route.PeerState{{Time: t1, Peer: peer, Old: route.StateIdle, New: route.StateEstablished}}})
	// Re-send only the last announcement of the first prefix; the rest
	// vanished during the downtime.
	u := table[len(table)-1]
	u.Time = t1
	r.handle(ctx, route.Batch{Updates: []route.Update{u}})
	r.handle(ctx, route.Batch{States: []route.PeerState{{Time: t1, Peer: peer, Old: route.StateEstablished, New: route.StateEstablished, EndOfRIB: true}}})
	after := r.d.Analyzer.Stats()
	if after.Slots >= before.Slots {
		t.Errorf("slots %d → %d: the routes the peer no longer sends were kept", before.Slots, after.Slots)
	}
	if len(r.open) != len(e.open) {
		t.Errorf("open events %d after the resync, want %d", len(r.open), len(e.open))
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	good, _ := encodeCheckpoint(checkpointHeader{DataTime: time.Unix(1700000000, 0)}, []byte("RWAS\x01"))
	f.Add(good)
	f.Add([]byte("RWCK\x01\x05{}"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, snap, err := decodeCheckpoint(data)
		if err != nil {
			return
		}
		again, err := encodeCheckpoint(h, snap)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := decodeCheckpoint(again); err != nil {
			t.Fatalf("re-encoded checkpoint does not decode: %v", err)
		}
	})
}

// TestStreamPosition: the engine applies each stream entry once (a
// redelivery at or before the last applied is skipped), its checkpoint
// records the last, and the restored engine skips what the checkpoint
// holds; before any entry, the base position given at start is recorded.
func TestStreamPosition(t *testing.T) {
	ctx := context.Background()
	ann := func(id string) Job {
		u := route.Update{Time: time.Unix(1700000000, 0), Source: "s", Peer: route.Peer{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 65001},
			Prefix: netip.MustParsePrefix("198.51.100.0/24"), Attrs: &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{65001, 64500}}}}}
		return Job{Batch: route.Batch{Updates: []route.Update{u}}, StreamID: id, Done: make(chan error, 1)}
	}
	tests := []struct {
		name string
		base string
		ids  []string // delivered, in order
		want float64  // updates applied
		pos  string   // recorded in the checkpoint
	}{
		{"each entry once", "", []string{"1-0", "2-0", "1-0", "2-0", "3-0"}, 3, "3-0"},
		{"base before any entry", "5-0", nil, 0, "5-0"},
		{"entries at or before the base are held", "5-0", []string{"4-0", "5-0", "5-1"}, 1, "5-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory(store.MemoryConfig{})
			newEngine := func() *Engine {
				return New(Deps{Tagger: func() Tagger { return tagFunc(func(*route.Update) {}) }, Analyzer: analyzer.New(analyzer.DefaultConfig()),
					Events: st, Checkpoints: st, Checkpoint: CheckpointConfig{CheckpointMaxAge: -1}, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
			}
			run := func(e *Engine, ids []string) float64 {
				rctx, cancel := context.WithCancel(ctx)
				jobs := make(chan Job)
				done := make(chan error, 1)
				go func() { done <- e.Run(rctx, nil, jobs, Config{}) }()
				for _, id := range ids {
					j := ann(id)
					jobs <- j
					if err := <-j.Done; err != nil {
						t.Fatal(err)
					}
				}
				cancel() // a clean stop: checkpointed
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				return testutil.ToFloat64(e.m.updates.WithLabelValues("s"))
			}
			e := newEngine()
			e.SetStreamBase(tt.base)
			if got := run(e, tt.ids); got != tt.want {
				t.Errorf("updates applied = %v, want %v", got, tt.want)
			}
			r := newEngine()
			res, err := r.Restore(ctx)
			if err != nil || !res.Restored || res.StreamID != tt.pos {
				t.Fatalf("Restore = %+v, %v; want stream position %q", res, err, tt.pos)
			}
			// Everything again, then one entry after: only that one counts.
			again := append(append([]string(nil), tt.ids...), "9-0")
			if got := run(r, again); got != 1 {
				t.Errorf("updates applied after the restore = %v, want 1", got)
			}
		})
	}
}
