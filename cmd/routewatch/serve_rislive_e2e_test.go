package main

// End-to-end with RIS Live: `routewatch serve` as a process, the BGP
// listener off, ris_live pointed at a local server speaking RIS Live,
// which streams real AWS us-west-2 prefixes of 2021-12-15 from feeders at
// three RRCs (one network at two of them), then a regional path shift
// (via 3356 → via 2914) and its restoration. It asserts the event in the
// API with the feeders' RRCs, the signed webhook, and a clean SIGTERM.

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"routewatch/internal/rislivetest"
	"routewatch/internal/testenv"
	"routewatch/route"
)

func TestServeRISLiveEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	awsFile := testenv.SharedFile(t, "cloud/aws-ip-ranges.2021-12-15.json")
	bin := buildBinary(t)
	ris := rislivetest.NewServer(t)
	recv, alertYAML := webhookSink(t)
	apiPort := testenv.FreePort(t)
	cfg := fmt.Sprintf(`
ranges:
  specs: [%q]
  watch_asns: {}
collector: {enabled: false}
ris_live:
  enabled: true
  url: %q
  ignore_peers: [AS64999]
  bootstrap: {collectors: []}   # no archive bootstrap: the live stream brings the table
api:
  listen: 127.0.0.1:%d
shutdown_timeout: 15s
`, awsFile, ris.URL(), apiPort) + e2eAnalyzer() + alertYAML
	cfgFile := writeServeConfig(t, bin, cfg)
	var stdout, stderr lockedBuffer
	proc := exec.Command(bin, "serve", "--config", cfgFile)
	proc.Stdout, proc.Stderr = &stdout, &stderr
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	defer func() {
		if proc.ProcessState == nil {
			_ = proc.Process.Kill()
		}
		if t.Failed() {
			t.Logf("routewatch stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
		}
	}()

	conn := ris.Accept(t)
	waitFor(t, 30*time.Second, "subscriptions", func() bool { return len(conn.Subscriptions()) > 3 })

	var prefixes []string
	for _, p := range awsRegions(t, awsFile, false, "us-west-2")[0].Prefixes[:20] {
		prefixes = append(prefixes, p.String())
	}
	feeders := []struct{ host, addr, asn string }{
		{"rrc00.ripe.net", "192.0.2.1", "3333"}, {"rrc01.ripe.net", "192.0.2.1", "3333"},
		{"rrc00.ripe.net", "192.0.2.2", "6939"}, {"rrc21.ripe.net", "2001:db8::3", "8220"},
		{"rrc21.ripe.net", "192.0.2.4", "1103"}, {"rrc00.ripe.net", "192.0.2.9", "64999"}, // ignored
	}
	t0 := 1639580000.0
	send := func(at float64, upstream int) {
		for _, f := range feeders {
			path := fmt.Sprintf("[%s,%d,16509]", f.asn, upstream)
			conn.Send(rislivetest.Update(f.host, f.addr, f.asn, at, path, f.addr, prefixes...))
		}
	}
	send(t0, 3356)                            // the table as it first arrives: a load, not a change
	conn.Send(`{"type":"ris_message","data"`) // truncated: skipped and counted
	send(t0+60, 2914)
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	opened := waitHook(t, recv, 60*time.Second, "event.opened", func(h receivedHook) bool {
		return h.payload.Type == "event.opened" && h.payload.Data.Kind == route.KindPathShift &&
			h.payload.Data.Provider == "aws" && h.payload.Data.Region == "us-west-2"
	})
	ev := opened.payload.Data
	// Five vantage points, four ASNs (3333 feeds rrc00 and rrc01); today's
	// Event.Peers counts the affected vantage points.
	if ev.Peers < 4 || ev.Peers > 5 || ev.Prefixes != 20 {
		t.Errorf("opened event: %d peers, %d prefixes; want 4 ASNs at 5 vantage points, 20 prefixes", ev.Peers, ev.Prefixes)
	}
	var got route.Event
	if code := getJSON(api+"/api/v1/events/"+ev.ID, &got); code != http.StatusOK {
		t.Fatalf("GET /events/%s: %d", ev.ID, code)
	}
	collectors := map[string]bool{}
	for _, p := range got.AffectedPeers {
		collectors[p.Collector] = true
		if p.ASN == 64999 {
			t.Errorf("ignored feeder in the event: %+v", p)
		}
	}
	if !collectors["rrc00"] || !collectors["rrc01"] || !collectors["rrc21"] {
		t.Errorf("affected peers %+v, want feeders at rrc00, rrc01 and rrc21", got.AffectedPeers)
	}

	send(t0+120, 3356)
	waitHook(t, recv, 60*time.Second, "event.resolved", func(h receivedHook) bool {
		return h.payload.Type == "event.resolved" && h.payload.Data.ID == ev.ID && h.payload.Data.End != nil
	})

	var metrics string
	waitFor(t, 10*time.Second, "RIS Live metrics", func() bool {
		resp, err := http.Get(api + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		metrics = string(b)
		return err == nil
	})
	for _, want := range []string{`routewatch_rislive_messages_total{type="UPDATE"} 18`, `routewatch_rislive_messages_total{type="invalid"} 1`,
		`routewatch_rislive_subscriptions `, `routewatch_rislive_lag_seconds_count 18`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	_ = proc.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s of SIGTERM")
	}
}
