package analyzer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"routewatch/analyzer"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

// feed gives items to a and returns the changes.
func feed(a *analyzer.Analyzer, s *scenario.Scenario, items []scenario.Item) []route.EventChange {
	var out []route.EventChange
	for _, it := range items {
		if it.State != nil {
			out = append(out, a.ObservePeer(*it.State)...)
			continue
		}
		u := *it.Update
		s.Tag(&u)
		out = append(out, a.Observe(u)...)
	}
	return out
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSnapshotRoundTrip: an analyzer restored from a snapshot taken at any
// point of any scenario gives exactly the changes, events and stats of the
// original on the rest of the stream.
func TestSnapshotRoundTrip(t *testing.T) {
	for _, name := range allScenarios() {
		for _, seed := range []int64{1, 2} {
			s, err := scenario.Build(name, scenario.Options{Seed: seed, InitialAsUpdates: seed == 2})
			if err != nil {
				t.Fatal(err)
			}
			items := s.Items()
			for _, cut := range []float64{0, 0.05, 0.4, 0.55, 0.7, 0.95} {
				t.Run(fmt.Sprintf("%s/seed%d/at%.0f%%", name, seed, cut*100), func(t *testing.T) {
					cfg := analyzer.DefaultConfig()
					a := analyzer.New(cfg)
					k := int(cut * float64(len(items)))
					feed(a, s, items[:k])
					snap, err := a.Snapshot()
					if err != nil {
						t.Fatal(err)
					}
					b, err := analyzer.Restore(cfg, snap)
					if err != nil {
						t.Fatal(err)
					}
					if ga, gb := jsonOf(t, a.Stats()), jsonOf(t, b.Stats()); ga != gb {
						t.Fatalf("stats after restore:\n%s\nwant\n%s", gb, ga)
					}
					ca := append(feed(a, s, items[k:]), a.Tick(s.End)...)
					cb := append(feed(b, s, items[k:]), b.Tick(s.End)...)
					ca, cb = append(ca, a.Flush()...), append(cb, b.Flush()...)
					if ga, gb := jsonOf(t, ca), jsonOf(t, cb); ga != gb {
						t.Errorf("changes differ after restore:\n%.2000s\nwant\n%.2000s", gb, ga)
					}
					if ga, gb := jsonOf(t, a.Events()), jsonOf(t, b.Events()); ga != gb {
						t.Errorf("events differ after restore")
					}
					if ga, gb := jsonOf(t, a.Stats()), jsonOf(t, b.Stats()); ga != gb {
						t.Errorf("stats differ at the end:\n%s\nwant\n%s", gb, ga)
					}
				})
			}
		}
	}
}

func TestRestoreRejects(t *testing.T) {
	a := analyzer.New(analyzer.DefaultConfig())
	good, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := append([]byte(nil), good...)
	other[4] = 99
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"no magic", []byte("hello world")},
		{"other version", other},
		{"truncated", good[:len(good)/2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := analyzer.Restore(analyzer.DefaultConfig(), tc.data); !errors.Is(err, analyzer.ErrSnapshot) {
				t.Errorf("Restore = %v, want ErrSnapshot", err)
			}
		})
	}
}

// snapshotSeed is a snapshot taken in the middle of an origin hijack and a
// TE shift: slots, window, baselines, open events of several kinds.
func snapshotSeed(f *testing.F) []byte {
	f.Helper()
	s, err := scenario.Build("origin_hijack", scenario.Options{Seed: 1, Regions: []scenario.Region{{
		Provider: "aws", Region: "r", Prefixes: scenario.TEShift(scenario.Options{Seed: 1}).Regions[0].Prefixes[:12]}}})
	if err != nil {
		f.Fatal(err)
	}
	a := analyzer.New(analyzer.DefaultConfig())
	items := s.Items()
	feed(a, s, items[:len(items)*6/10])
	b, err := a.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzRestore: any input is a snapshot or an ErrSnapshot error, never a
// crash; what restores snapshots again.
func FuzzRestore(f *testing.F) {
	seed := snapshotSeed(f)
	if *update {
		path := filepath.Join("testdata", "fuzz", "FuzzRestore", "mid_hijack")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(seed)
	f.Add([]byte("RWAS\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := analyzer.Restore(analyzer.DefaultConfig(), data)
		if err != nil {
			if !errors.Is(err, analyzer.ErrSnapshot) {
				t.Fatalf("error %v is not ErrSnapshot", err)
			}
			return
		}
		if _, err := a.Snapshot(); err != nil {
			t.Fatalf("restored analyzer does not snapshot: %v", err)
		}
	})
}
