package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"routewatch/archive"
	"routewatch/internal/archivetest"
	"routewatch/internal/testenv"
	"routewatch/mrtdata/scenario"
)

// TestReplayWindow replays a scenario split over two collectors' archives
// (RIS rrc00 gzip, RouteViews route-views2 bzip2) served by a local HTTP
// server, by collector and window, and compares the events with a replay
// of the same data given by hand: the whole scenario file for the merged
// window, the collector's files in order for one collector.
func TestReplayWindow(t *testing.T) {
	start := time.Date(2021, 12, 15, 16, 0, 0, 0, time.UTC)
	sc, err := scenario.Build("te_shift", scenario.Options{Seed: 1, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	whole, rangesPath := writeScenario(t, sc)
	var cs []archive.Collector
	for _, n := range []string{"rrc00", "route-views2"} {
		c, _ := archive.ResolveCollector(n, "")
		cs = append(cs, c)
	}
	tree, err := archivetest.Write(t.TempDir(), sc, cs, testenv.Command(t, "bzip2"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(tree.Dir)))
	t.Cleanup(srv.Close)
	window := []string{"--from", start.Format(time.RFC3339), "--to", sc.End.Add(time.Minute).Format(time.RFC3339)}
	base := func(n string) []string { return []string{"--base-url", n + "=" + srv.URL + "/" + n} }

	t.Run("two collectors merged equal the whole file", func(t *testing.T) {
		code, want, errOut := runCLI(t, "replay", "-q", "--format", "json", "--ranges", rangesPath, whole)
		if code != 0 || !strings.Contains(want, "path_shift") {
			t.Fatalf("hand replay: code %d, %s %s", code, want, errOut)
		}
		args := append([]string{"replay", "-q", "--format", "json", "--ranges", rangesPath, "--collector", "rrc00,route-views2", "--cache", t.TempDir()}, window...)
		args = append(append(args, base("rrc00")...), base("route-views2")...)
		code, got, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("window replay: code %d: %s", code, errOut)
		}
		if got != want {
			t.Fatalf("window replay events differ\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("one collector equals its files given by hand", func(t *testing.T) {
		var files []string
		for _, p := range tree.Files["rrc00"] {
			files = append(files, tree.Path(p))
		}
		code, want, errOut := runCLI(t, append([]string{"replay", "-q", "--ranges", rangesPath}, files...)...)
		if code != 0 {
			t.Fatalf("hand replay: code %d: %s", code, errOut)
		}
		args := append(append([]string{"replay", "-q", "--ranges", rangesPath, "--collector", "rrc00"}, window...), base("rrc00")...)
		code, got, errOut := runCLI(t, args...)
		if code != 0 || got != want {
			t.Fatalf("window replay: code %d\n got: %s\nwant: %s\n%s", code, got, want, errOut)
		}
	})
	t.Run("missing update file is reported, not fatal", func(t *testing.T) {
		gone := tree.Files["rrc00"][5]
		b, err := os.ReadFile(tree.Path(gone))
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(tree.Path(gone))
		t.Cleanup(func() { os.WriteFile(tree.Path(gone), b, 0o644) })
		args := append(append([]string{"replay", "--ranges", rangesPath, "--collector", "rrc00"}, window...), base("rrc00")...)
		code, _, errOut := runCLI(t, args...)
		if code != 0 || !strings.Contains(errOut, "missing") || !strings.Contains(errOut, "1 missing") {
			t.Fatalf("code %d, stderr:\n%s", code, errOut)
		}
	})
	t.Run("missing RIB fails", func(t *testing.T) {
		args := append(append([]string{"replay", "-q", "--collector", "rrc01"}, window...), "--base-url", "rrc01="+srv.URL+"/rrc01")
		code, _, errOut := runCLI(t, args...)
		if code != exitFail || !strings.Contains(errOut, "no RIB dump") {
			t.Fatalf("code %d, stderr:\n%s", code, errOut)
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"replay", "--collector", "rrc00", "--from", "yesterday", "--to", "2021-12-15T16:00:00Z"},
			{"replay", "--collector", "rrc00", "--from", "2021-12-15T16:00:00Z", "--to", "2021-12-15T15:00:00Z"},
			{"replay", "--collector", "nowhere", "--from", "2021-12-15T15:00:00Z", "--to", "2021-12-15T16:00:00Z"},
			{"replay", "--collector", "rrc00", "--from", "2021-12-15T15:00:00Z", "--to", "2021-12-15T16:00:00Z", "--base-url", "rrc01=http://x"},
			{"replay", "--collector", "rrc00", "--from", "2021-12-15T15:00:00Z", "--to", "2021-12-15T16:00:00Z", "file.mrt"},
		} {
			if code, _, errOut := runCLI(t, args...); code != exitUsage {
				t.Errorf("%q: code %d, want %d: %s", args, code, exitUsage, errOut)
			}
		}
		if code, _, _ := runCLI(t, "replay", "--collector", "rrc00", "--help"); code != exitOK {
			t.Errorf("--help: code %d", code)
		}
	})
}
