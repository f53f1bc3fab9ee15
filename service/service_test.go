package service

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// TestServiceDemoLifecycle runs the assembled service in process on the
// embedded store with the demo: the API becomes ready, the demo's event
// reaches it, and cancelling the context shuts everything down cleanly.
func TestServiceDemoLifecycle(t *testing.T) {
	cfg := loopbackConfig(t)
	cfg.Demo = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, stop := startService(t, cfg)

	base := "http://" + cfg.API.Listen
	deadline := time.Now().Add(60 * time.Second)
	found := false
	for time.Now().Before(deadline) && !found {
		time.Sleep(200 * time.Millisecond)
		resp, err := http.Get(base + "/api/v1/events?kind=path_shift")
		if err != nil {
			continue
		}
		var body struct {
			Events []route.Event `json:"events"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		found = err == nil && resp.StatusCode == http.StatusOK && len(body.Events) > 0 &&
			body.Events[0].Provider == "aws" && body.Events[0].Region == "us-west-2"
	}
	if !found {
		t.Error("the demo's path_shift never reached the API")
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestServiceReplayTruncated: a truncated warm-up archive is reported and
// counted, what was read is in the store, and the service keeps serving.
func TestServiceReplayTruncated(t *testing.T) {
	raw := testenv.Gunzip(t, filepath.Join(testenv.RepoRoot(t), "testdata", "scenarios", "te_shift.mrt.gz"))
	cut := filepath.Join(t.TempDir(), "cut.mrt")
	if err := os.WriteFile(cut, raw[:len(raw)/2+7], 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := loopbackConfig(t)
	cfg.Replay.Files = []string{cut, filepath.Join(t.TempDir(), "missing.mrt")}
	cfg.Ranges.Specs = []string{filepath.Join(testenv.RepoRoot(t), "testdata", "scenarios", "te_shift.ip-ranges.json")}
	*cfg.Collector.Enabled = false
	svc, stop := startService(t, cfg)
	select {
	case <-svc.replayed:
	case <-time.After(30 * time.Second):
		t.Fatal("replay did not finish")
	}
	counted := map[string]float64{}
	mfs, err := svc.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "routewatch_mrt_corrupt_records_total" {
			for _, m := range mf.GetMetric() {
				counted[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if counted[cut] != 1 || counted[cfg.Replay.Files[1]] != 1 {
		t.Errorf("corrupt-record counts %v, want one for each bad file", counted)
	}
	ready := false
	for end := time.Now().Add(10 * time.Second); !ready && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + cfg.API.Listen + "/readyz"); err == nil {
			ready = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
	}
	if !ready {
		t.Error("not serving after a bad warm-up archive")
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}
