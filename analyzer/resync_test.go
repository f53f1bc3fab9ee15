package analyzer_test

import (
	"testing"
	"time"

	"routewatch/analyzer"
	"routewatch/route"
)

// soakConfig is bench/soak.sh's analyzer section.
func soakConfig() analyzer.Config {
	cfg := analyzer.DefaultConfig()
	cfg.Window = time.Minute
	cfg.MinPeers = 3
	cfg.MinPeersPerPrefix = 3
	cfg.Settle = 10 * time.Second
	cfg.StablePeriod = 10 * time.Minute
	cfg.PeerDownHold = 20 * time.Second
	return cfg
}

// soakRun drives an analyzer like bench/soak.sh and the BGP collector do
// (TableDump until End-of-RIB), and can restart it from a snapshot.
type soakRun struct {
	t   *testing.T
	w   world
	cfg analyzer.Config
	a   *analyzer.Analyzer
	ch  []route.EventChange
}

func (r *soakRun) keep(ch []route.EventChange) {
	for _, c := range ch {
		r.t.Logf("%s %s %s", c.Change, c.Event.Kind, c.Event.Summary)
	}
	r.ch = append(r.ch, ch...)
}

// announce sends prefixes [from, to) of peer via upstream.
func (r *soakRun) announce(at time.Time, peer, from, to int, upstream uint32, tableDump bool) {
	for i := from; i < to; i++ {
		r.keep(r.a.Observe(r.w.update(at, peer, i, path(r.w.peers[peer].ASN, upstream, 16509), tableDump)))
	}
}

func (r *soakRun) all(at time.Time, upstream uint32) {
	for p := range r.w.peers {
		r.announce(at, p, 0, len(r.w.prefixes), upstream, false)
	}
}

func (r *soakRun) state(at time.Time, peer int, old, new route.SessionState, eor bool) {
	r.keep(r.a.ObservePeer(route.PeerState{Time: at, Peer: r.w.peers[peer], Old: old, New: new, EndOfRIB: eor}))
}

// restart snapshots, restores and re-syncs every peer, as a kill -9 and a
// restart from the last checkpoint do.
func (r *soakRun) restart() {
	r.reload()
	for p := range r.w.peers {
		r.a.Resync(r.w.peers[p])
	}
}

// reload snapshots and restores without a restart of the sessions.
func (r *soakRun) reload() {
	snap, err := r.a.Snapshot()
	if err != nil {
		r.t.Fatal(err)
	}
	if r.a, err = analyzer.Restore(r.cfg, snap); err != nil {
		r.t.Fatal(err)
	}
}

// resend: a peer's session comes up and it re-sends its table.
func (r *soakRun) resend(at time.Time, peer int, upstream uint32) {
	r.state(at, peer, route.StateOpenConfirm, route.StateEstablished, false)
	r.announce(at, peer, 0, len(r.w.prefixes), upstream, true)
	r.state(at, peer, route.StateEstablished, route.StateEstablished, true)
}

func (r *soakRun) count(c route.ChangeKind, k route.EventKind) int {
	n := 0
	for _, x := range r.ch {
		if x.Change == c && x.Event.Kind == k {
			n++
		}
	}
	return n
}

// TestSoakShiftAfterResync reproduces issue 18's lost path_shift: a
// vantage point that re-synced its table shortly before a shift (its
// replayed table, or its first routes after an End-of-RIB that withdrew
// the stale ones, had some routes on the previous shift's path, moved
// back with live updates or left there until the restore) must not give the next event a baseline
// on the shifted path; the event resolves when the routes are restored,
// across restarts from a checkpoint at any point, and the next shift opens
// its own event.
func TestSoakShiftAfterResync(t *testing.T) {
	for _, snapAt := range []string{"none", "after replay", "before restore", "mid restore", "after restore", "peer down"} {
		for _, tc := range []struct {
			name     string
			replayed int
			eorFirst bool // End-of-RIB before the replay: its routes are new slots
			stuck    bool // the replayed routes stay on 2914 until the restore
		}{{"unchanged", 0, false, false}, {"table20", 20, false, false}, {"table40", 40, false, false},
			{"live20", 20, true, false}, {"live40", 40, true, false},
			{"stuck20", 20, false, true}, {"stuck40", 40, false, true}, {"livestuck40", 40, true, true}} {
			replayed := tc.replayed
			t.Run(snapAt+"/"+tc.name, func(t *testing.T) {
				w := newWorld(4, 40)
				r := &soakRun{t: t, w: w, cfg: soakConfig()}
				r.a = analyzer.New(r.cfg)
				t1 := t0
				r.all(t1, 3356)
				// Peer 1 flaps; its replay re-sends `replayed` routes still via
				// 2914 in its initial table and moves them back live.
				down := t1.Add(3 * time.Minute)
				r.state(down, 1, route.StateEstablished, route.StateIdle, false)
				up := down.Add(11 * time.Second)
				r.state(up, 1, route.StateOpenConfirm, route.StateEstablished, false)
				if tc.eorFirst {
					// The collector withdraws the stale routes at End-of-RIB.
					for i := range w.prefixes {
						r.keep(r.a.Observe(w.update(up, 1, i, nil, false)))
					}
					r.state(up, 1, route.StateEstablished, route.StateEstablished, true)
				}
				r.announce(up, 1, 0, replayed, 2914, !tc.eorFirst)
				r.announce(up, 1, replayed, 40, 3356, !tc.eorFirst)
				if !tc.eorFirst {
					r.state(up, 1, route.StateEstablished, route.StateEstablished, true)
				}
				if snapAt == "after replay" {
					r.reload() // the table dump's routes, not yet moved back
				}
				if !tc.stuck {
					r.announce(up.Add(100*time.Millisecond), 1, 0, replayed, 3356, false)
				}

				shift := up.Add(28 * time.Second)
				r.all(shift, 2914)
				r.keep(r.a.Tick(shift.Add(11 * time.Second)))
				if n := r.count(route.EventOpened, route.KindPathShift); n != 1 {
					t.Fatalf("%d path_shift opened at the shift, want 1", n)
				}
				back := shift.Add(50 * time.Second)
				switch snapAt {
				case "before restore":
					r.restart()
					for p := range w.peers {
						r.resend(back, p, 3356)
					}
				case "mid restore":
					r.announce(back, 0, 0, 40, 3356, false)
					r.announce(back, 1, 0, 20, 3356, false)
					r.restart()
					for _, p := range []int{0, 3, 1, 2} {
						r.resend(back.Add(time.Second), p, 3356)
					}
				case "after restore":
					r.all(back, 3356)
					r.restart()
					for _, p := range []int{0, 3, 1, 2} {
						r.resend(back.Add(20*time.Second), p, 3356)
					}
				case "peer down":
					r.all(back, 3356)
					pd := back.Add(12 * time.Second)
					r.state(pd, 2, route.StateEstablished, route.StateIdle, false)
					r.restart()
					for _, p := range []int{0, 3, 1} {
						r.resend(pd.Add(11*time.Second), p, 3356)
					}
					r.resend(pd.Add(11*time.Second), 2, 3356)
				default:
					r.all(back, 3356)
				}
				r.keep(r.a.Tick(back.Add(time.Minute)))
				if n := r.count(route.EventResolved, route.KindPathShift); n != 1 {
					t.Fatalf("%d path_shift resolved after the restore, want 1", n)
				}
				next := back.Add(100 * time.Second)
				r.all(next, 2914)
				r.keep(r.a.Tick(next.Add(11 * time.Second)))
				if n := r.count(route.EventOpened, route.KindPathShift); n != 2 {
					t.Fatalf("%d path_shift opened, want 2 (the next shift its own)", n)
				}
			})
		}
	}
}

// TestPeerBackDuringShiftRestores: a vantage point whose session was down
// when a shift began comes back during the event and re-sends its table
// on the shifted path (a table dump, no change record); when the routes
// are restored the event resolves, also after a restart from a snapshot
// taken while it was down or back.
func TestPeerBackDuringShiftRestores(t *testing.T) {
	for _, snapAt := range []string{"none", "while down", "while back"} {
		t.Run(snapAt, func(t *testing.T) {
			w := newWorld(4, 40)
			r := &soakRun{t: t, w: w, cfg: soakConfig()}
			r.a = analyzer.New(r.cfg)
			r.all(t0, 3356)
			shift := t0.Add(3 * time.Minute)
			r.state(shift.Add(-2*time.Second), 2, route.StateEstablished, route.StateIdle, false)
			for _, p := range []int{0, 1, 3} {
				r.announce(shift, p, 0, 40, 2914, false)
			}
			r.keep(r.a.Tick(shift.Add(11 * time.Second)))
			if snapAt == "while down" {
				r.reload()
			}
			r.resend(shift.Add(15*time.Second), 2, 2914)
			if snapAt == "while back" {
				r.restart()
				for p := range w.peers {
					r.resend(shift.Add(25*time.Second), p, 2914)
				}
			}
			back := shift.Add(50 * time.Second)
			r.all(back, 3356)
			r.keep(r.a.Tick(back.Add(time.Minute)))
			if o, n := r.count(route.EventOpened, route.KindPathShift), r.count(route.EventResolved, route.KindPathShift); o != 1 || n != 1 {
				t.Fatalf("path_shift opened %d, resolved %d after the restore, want 1 and 1", o, n)
			}
			next := back.Add(100 * time.Second)
			r.all(next, 2914)
			r.keep(r.a.Tick(next.Add(11 * time.Second)))
			if n := r.count(route.EventOpened, route.KindPathShift); n != 2 {
				t.Fatalf("%d path_shift opened, want 2 (the next shift its own)", n)
			}
		})
	}
}
