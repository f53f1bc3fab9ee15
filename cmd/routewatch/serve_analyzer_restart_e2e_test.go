package main

// End-to-end restart of `routewatch serve` in pipeline.role analyzer: the
// test writes the update stream as a collector process would; the analyzer
// is killed with SIGKILL after it applied (and acknowledged) entries its
// last checkpoint does not hold, more entries arrive while it is down, and
// the restarted analyzer re-reads the first from its checkpoint's stream
// position and gets the others from the group: the event resolves once,
// with one opening, and every update is applied exactly once.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
	"routewatch/store"
)

func TestServeAnalyzerRestartReplaysStream(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := buildBinary(t)
	redisAddr := testenv.RedisAddr(t)
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	prefix := "rwan-" + hex.EncodeToString(salt)
	ctx := context.Background()
	pub, err := store.NewRedis(ctx, store.RedisConfig{URL: "redis://" + redisAddr + "/0", KeyPrefix: prefix},
		slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	awsFile := testenv.SharedFile(t, "cloud/aws-ip-ranges.2021-12-15.json")
	var prefixes []netip.Prefix
	prefixes = append(prefixes, awsRegions(t, awsFile, false, "us-west-2")[0].Prefixes[:20]...)
	recv, alertYAML := webhookSink(t)
	apiPort := testenv.FreePort(t)
	// checkpoint_interval 1h: the only checkpoints are the one taken right
	// after the event opened and those at clean shutdowns (none here).
	cfg := fmt.Sprintf(`
store:
  backend: redis
  redis: {url: "redis://%s/0", key_prefix: %s}
pipeline:
  role: analyzer
  consumer: {name: e2e-analyzer, block: 200ms}
ranges:
  specs: [%q]
  watch_asns: {}
collector: {enabled: false}
api:
  listen: 127.0.0.1:%d
`, redisAddr, prefix, awsFile, apiPort) + e2eAnalyzer("  checkpoint_interval: 1h\n") + alertYAML
	cfgFile := writeServeConfig(t, bin, cfg)
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	// One stream entry per vantage point: its 20 routes via upstream.
	published := 0
	publish := func(at time.Time, peer, upstream int) {
		t.Helper()
		p := route.Peer{Addr: netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + peer)}), ASN: uint32(65002 + peer)}
		attrs := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{p.ASN, uint32(upstream), 16509}}},
			NextHop: p.Addr}
		var b route.Batch
		for _, pfx := range prefixes {
			b.Updates = append(b.Updates, route.Update{Time: at, Source: "e2e", Peer: p, Prefix: pfx, Attrs: attrs})
		}
		if err := pub.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
		published++
	}
	consumed := func(n int) func() bool {
		return func() bool {
			return metricValue(api, `routewatch_store_stream_consumed_total{result="ok"}`) >= float64(n)
		}
	}

	first := startServe(t, bin, cfgFile)
	waitReady(t, api)
	// The table 35 s in the past: the analyzer's first window (its
	// warm-up) is over when the shift comes.
	for i := range 4 {
		publish(time.Now().Add(-35*time.Second), i, 3356)
	}
	waitFor(t, 60*time.Second, "80 watched routes in the analyzer", func() bool {
		return metricValue(api, `routewatch_analyzer_held{what="routes"}`) == 80
	})
	for i := range 4 {
		publish(time.Now(), i, 2914)
	}
	opened := waitHook(t, recv, 60*time.Second, "event.opened", func(h receivedHook) bool {
		return h.payload.Type == "event.opened" && h.payload.Data.Kind == route.KindPathShift
	})
	ev := opened.payload.Data
	waitFor(t, 30*time.Second, "the checkpoint after the opening", func() bool {
		return metricValue(api, "routewatch_checkpoints_total") >= 1
	})
	ck := metricValue(api, "routewatch_checkpoints_total")

	// Two vantage points come back: applied and acknowledged, but in no
	// checkpoint. The event stays open (two still deviate).
	publish(time.Now(), 0, 3356)
	publish(time.Now(), 1, 3356)
	waitFor(t, 30*time.Second, "the first analyzer consumed every entry", consumed(published))
	if v := metricValue(api, "routewatch_checkpoints_total"); v != ck {
		t.Fatalf("checkpoints %v → %v after the opening: the entries to re-read are in a checkpoint", ck, v)
	}
	t.Log("kill -9 the analyzer with the event open and two entries past its checkpoint")
	first.kill9(t)
	publish(time.Now(), 2, 3356) // while it is down

	second := startServe(t, bin, cfgFile)
	waitReady(t, api)
	waitFor(t, 30*time.Second, "the restored analyzer re-read two entries and consumed the new one", func() bool {
		return strings.Contains(second.logs.String(), "checkpoint: re-read the stream entries after it") &&
			metricValue(api, `routewatch_updates_total{source="e2e"}`) == 60
	})
	if !regexp.MustCompile(`checkpoint: restored.* open_events=1 `).MatchString(second.logs.String()) {
		t.Errorf("no restore of the open event in the log")
	}
	if !regexp.MustCompile(`re-read the stream entries after it.* entries=2 gap=false`).MatchString(second.logs.String()) {
		t.Errorf("the restart did not re-read the two entries after the checkpoint")
	}
	if v := metricValue(api, `routewatch_events_open{kind="path_shift"}`); v != 1 {
		t.Errorf("events open after the restart = %v, want 1 (the last vantage point still deviates)", v)
	}

	publish(time.Now(), 3, 3356)
	waitHook(t, recv, 60*time.Second, "event.resolved", func(h receivedHook) bool {
		return h.payload.Type == "event.resolved" && h.payload.Data.ID == ev.ID
	})
	waitFor(t, 30*time.Second, "every entry consumed", consumed(2)) // this process: the two after the restart
	var list struct {
		Events []route.Event `json:"events"`
	}
	waitFor(t, 30*time.Second, "the event resolved in the store", func() bool {
		return getJSON(api+"/api/v1/events", &list) == http.StatusOK && len(list.Events) == 1 && list.Events[0].End != nil
	})
	// 2 re-read + 2 new entries of 20 updates: each applied once.
	if v := metricValue(api, `routewatch_updates_total{source="e2e"}`); v != 80 {
		t.Errorf("updates applied by the restarted analyzer = %v, want 80 (two re-read and two new entries)", v)
	}
	if counts := recv.byType(); counts["event.opened"] != 1 || counts["event.resolved"] != 1 {
		t.Errorf("webhooks by type = %v, want one event.opened and one event.resolved", counts)
	}
}
