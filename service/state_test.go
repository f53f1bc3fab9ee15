package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// TestServiceMemoryStateFile: with store.memory.state_file, what the first
// run stored (the demo's event) is served by a second run that has no
// demo, straight after start.
func TestServiceMemoryStateFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.rws")
	run := func(demo bool, until func(base string) bool) {
		t.Helper()
		cfg := Default()
		cfg.Demo = demo
		cfg.Store.Memory.StateFile = file
		cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg.Collector.Port = testenv.FreePort(t)
		cfg.Collector.ListenAddresses = []string{"127.0.0.1"}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		svc, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		base := "http://" + cfg.API.Listen
		deadline := time.NewTimer(60 * time.Second) // bounds a broken run only
		defer deadline.Stop()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !until(base) {
			select {
			case <-deadline.C:
				t.Fatal("condition never held")
			case <-tick.C:
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	var first []route.Event
	run(true, func(base string) bool {
		first = demoEvents(base)
		return len(first) > 0
	})
	run(false, func(base string) bool {
		again := demoEvents(base)
		return len(again) > 0 && again[0].ID == first[0].ID
	})
}

func demoEvents(base string) []route.Event {
	resp, err := http.Get(base + "/api/v1/events?kind=path_shift")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Events []route.Event `json:"events"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return body.Events
}
