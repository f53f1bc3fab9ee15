package main

// End-to-end: `routewatch serve` as a process with a real Redis, four
// ExaBGP vantage points on loopback announcing real AWS us-west-2 prefixes
// of 2021-12-15, a regional path shift (via 3356 → via 2914) and its
// restoration, and a signed generic webhook receiver. It asserts the event
// in the API, the opening and restoration webhooks, and a clean SIGTERM.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"routewatch/internal/exabgptest"
	"routewatch/internal/testenv"
	"routewatch/route"
)

// buildBinary compiles routewatch once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin := testenv.Command(t, "go")
	out := filepath.Join(t.TempDir(), "routewatch")
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// webhookReceiver records generic webhooks (Standard Webhooks payloads).
type webhookReceiver struct {
	mu   sync.Mutex
	msgs []receivedHook
}

type receivedHook struct {
	at      time.Time
	id      string
	payload struct {
		Type string      `json:"type"`
		Data route.Event `json:"data"`
	}
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := receivedHook{at: time.Now(), id: r.Header.Get("webhook-id")}
	if h.id == "" || r.Header.Get("webhook-signature") == "" || r.Header.Get("webhook-timestamp") == "" {
		http.Error(rw, "missing Standard Webhooks headers", http.StatusBadRequest)
		return
	}
	if err := json.Unmarshal(body, &h.payload); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.msgs = append(w.msgs, h)
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// find returns the first webhook matching pred.
func (w *webhookReceiver) find(pred func(receivedHook) bool) (receivedHook, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if pred(m) {
			return m, true
		}
	}
	return receivedHook{}, false
}

func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	awsFile := testenv.SharedFile(t, "cloud/aws-ip-ranges.2021-12-15.json")
	redisAddr := testenv.RedisAddr(t)
	testenv.Command(t, "exabgp")
	bin := buildBinary(t)

	apiPort, bgpPort := testenv.FreePort(t), testenv.FreePort(t)
	recv, alertYAML := webhookSink(t, fmt.Sprintf("  api_base_url: http://127.0.0.1:%d\n", apiPort))
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	keyPrefix := "rwe2e-" + hex.EncodeToString(salt)
	cfg := fmt.Sprintf(`
log: {level: info, format: text}
store:
  backend: redis
  redis: {url: "redis://%s/0", key_prefix: %s}
ranges:
  specs: [%q]
  watch_asns: {}
collector:
  asn: 64512
  router_id: 127.0.0.1
  listen_addresses: [127.0.0.1]
  port: %d
  dynamic_neighbors: [{prefix: 127.0.0.0/8}]
api:
  listen: 127.0.0.1:%d
shutdown_timeout: 15s
`, redisAddr, keyPrefix, awsFile, bgpPort, apiPort) + e2eAnalyzer() + alertYAML
	cfgFile := writeServeConfig(t, bin, cfg)

	var stdout, stderr lockedBuffer
	proc := exec.Command(bin, "serve", "--config", cfgFile)
	proc.Stdout, proc.Stderr = &stdout, &stderr
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	defer func() {
		defer func() {
			if proc.ProcessState == nil {
				_ = proc.Process.Kill()
			}
		}()
		if t.Failed() {
			for _, path := range []string{"/api/v1/peers", "/api/v1/providers", "/api/v1/events"} {
				if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", apiPort, path)); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					t.Logf("GET %s: %s", path, b)
				}
			}
			t.Logf("routewatch stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
		}
	}()
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	waitReady(t, api)

	var prefixes []string
	for _, p := range awsRegions(t, awsFile, false, "us-west-2")[0].Prefixes[:20] {
		prefixes = append(prefixes, p.String())
	}
	paths := func(peer, upstream int) []string {
		out := make([]string, 0, len(prefixes))
		for _, pfx := range prefixes {
			out = append(out, fmt.Sprintf("%s next-hop self as-path [ %d %d 16509 ]", pfx, peer, upstream))
		}
		return out
	}
	// The initial table is static: ExaBGP sends it before End-of-RIB, as a
	// router does, so it is a table load, not a change.
	t.Log("initial table: 20 us-west-2 prefixes via AS3356 at 4 vantage points")
	var peers []*exabgptest.Peer
	for i := 0; i < 4; i++ {
		peers = append(peers, exabgptest.Start(t, exabgptest.Config{
			LocalAddr: fmt.Sprintf("127.0.0.%d", i+2), LocalAS: uint32(65002 + i),
			PeerAddr: "127.0.0.1", PeerAS: 64512, Port: bgpPort, Static: paths(65002+i, 3356),
		}))
	}
	announce := func(upstream int) {
		for i, p := range peers {
			lines := paths(65002+i, upstream)
			for j := range lines {
				lines[j] = "announce route " + lines[j]
			}
			p.Send(lines...)
		}
	}
	waitFor(t, 60*time.Second, "all four peers' paths in the API", func() bool {
		var body struct {
			Prefixes []struct {
				Routes []json.RawMessage `json:"routes"`
			} `json:"prefixes"`
		}
		return getJSON(api+"/api/v1/prefixes/"+prefixes[len(prefixes)-1], &body) == http.StatusOK &&
			len(body.Prefixes) == 1 && len(body.Prefixes[0].Routes) == 4
	})
	// The analyzer does not judge the first window after startup.
	time.Sleep(time.Until(started.Add(35 * time.Second)))

	t.Log("regional path shift: via AS3356 → via AS2914")
	shiftSent := time.Now()
	announce(2914)
	opened := waitHook(t, recv, 60*time.Second, "event.opened", func(h receivedHook) bool {
		return h.payload.Type == "event.opened" && h.payload.Data.Kind == route.KindPathShift &&
			h.payload.Data.Provider == "aws" && h.payload.Data.Region == "us-west-2"
	})
	t.Logf("detection latency (shift sent → webhook received): %s (includes settle 1s)", opened.at.Sub(shiftSent).Round(time.Millisecond))
	ev := opened.payload.Data
	found := false
	for _, tr := range ev.Transitions {
		if tr.FromUpstream == 3356 && tr.ToUpstream == 2914 {
			found = true
		}
	}
	if !found || ev.Peers < 3 || ev.Prefixes < 5 {
		t.Errorf("opened event = %+v, want via 3356 → via 2914 at ≥ 3 peers", ev)
	}
	var list struct {
		Events []route.Event `json:"events"`
	}
	if code := getJSON(api+"/api/v1/events?provider=aws&region=us-west-2&kind=path_shift", &list); code != http.StatusOK || len(list.Events) == 0 {
		t.Fatalf("GET /events: %d %+v", code, list)
	}

	t.Log("restoration: back via AS3356")
	announce(3356)
	resolved := waitHook(t, recv, 90*time.Second, "event.resolved", func(h receivedHook) bool {
		return h.payload.Type == "event.resolved" && h.payload.Data.ID == ev.ID && h.payload.Data.End != nil
	})
	if resolved.id == opened.id {
		t.Errorf("resolved webhook reused the opening webhook-id %q", opened.id)
	}
	var got route.Event
	if code := getJSON(api+"/api/v1/events/"+ev.ID, &got); code != http.StatusOK || got.End == nil {
		t.Errorf("GET /events/%s: %d end=%v", ev.ID, code, got.End)
	}

	t.Log("SIGTERM: clean shutdown")
	_ = proc.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s of SIGTERM")
	}
	if !strings.Contains(stderr.String(), "stopped cleanly") {
		t.Errorf("no clean-stop log line")
	}
	if !strings.Contains(stdout.String(), "resolved path_shift") {
		t.Errorf("console did not show the restoration:\n%s", stdout.String())
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func waitHook(t *testing.T, recv *webhookReceiver, d time.Duration, what string, pred func(receivedHook) bool) receivedHook {
	t.Helper()
	var h receivedHook
	waitFor(t, d, what+" webhook", func() bool {
		var ok bool
		h, ok = recv.find(pred)
		return ok
	})
	return h
}

func getJSON(url string, v any) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// lockedBuffer is a bytes.Buffer safe for a process's writes and the
// test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeScaleOut runs the split deployment: a collector-role process
// replays the demo scenario and publishes watched updates to the Redis
// Stream; an analyzer-role process consumes them through its consumer
// group, detects the regional path shift and serves it in its API.
func TestServeScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	redisAddr := testenv.RedisAddr(t)
	bin := buildBinary(t)
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	keyPrefix := "rwscale-" + hex.EncodeToString(salt)
	dir := t.TempDir()
	start := func(role string) (api string) {
		apiPort := testenv.FreePort(t)
		cfg := fmt.Sprintf(`
demo: true
pipeline: {role: %s}
store:
  backend: redis
  redis: {url: "redis://%s/0", key_prefix: %s}
collector: {enabled: false}
api: {listen: "127.0.0.1:%d"}
`, role, redisAddr, keyPrefix, apiPort)
		path := filepath.Join(dir, role+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		var logs lockedBuffer
		cmd := exec.Command(bin, "serve", "--config", path)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Errorf("%s: exit %v", role, err)
			}
			if t.Failed() {
				t.Logf("%s log:\n%s", role, logs.String())
			}
		})
		return fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	}
	analyzerAPI := start("analyzer")
	start("collector")
	var list struct {
		Events []route.Event `json:"events"`
	}
	waitFor(t, 90*time.Second, "a resolved path_shift in the analyzer's API", func() bool {
		code := getJSON(analyzerAPI+"/api/v1/events?kind=path_shift&status=resolved", &list)
		return code == http.StatusOK && len(list.Events) > 0
	})
	if ev := list.Events[0]; ev.Provider != "aws" || ev.Region != "us-west-2" {
		t.Errorf("event %s/%s, want aws/us-west-2", ev.Provider, ev.Region)
	}
}
