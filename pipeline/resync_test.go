package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"routewatch/analyzer"
	"routewatch/route"
	"routewatch/store"
)

// TestResyncDeadline: after a restore, a BGP vantage point of the
// checkpoint that never reconnects is taken as down once the resync
// window has passed (its routes stale, a peer_down open); one that came
// back and re-sent its table is kept; nothing happens before the
// deadline, with the window disabled, or without session sources (the
// analyzer role, which re-reads the stream instead).
func TestResyncDeadline(t *testing.T) {
	ctx := context.Background()
	t0 := time.Unix(1700000000, 0).UTC()
	peers := []route.Peer{
		{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 65001},
		{Addr: netip.MustParseAddr("192.0.2.2"), ASN: 65002},
	}
	table := func(p route.Peer, at time.Time) []route.Update {
		attrs := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{p.ASN, 3356, 16509}}}}
		var ups []route.Update
		for i := range 20 {
			ups = append(ups, route.Update{Time: at, Source: "bgp", Peer: p, Prefix: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", i)), Attrs: attrs})
		}
		return ups
	}
	up := func(p route.Peer, at time.Time) route.PeerState {
		return route.PeerState{Time: at, Source: "bgp", Peer: p, Old: route.StateOpenConfirm, New: route.StateEstablished}
	}
	tag := tagFunc(func(u *route.Update) { u.Tags = []route.Tag{{Provider: "p", Region: "r"}} })
	const window = 10 * time.Minute
	tests := []struct {
		name     string
		sessions bool
		window   time.Duration
		after    time.Duration // wall time after the restore
		wantDown bool
	}{
		{"taken as down after the window", true, window, window, true},
		{"not before the window", true, window, window - time.Second, false},
		{"window disabled", true, -1, window, false},
		{"no session sources", false, window, window, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory(store.MemoryConfig{})
			var sessions func(string) bool
			if tt.sessions {
				sessions = func(src string) bool { return src == "bgp" }
			}
			newEngine := func(at time.Time) *Engine {
				e := New(Deps{Tagger: func() Tagger { return tag }, Analyzer: analyzer.New(analyzer.DefaultConfig()), Events: st,
					Checkpoints: st, Checkpoint: CheckpointConfig{ResyncWindow: tt.window}, Sessions: sessions, Logger: slog.New(slog.DiscardHandler)})
				e.now = func() time.Time { return at }
				return e
			}
			e := newEngine(t0)
			for _, p := range peers {
				e.handle(ctx, route.Batch{States: []route.PeerState{up(p, t0)}, Updates: table(p, t0)})
			}
			if err := e.checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			r := newEngine(t0.Add(time.Second))
			if res, err := r.Restore(ctx); err != nil || !res.Restored {
				t.Fatalf("Restore = %+v, %v", res, err)
			}
			// The first vantage point comes back and re-sends its table.
			t1 := t0.Add(2 * time.Second)
			r.handle(ctx, route.Batch{States: []route.PeerState{up(peers[0], t1)}})
			r.handle(ctx, route.Batch{Updates: table(peers[0], t1)})
			eor := route.PeerState{Time: t1, Source: "bgp", Peer: peers[0], Old: route.StateEstablished, New: route.StateEstablished, EndOfRIB: true}
			r.handle(ctx, route.Batch{States: []route.PeerState{eor}})

			r.now = func() time.Time { return t0.Add(time.Second + tt.after) }
			r.resyncDeadline(ctx)
			stats := r.d.Analyzer.Stats()
			down := 0
			for _, k := range r.open {
				if k == route.KindPeerDown {
					down++
				}
			}
			// Stats.Stale counts routes made stale: 20 by the first peer's
			// resync (all re-sent since), 20 more when the second is taken
			// as down.
			if tt.wantDown {
				if stats.Stale != 40 || down != 1 || stats.Slots != 40 {
					t.Errorf("after the window: made stale %d, peer_down open %d, slots %d; want 40 (20 of the missing peer), 1 peer_down, 40 slots",
						stats.Stale, down, stats.Slots)
				}
				return
			}
			if stats.Stale != 20 || down != 0 {
				t.Errorf("made stale %d, peer_down open %d; want 20 (the resync only) and none", stats.Stale, down)
			}
		})
	}
}
