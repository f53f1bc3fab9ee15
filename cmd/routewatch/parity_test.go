package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
	"routewatch/service"
)

// TestReplayServeParity: `routewatch replay` and serve's startup replay run
// the same pipeline, so every fixture and every shared RIS file gives the
// same events, field for field.
func TestReplayServeParity(t *testing.T) {
	type input struct {
		name  string
		file  string
		specs []string
	}
	var inputs []input
	fixtures, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "testdata", "scenarios", "*.mrt.gz"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("fixtures: %v", err)
	}
	for _, f := range fixtures {
		inputs = append(inputs, input{filepath.Base(f), f, []string{strings.TrimSuffix(f, ".mrt.gz") + ".ip-ranges.json"}})
	}
	for _, f := range sharedMRTFiles(t) {
		inputs = append(inputs, input{filepath.Base(f), f, originRanges(t, f, 40)})
	}
	total := 0
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			args := []string{"replay", "-q", "--format", "json"}
			for _, s := range in.specs {
				args = append(args, "--ranges", s)
			}
			code, out, errOut := runCLI(t, append(args, in.file)...)
			if code != exitOK {
				t.Fatalf("replay: exit %d: %s", code, errOut)
			}
			replayed := canonEvents(t, decodeEvents(t, out))
			served := canonEvents(t, serveReplay(t, in.file, in.specs))
			if !slices.Equal(replayed, served) {
				t.Fatalf("replay and serve differ:\nreplay (%d):\n%s\nserve (%d):\n%s", len(replayed),
					strings.Join(replayed, "\n"), len(served), strings.Join(served, "\n"))
			}
			t.Logf("%d events alike", len(replayed))
			total += len(replayed)
		})
	}
	if total == 0 {
		t.Error("no input gave an event: the comparison proves nothing")
	}
}

// serveReplay runs the service with file as its startup replay and
// returns the events its API lists once the replay is done.
func serveReplay(t *testing.T, file string, specs []string) []route.Event {
	t.Helper()
	cfg := service.Default()
	cfg.Replay.Files = []string{file}
	cfg.Ranges.Specs = specs
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	*cfg.Collector.Enabled = false
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	svc, err := service.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-svc.Replayed():
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("startup replay did not finish")
	}
	var evs []route.Event
	cursor := ""
	for {
		var page struct {
			Events     []route.Event `json:"events"`
			NextCursor string        `json:"next_cursor"`
		}
		u := "http://" + cfg.API.Listen + "/api/v1/events?limit=1000"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		waitFor(t, 10*time.Second, "the API", func() bool { return getJSON(u, &page) == 200 })
		evs = append(evs, page.Events...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	return evs
}

// canonEvents renders events in (start, id) order with empty lists
// written alike, since the API writes [] where replay may write null.
func canonEvents(t *testing.T, evs []route.Event) []string {
	t.Helper()
	out := make([]string, len(evs))
	slices.SortFunc(evs, func(a, b route.Event) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i, e := range evs {
		if len(e.Transitions) == 0 {
			e.Transitions = nil
		}
		if len(e.AffectedPeers) == 0 {
			e.AffectedPeers = nil
		}
		if len(e.SamplePrefixes) == 0 {
			e.SamplePrefixes = nil
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}
