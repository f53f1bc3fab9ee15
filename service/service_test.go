package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// TestServiceDemoLifecycle runs the assembled service in process on the
// embedded store with the demo: the API becomes ready, the demo's event
// reaches it, and cancelling the context shuts everything down cleanly.
func TestServiceDemoLifecycle(t *testing.T) {
	cfg := Default()
	cfg.Demo = true
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
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(cfg.ShutdownTimeout + 5*time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
