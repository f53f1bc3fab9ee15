package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

// The scenario fixtures in testdata/scenarios are what the README replays:
// MRT files written by our own MRT writer (TABLE_DUMP_V2 initial table,
// then BGP4MP updates and state changes) and an AWS-format ip-ranges.json
// publishing their regions. This test keeps them equal to what the
// builder produces (deterministic for a seed); -update rewrites them.
func TestScenarioFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "scenarios")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ranges := map[string][]byte{}
	for _, name := range fixtureScenarios {
		sc, err := scenario.Build(name, scenario.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		if err := sc.Write(&raw); err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw.Bytes())
		zw.Close()
		checkFixture(t, filepath.Join(dir, name+".mrt.gz"), gz.Bytes())
		// Every scenario publishes its regions the same way, IPv6 ones
		// included; one AWS-format file serves all fixtures.
		var rj bytes.Buffer
		if err := sc.WriteRanges(&rj); err != nil {
			t.Fatal(err)
		}
		ranges[name] = rj.Bytes()
	}
	for name, b := range ranges {
		checkFixture(t, filepath.Join(dir, name+".ip-ranges.json"), b)
	}
}

var fixtureScenarios = []string{"te_shift", "outage", "peer_reset", "overlap", "ipv6_shift", "noise"}

func checkFixture(t *testing.T, path string, want []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/routewatch -run TestScenarioFixtures -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the scenario builder's output (run with -update if the change is intended)", path)
	}
}

// TestReplayFixtures replays each shipped fixture the way the README does
// and checks the provider events against what the scenario contains.
func TestReplayFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "scenarios")
	for _, name := range fixtureScenarios {
		t.Run(name, func(t *testing.T) {
			sc, _ := scenario.Build(name, scenario.Options{Seed: 1})
			code, out, errOut := runCLI(t, "replay", "-q", "--format", "json",
				"--ranges", filepath.Join(dir, name+".ip-ranges.json"), filepath.Join(dir, name+".mrt.gz"))
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			type key struct {
				kind             route.EventKind
				provider, region string
			}
			got := map[key]int{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				var ev route.Event
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("bad JSON line %q: %v", line, err)
				}
				if ev.Kind != route.KindPeerDown {
					got[key{ev.Kind, ev.Provider, ev.Region}]++
				}
			}
			want := map[key]int{}
			for _, e := range sc.Expected {
				if e.Kind != route.KindPeerDown {
					want[key{e.Kind, e.Provider, e.Region}]++
				}
			}
			if len(got) != len(want) {
				t.Errorf("provider events %v, want %v", got, want)
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%v: %d events, want %d", k, got[k], n)
				}
			}
		})
	}
}

// TestReplayWithServeConfig: `replay --config` takes the same file as
// `serve --config` and uses its analyzer and ranges sections.
func TestReplayWithServeConfig(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "scenarios")
	code, out, errOut := runCLI(t, "replay", "-q", "--config", filepath.Join("..", "..", "config", "routewatch.example.yaml"),
		"--ranges", filepath.Join(dir, "te_shift.ip-ranges.json"), filepath.Join(dir, "te_shift.mrt.gz"))
	if code != exitOK || !strings.Contains(out, "path_shift") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
}
