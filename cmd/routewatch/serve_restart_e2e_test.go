package main

// End-to-end restart: `routewatch serve` with an open regional path shift
// is killed with SIGKILL and restarted on the same store (Redis, or the
// memory store's state file); the four ExaBGP vantage points reconnect and
// re-send their tables, then the paths come back. The event resolves once,
// with one restoration webhook and no second opening, and the analyzer
// continued from its checkpoint rather than from cold.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"routewatch/internal/exabgptest"
	"routewatch/internal/testenv"
	"routewatch/route"
)

func TestServeRestartFromCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	testenv.Command(t, "exabgp")
	bin := buildBinary(t)
	t.Run("redis", func(t *testing.T) {
		redisAddr := testenv.RedisAddr(t)
		salt := make([]byte, 4)
		_, _ = rand.Read(salt)
		restartE2E(t, bin, fmt.Sprintf("store:\n  backend: redis\n  redis: {url: \"redis://%s/0\", key_prefix: rwck-%s}\n",
			redisAddr, hex.EncodeToString(salt)), "")
	})
	t.Run("memory", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state.rw")
		restartE2E(t, bin, fmt.Sprintf("store:\n  backend: memory\n  memory: {state_file: %q, state_interval: 1s}\n", state), state)
	})
}

// serveProc is one routewatch serve process.
type serveProc struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{} // closed once the process is gone
}

func startServe(t *testing.T, bin, cfgFile string) *serveProc {
	t.Helper()
	p := &serveProc{logs: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--config", cfgFile)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("routewatch log:\n%s", p.logs.String())
		}
	})
	return p
}

func (p *serveProc) kill9(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Kill)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("routewatch did not die of SIGKILL")
	}
}

// metricValue returns the value of the first sample whose line starts
// with series (name and labels), -1 if absent.
func metricValue(api, series string) float64 {
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// restartRig is a routewatch serve configuration with the collector on a
// free port, the first 20 us-west-2 prefixes watched and a webhook sink,
// and the four ExaBGP vantage points (127.0.0.2-5, AS65002-65005) that
// announce those prefixes to it.
type restartRig struct {
	cfgFile, api string
	recv         *webhookReceiver
	bgpPort      int
	prefixes     []string
	peers        []*exabgptest.Peer
}

func newRestartRig(t *testing.T, bin, storeYAML, analyzerExtra string) *restartRig {
	t.Helper()
	awsFile := testenv.SharedFile(t, "cloud/aws-ip-ranges.2021-12-15.json")
	r := &restartRig{bgpPort: testenv.FreePort(t)}
	var alertYAML string
	r.recv, alertYAML = webhookSink(t)
	apiPort := testenv.FreePort(t)
	cfg := storeYAML + fmt.Sprintf(`
ranges:
  specs: [%q]
  watch_asns: {}
collector:
  listen_addresses: [127.0.0.1]
  port: %d
api:
  listen: 127.0.0.1:%d
`, awsFile, r.bgpPort, apiPort) + e2eAnalyzer("  checkpoint_interval: 1s\n"+analyzerExtra) + alertYAML
	r.cfgFile = writeServeConfig(t, bin, cfg)
	r.api = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	for _, p := range awsRegions(t, awsFile, false, "us-west-2")[0].Prefixes[:20] {
		r.prefixes = append(r.prefixes, p.String())
	}
	return r
}

func (r *restartRig) paths(peer, upstream int) []string {
	out := make([]string, 0, len(r.prefixes))
	for _, pfx := range r.prefixes {
		out = append(out, fmt.Sprintf("%s next-hop self as-path [ %d %d 16509 ]", pfx, 65002+peer, upstream))
	}
	return out
}

// startPeers starts the vantage points with their table via AS3356.
func (r *restartRig) startPeers(t *testing.T) {
	t.Helper()
	for i := range 4 {
		r.peers = append(r.peers, exabgptest.Start(t, exabgptest.Config{
			LocalAddr: fmt.Sprintf("127.0.0.%d", i+2), LocalAS: uint32(65002 + i),
			PeerAddr: "127.0.0.1", PeerAS: 64512, Port: r.bgpPort, Static: r.paths(i, 3356),
		}))
	}
}

// announce re-announces every prefix via upstream at the given vantage
// points (all when none is given).
func (r *restartRig) announce(upstream int, peers ...int) {
	if len(peers) == 0 {
		peers = []int{0, 1, 2, 3}
	}
	for _, i := range peers {
		lines := r.paths(i, upstream)
		for j := range lines {
			lines[j] = "announce route " + lines[j]
		}
		r.peers[i].Send(lines...)
	}
}

// openShift waits for the 80 routes and the end of the analyzer's first
// window, shifts every route to AS2914 and returns the path_shift it
// opened.
func (r *restartRig) openShift(t *testing.T) route.Event {
	t.Helper()
	waitFor(t, 60*time.Second, "80 watched routes in the analyzer", func() bool {
		return metricValue(r.api, `routewatch_analyzer_held{what="routes"}`) == 80
	})
	// The analyzer does not judge its first window (30 s of data time
	// from the first route, which came before the 80th; on a loaded
	// machine the sessions take a while to come up after the start).
	time.Sleep(31 * time.Second)
	r.announce(2914)
	opened := waitHook(t, r.recv, 60*time.Second, "event.opened", func(h receivedHook) bool {
		return h.payload.Type == "event.opened" && h.payload.Data.Kind == route.KindPathShift
	})
	return opened.payload.Data
}

func restartE2E(t *testing.T, bin, storeYAML, stateFile string) {
	rig := newRestartRig(t, bin, storeYAML, "")
	api, recv := rig.api, rig.recv
	first := startServe(t, bin, rig.cfgFile)
	waitReady(t, api)
	rig.startPeers(t)
	ev := rig.openShift(t)
	// A checkpoint taken after the opening was delivered (and, for the
	// memory store, a state file written after that checkpoint).
	n := metricValue(api, "routewatch_checkpoints_total")
	waitFor(t, 30*time.Second, "two checkpoints after the opening", func() bool {
		return metricValue(api, "routewatch_checkpoints_total") >= n+2
	})
	if stateFile != "" {
		after := time.Now()
		waitFor(t, 30*time.Second, "the state file written after the checkpoint", func() bool {
			fi, err := os.Stat(stateFile)
			return err == nil && fi.ModTime().After(after)
		})
	}

	t.Log("kill -9 with the event open; restart on the same store")
	first.kill9(t)
	second := startServe(t, bin, rig.cfgFile)
	waitReady(t, api)
	if v := metricValue(api, `routewatch_events_open{kind="path_shift"}`); v != 1 {
		t.Errorf("routewatch_events_open{kind=path_shift} right after the restart = %v, want 1", v)
	}
	if v := metricValue(api, `routewatch_checkpoint_restores_total{result="restored"}`); v != 1 {
		t.Errorf("checkpoint restores = %v, want 1", v)
	}
	if !regexp.MustCompile(`checkpoint: restored.* open_events=1 routes=80 `).MatchString(second.logs.String()) {
		t.Errorf("no restore of the open event and the 80 routes in the log")
	}
	var got route.Event
	if code := getJSON(api+"/api/v1/events/"+ev.ID, &got); code != http.StatusOK || got.End != nil {
		t.Errorf("GET /events/%s after restart: %d end=%v, want open", ev.ID, code, got.End)
	}
	waitFor(t, 60*time.Second, "four peers re-sending their tables", func() bool {
		return strings.Count(second.logs.String(), "checkpoint: peer re-sends its table") == 4 &&
			metricValue(api, `routewatch_analyzer_held{what="routes"}`) == 80
	})
	if v := metricValue(api, `routewatch_events_open{kind="path_shift"}`); v != 1 {
		t.Errorf("after the peers re-sent their (shifted) tables: events open = %v, want 1", v)
	}

	t.Log("restoration: back via AS3356")
	rig.announce(3356)
	waitHook(t, recv, 90*time.Second, "event.resolved", func(h receivedHook) bool {
		return h.payload.Type == "event.resolved" && h.payload.Data.ID == ev.ID
	})
	var list struct {
		Events []route.Event `json:"events"`
	}
	waitFor(t, 30*time.Second, "the event resolved in the store", func() bool {
		return getJSON(api+"/api/v1/events", &list) == http.StatusOK && len(list.Events) == 1 && list.Events[0].End != nil
	})
	// Let the outbox drain what else it might hold, then count.
	waitFor(t, 30*time.Second, "checkpoints after the resolution", func() bool {
		return metricValue(api, "routewatch_checkpoints_total") >= 3
	})
	counts := recv.byType()
	if counts["event.opened"] != 1 || counts["event.resolved"] != 1 {
		t.Errorf("webhooks by type = %v, want one event.opened and one event.resolved", counts)
	}
	if v := metricValue(api, `routewatch_events_open{kind="path_shift"}`); v > 0 {
		t.Errorf("events open after the resolution = %v", v)
	}
}

// TestServeRestartPeerGone: a vantage point that does not come back after
// a kill -9 is taken as down once analyzer.resync_window has passed: a
// peer_down opens for it and its routes go stale, so the path_shift it
// was part of resolves when the three others are back — its shifted
// routes are not kept as deviating forever.
func TestServeRestartPeerGone(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	testenv.Command(t, "exabgp")
	bin := buildBinary(t)
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	rig := newRestartRig(t, bin, fmt.Sprintf("store:\n  backend: redis\n  redis: {url: \"redis://%s/0\", key_prefix: rwgone-%s}\n",
		testenv.RedisAddr(t), hex.EncodeToString(salt)), "  resync_window: 5s\n")
	api, recv := rig.api, rig.recv
	first := startServe(t, bin, rig.cfgFile)
	waitReady(t, api)
	rig.startPeers(t)
	ev := rig.openShift(t)
	waitFor(t, 30*time.Second, "a checkpoint after the opening", func() bool {
		return metricValue(api, "routewatch_checkpoints_total") >= 2
	})

	t.Log("kill -9 with the event open; the fourth vantage point does not come back")
	first.kill9(t)
	rig.peers[3].Stop()
	second := startServe(t, bin, rig.cfgFile)
	waitReady(t, api)
	down := waitHook(t, recv, 60*time.Second, "peer_down opened", func(h receivedHook) bool {
		return h.payload.Type == "event.opened" && h.payload.Data.Kind == route.KindPeerDown
	})
	if p := down.payload.Data.AffectedPeers; len(p) != 1 || p[0].Addr.String() != "127.0.0.5" {
		t.Errorf("peer_down for %v, want 127.0.0.5", p)
	}
	logs := second.logs.String()
	if n := strings.Count(logs, "not back within analyzer.resync_window"); n != 1 {
		t.Errorf("%d vantage points taken as down, want 1", n)
	}
	waitFor(t, 60*time.Second, "three peers re-sending their tables", func() bool {
		return strings.Count(second.logs.String(), "checkpoint: peer re-sends its table") == 3
	})

	t.Log("restoration at the three others")
	rig.announce(3356, 0, 1, 2)
	waitHook(t, recv, 90*time.Second, "event.resolved", func(h receivedHook) bool {
		return h.payload.Type == "event.resolved" && h.payload.Data.ID == ev.ID
	})
	if counts := recv.byType(); counts["event.opened"] != 2 || counts["event.resolved"] != 1 {
		t.Errorf("webhooks by type = %v, want two event.opened (path_shift, peer_down) and one event.resolved", counts)
	}
	if v := metricValue(api, `routewatch_events_open{kind="peer_down"}`); v != 1 {
		t.Errorf("peer_down open = %v, want 1 (the vantage point is still away)", v)
	}
}
