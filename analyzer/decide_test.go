package analyzer

import (
	"testing"
	"time"

	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

func TestDecideOpen(t *testing.T) {
	c := DefaultConfig() // MinPrefixes 5, MinShare 0.1, MinPeers 3, BaselineMultiple 4
	now := time.Date(2021, 12, 15, 15, 20, 0, 0, time.UTC)
	base := groupWindow{now: now, warmUntil: now.Add(-time.Minute), corr: 10, size: 50}
	tests := []struct {
		name  string
		edit  func(*groupWindow)
		peers int
		want  verdict
		// counted says whether the vantage points must have been counted.
		counted bool
	}{
		{"past every threshold", func(*groupWindow) {}, 3, verdictPending, true},
		{"too few vantage points", func(*groupWindow) {}, 2, verdictRecheck, true},
		{"already pending", func(w *groupWindow) { w.pending = true }, 9, verdictNone, false},
		{"warm-up window", func(w *groupWindow) { w.warmUntil = now.Add(time.Second) }, 9, verdictNone, false},
		{"cooling down", func(w *groupWindow) { w.cooldown = now.Add(time.Second) }, 9, verdictNone, false},
		{"recheck not yet due", func(w *groupWindow) { w.nextCheck = now.Add(time.Second) }, 9, verdictNone, false},
		{"recheck due", func(w *groupWindow) { w.nextCheck = now }, 9, verdictPending, true},
		{"too few prefixes", func(w *groupWindow) { w.corr = 4 }, 9, verdictNone, false},
		{"small share of a big group", func(w *groupWindow) { w.size = 101 }, 9, verdictNone, false},
		{"share exactly met", func(w *groupWindow) { w.size = 100 }, 9, verdictPending, true},
		{"within the baseline", func(w *groupWindow) { w.baseline = 2.6 }, 9, verdictNone, false},
		{"baseline multiple met", func(w *groupWindow) { w.baseline = 2.5 }, 9, verdictPending, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := base
			tt.edit(&w)
			calls := 0
			got := decideOpen(c, w, func() int { calls++; return tt.peers })
			if got != tt.want {
				t.Errorf("decideOpen = %d, want %d", got, tt.want)
			}
			if (calls > 0) != tt.counted || calls > 1 {
				t.Errorf("vantage points counted %d times, want counted=%v", calls, tt.counted)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name                              string
		withdrawn, shifted, communityOnly int
		want                              route.EventKind
	}{
		{"all shifted", 0, 9, 0, route.KindPathShift},
		{"all withdrawn", 9, 0, 0, route.KindWithdrawal},
		{"tie is a shift", 4, 4, 0, route.KindPathShift},
		{"mostly withdrawn", 5, 4, 0, route.KindWithdrawal},
		{"communities only", 0, 9, 9, route.KindCommunityChange},
		{"communities and paths", 0, 9, 8, route.KindPathShift},
		{"communities and withdrawals", 1, 9, 9, route.KindPathShift},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kindOf(tt.withdrawn, tt.shifted, tt.communityOnly); got != tt.want {
				t.Errorf("kindOf(%d, %d) = %s, want %s", tt.withdrawn, tt.shifted, got, tt.want)
			}
		})
	}
}

// TestCountersFollowSlots: after every input of every scenario each vantage
// point's counters equal what its slots say (setState owns them).
func TestCountersFollowSlots(t *testing.T) {
	for _, name := range append(scenario.Names(), scenario.MultiProvider()...) {
		t.Run(name, func(t *testing.T) {
			s, err := scenario.Build(name, scenario.Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			a := New(DefaultConfig())
			for i, it := range s.Items() {
				if it.State != nil {
					a.ObservePeer(*it.State)
				} else {
					u := *it.Update
					s.Tag(&u)
					a.Observe(u)
				}
				for _, p := range a.peers {
					var nPresent, nStale int
					for _, sl := range p.slots {
						switch sl.state {
						case present:
							nPresent++
						case stale:
							nStale++
						}
					}
					if nPresent != p.present || nStale != p.staleN {
						t.Fatalf("input %d: peer %v counts present %d stale %d, slots say %d and %d", i, p.peer, p.present, p.staleN, nPresent, nStale)
					}
				}
			}
		})
	}
}
