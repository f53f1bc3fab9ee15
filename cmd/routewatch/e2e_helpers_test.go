package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// e2eAnalyzer is the analyzer: block of the serve end-to-end tests: 20
// prefixes shifting at 4 vantage points open a path_shift within seconds,
// after a 30 s first window. extra lines (indented like the keys) follow.
func e2eAnalyzer(extra ...string) string {
	return `analyzer:
  window: 30s
  settle: 1s
  min_prefixes: 5
  min_peers: 3
  min_peers_per_prefix: 3
  update_interval: 2s
  stable_period: 10m
` + strings.Join(extra, "")
}

// webhookSink starts a generic webhook receiver for the test and returns
// it with the alert: block that delivers to it (extra lines, indented like
// the keys, are added to the block).
func webhookSink(t *testing.T, extra ...string) (*webhookReceiver, string) {
	t.Helper()
	recv := &webhookReceiver{}
	hook := httptest.NewServer(recv)
	t.Cleanup(hook.Close)
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	return recv, fmt.Sprintf(`alert:
  allow_private_targets: true
  delivery: {poll_interval: 100ms, initial_backoff: 200ms}
  sinks:
    - {name: e2e, type: generic, url: %q, secret: "whsec_%s"}
`, hook.URL, base64.StdEncoding.EncodeToString(secret)) + strings.Join(extra, "")
}

// writeServeConfig writes cfg to a file that `routewatch config check`
// accepts and returns its path.
func writeServeConfig(t *testing.T, bin, cfg string) string {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "routewatch.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "config", "check", cfgFile).CombinedOutput(); err != nil {
		t.Fatalf("config check: %v\n%s\n%s", err, out, cfg)
	}
	return cfgFile
}

// waitReady waits until the API at base answers /readyz with 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	waitFor(t, 30*time.Second, "API ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// byType counts the webhooks received by payload type, once per
// webhook-id (Standard Webhooks receivers dedupe by it).
func (w *webhookReceiver) byType() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	counts := map[string]int{}
	ids := map[string]bool{}
	for _, m := range w.msgs {
		if !ids[m.id] {
			counts[m.payload.Type]++
		}
		ids[m.id] = true
	}
	return counts
}
