package service

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"routewatch/route"
)

// TestServiceMemoryStateFile: with store.memory.state_file, what the first
// run stored (the demo's event) is served by a second run that has no
// demo, straight after start.
func TestServiceMemoryStateFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.rws")
	run := func(demo bool, until func(base string) bool) {
		t.Helper()
		cfg := loopbackConfig(t)
		cfg.Demo = demo
		cfg.Store.Memory.StateFile = file
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		_, stop := startService(t, cfg)
		base := "http://" + cfg.API.Listen
		waitUntil(t, "the demo's event in the API", func() bool { return until(base) })
		if err := stop(); err != nil {
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
