package scenario_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"routewatch/mrtdata/scenario"
)

func TestDeterministic(t *testing.T) {
	for _, name := range allScenarios() {
		t.Run(name, func(t *testing.T) {
			a, err := scenario.Build(name, scenario.Options{Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := scenario.Build(name, scenario.Options{Seed: 9})
			var wa, wb bytes.Buffer
			if err := a.Write(&wa); err != nil {
				t.Fatal(err)
			}
			if err := b.Write(&wb); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(wa.Bytes(), wb.Bytes()) || fmt.Sprint(a.Expected) != fmt.Sprint(b.Expected) {
				t.Error("same seed, different scenario")
			}
			c, _ := scenario.Build(name, scenario.Options{Seed: 10})
			var wc bytes.Buffer
			_ = c.Write(&wc)
			if bytes.Equal(wa.Bytes(), wc.Bytes()) {
				t.Error("different seeds, same scenario")
			}
			items := a.Items()
			for i := 1; i < len(items); i++ {
				if tm(items[i]).Before(tm(items[i-1])) {
					t.Fatalf("item %d out of time order", i)
				}
			}
		})
	}
}

func tm(it scenario.Item) time.Time {
	if it.State != nil {
		return it.State.Time
	}
	return it.Update.Time
}

func TestSmallRegions(t *testing.T) {
	// One region with two prefixes: every builder still works.
	r := []scenario.Region{{Provider: "x", Region: "only", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")}}}
	for _, name := range allScenarios() {
		s, err := scenario.Build(name, scenario.Options{Regions: r, Peers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(&bytes.Buffer{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := scenario.Build("nope", scenario.Options{}); err == nil {
		t.Error("unknown scenario accepted")
	}
}

// allScenarios is every scenario the builder knows.
func allScenarios() []string { return append(scenario.Names(), scenario.MultiProvider()...) }
