package analyzer_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"routewatch/analyzer"
	"routewatch/mrtdata/scenario"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// TestGolden pins every event change the analyzer emits on each scenario
// (several seeds, both initial-load forms) byte for byte: a refactoring
// must leave them unchanged, a change of behaviour shows up as a diff of
// testdata/golden (rewrite with -update and review it).
func TestGolden(t *testing.T) {
	for _, name := range allScenarios() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			for _, tc := range []struct {
				updates bool
				seed    int64
			}{{false, 1}, {true, 1}, {false, 2}, {false, 3}} {
				s, err := scenario.Build(name, scenario.Options{Seed: tc.seed, InitialAsUpdates: tc.updates})
				if err != nil {
					t.Fatal(err)
				}
				_, changes := run(t, s, analyzer.DefaultConfig())
				fmt.Fprintf(&buf, "# seed %d, initial as updates %v\n", tc.seed, tc.updates)
				for _, c := range changes {
					b, err := json.Marshal(c.Event)
					if err != nil {
						t.Fatal(err)
					}
					fmt.Fprintf(&buf, "%s %s\n", c.Change, b)
				}
			}
			path := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(want, buf.Bytes()) {
				t.Errorf("%s differs from the analyzer's output (rerun with -update if intended):\n%s", path, firstDiff(want, buf.Bytes()))
			}
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := range max(len(wl), len(gl)) {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, w, g)
		}
	}
	return ""
}
