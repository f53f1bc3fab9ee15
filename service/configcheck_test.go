package service

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestInvalidConfigs: each testdata/config/invalid-*.yml gives the error in
// its .golden file (go test -run TestInvalidConfigs -update rewrites them).
// Messages name YAML keys and lines, never Go types.
func TestInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "config", "invalid-*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yml"), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			_, err = Parse(r, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			got := err.Error() + "\n"
			for _, goType := range []string{"time.Duration", "int64", "uint32", "!!str", "into ", "struct", "Config"} {
				if strings.Contains(got, goType) {
					t.Errorf("message exposes Go/YAML internals (%q):\n%s", goType, got)
				}
			}
			golden := strings.TrimSuffix(f, ".yml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
