package analyzer_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"routewatch/analyzer"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

// run feeds a scenario through a fresh analyzer the way replay does and
// returns the final events and every change emitted.
func run(t testing.TB, s *scenario.Scenario, cfg analyzer.Config) ([]route.Event, []route.EventChange) {
	t.Helper()
	a := analyzer.New(cfg)
	var changes []route.EventChange
	for _, it := range s.Items() {
		if it.State != nil {
			changes = append(changes, a.ObservePeer(*it.State)...)
			continue
		}
		u := *it.Update
		s.Tag(&u)
		changes = append(changes, a.Observe(u)...)
	}
	changes = append(changes, a.Tick(s.End)...)
	changes = append(changes, a.Flush()...)
	return a.Events(), changes
}

func describe(evs []route.Event) string {
	out := ""
	for _, e := range evs {
		end := "open"
		if e.End != nil {
			end = e.End.Format(time.TimeOnly)
		}
		out += fmt.Sprintf("\n  %s %s/%s start=%s detected=%s end=%s prefixes=%d peers=%d %q",
			e.Kind, e.Provider, e.Region, e.Start.Format(time.TimeOnly), e.Detected.Format(time.TimeOnly), end, e.Prefixes, e.Peers, e.Summary)
	}
	return out
}

const (
	startTolerance = 2 * time.Minute
	endTolerance   = 5 * time.Minute
)

// checkExpected asserts that the events are exactly the expected ones.
func checkExpected(t *testing.T, s *scenario.Scenario, evs []route.Event) {
	t.Helper()
	used := make([]bool, len(evs))
	for _, x := range s.Expected {
		found := -1
		for i, e := range evs {
			if used[i] || e.Kind != x.Kind {
				continue
			}
			if x.Kind == route.KindPeerDown {
				if len(e.AffectedPeers) != 1 || e.AffectedPeers[0] != x.Peer {
					continue
				}
			} else if e.Provider != x.Provider || e.Region != x.Region {
				continue
			}
			found = i
			break
		}
		if found < 0 {
			t.Errorf("missing %s %s/%s %v from %s; got:%s", x.Kind, x.Provider, x.Region, x.Peer, x.Start.Format(time.TimeOnly), describe(evs))
			continue
		}
		used[found] = true
		e := evs[found]
		if d := e.Start.Sub(x.Start).Abs(); d > startTolerance {
			t.Errorf("%s %s: start %s, want %s ± %s", x.Kind, x.Region, e.Start.Format(time.TimeOnly), x.Start.Format(time.TimeOnly), startTolerance)
		}
		if e.Detected.Before(e.Start) {
			t.Errorf("%s %s: detected %s before start %s", x.Kind, x.Region, e.Detected, e.Start)
		}
		if e.End == nil {
			t.Errorf("%s %s: still open, want end %s", x.Kind, x.Region, x.End.Format(time.TimeOnly))
		} else if d := e.End.Sub(x.End).Abs(); d > endTolerance {
			t.Errorf("%s %s: end %s, want %s ± %s", x.Kind, x.Region, e.End.Format(time.TimeOnly), x.End.Format(time.TimeOnly), endTolerance)
		}
	}
	for i, e := range evs {
		if !used[i] {
			t.Errorf("unexpected event:%s", describe([]route.Event{e}))
		}
	}
	if t.Failed() {
		t.Logf("events:%s", describe(evs))
	}
}

func TestScenarios(t *testing.T) {
	for _, name := range allScenarios() {
		for _, tc := range []struct {
			initial string
			seed    int64
		}{{"rib", 1}, {"updates", 1}, {"rib", 2}, {"rib", 3}, {"rib", 4}} {
			t.Run(fmt.Sprintf("%s/%s/seed%d", name, tc.initial, tc.seed), func(t *testing.T) {
				s, err := scenario.Build(name, scenario.Options{Seed: tc.seed, InitialAsUpdates: tc.initial == "updates"})
				if err != nil {
					t.Fatal(err)
				}
				evs, changes := run(t, s, analyzer.DefaultConfig())
				checkExpected(t, s, evs)
				checkChanges(t, evs, changes)
				t.Logf("%d updates, events:%s", len(s.Updates), describe(evs))
			})
		}
	}
}

// checkChanges: every event was opened once and resolved at most once, in
// that order, and its last change is its final state.
func checkChanges(t *testing.T, evs []route.Event, changes []route.EventChange) {
	t.Helper()
	last := map[string]route.EventChange{}
	for _, c := range changes {
		prev, seen := last[c.Event.ID]
		switch {
		case c.Change == route.EventOpened && seen:
			t.Errorf("event %s opened twice", c.Event.ID)
		case c.Change != route.EventOpened && !seen:
			t.Errorf("event %s %s before opened", c.Event.ID, c.Change)
		case seen && prev.Change == route.EventResolved:
			t.Errorf("event %s %s after resolved", c.Event.ID, c.Change)
		}
		last[c.Event.ID] = c
	}
	if len(last) != len(evs) {
		t.Errorf("%d events in changes, %d in Events()", len(last), len(evs))
	}
	for _, e := range evs {
		c := last[e.ID]
		if c.Event.Prefixes != e.Prefixes || c.Event.Open() != e.Open() || c.Event.Summary != e.Summary {
			t.Errorf("event %s: last change %+v differs from final %+v", e.ID, c.Event, e)
		}
	}
}

func TestScenarioDeterminism(t *testing.T) {
	for _, name := range []string{"overlap", "table_loss"} {
		t.Run(name, func(t *testing.T) {
			a, _ := scenario.Build(name, scenario.Options{Seed: 7})
			b, _ := scenario.Build(name, scenario.Options{Seed: 7})
			ea, ca := run(t, a, analyzer.DefaultConfig())
			eb, cb := run(t, b, analyzer.DefaultConfig())
			if fmt.Sprint(ea) != fmt.Sprint(eb) || fmt.Sprint(ca) != fmt.Sprint(cb) {
				t.Errorf("same seed, different events:%s\nvs%s", describe(ea), describe(eb))
			}
			ids := func(evs []route.Event) []string {
				var out []string
				for _, e := range evs {
					out = append(out, e.ID)
				}
				return out
			}
			if !slices.Equal(ids(ea), ids(eb)) {
				t.Errorf("ids differ: %v vs %v", ids(ea), ids(eb))
			}
		})
	}
}

// allScenarios is every scenario the builder knows.
func allScenarios() []string { return append(scenario.Names(), scenario.MultiProvider()...) }
