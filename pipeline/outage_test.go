package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"routewatch/alert"
	"routewatch/analyzer"
	"routewatch/internal/testenv"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
	"routewatch/store"
)

// privateRedis is a redis-server of this test alone, on a free port, that
// the test may kill -9 and restart.
type privateRedis struct {
	t    *testing.T
	bin  string
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *privateRedis {
	t.Helper()
	r := &privateRedis{t: t, bin: testenv.Command(t, "redis-server"), port: testenv.FreePort(t)}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *privateRedis) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.t.TempDir())
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", r.addr()); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
	}
}

// kill is kill -9: no shutdown, no save.
func (r *privateRedis) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// TestEngineStoreOutage: Redis is killed before the event and restarted
// after it resolved; every event change and alert enqueue made during the
// outage lands once Redis is back.
func TestEngineStoreOutage(t *testing.T) {
	rs := startRedis(t)
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.NewRedis(ctx, store.RedisConfig{URL: "redis://" + rs.addr() + "/0", KeyPrefix: "outage"}, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	al, err := alert.New(alert.Config{AllowPrivateTargets: true, Sinks: []alert.SinkConfig{{Name: "hook", Type: alert.Generic,
		URL: "http://127.0.0.1:1/hook", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}, st, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := scenario.TEShift(scenario.Options{Seed: 7})
	e := New(Deps{Tagger: func() Tagger { return tagFunc(sc.Tag) }, Analyzer: analyzer.New(analyzer.DefaultConfig()),
		Routes: st, Events: st, Notify: al, Logger: logger})
	var skew atomic.Int64
	e.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	var changes atomic.Int64
	e.d.OnEvent = func(route.EventChange) { changes.Add(1) }
	in := make(chan route.Batch)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx, in, nil, Config{FlushInterval: 10 * time.Millisecond}) }()

	rs.kill()
	// Few large batches: each store write retries for a while, and the
	// engine takes no input meanwhile (backpressure).
	for _, b := range batches(sc.Items()) {
		in <- b
	}
	skew.Store(int64(3 * time.Hour)) // data time runs on: the event resolves
	waitUntil(t, "the event opened and resolved during the outage", func() bool { return changes.Load() >= 2 })
	rs.start()

	var evs []route.Event
	var ds []store.Delivery
	waitUntil(t, "the events and alert enqueues of the outage in Redis", func() bool {
		evs, _, _ = st.Events(ctx, store.EventFilter{Kind: route.KindPathShift, Status: store.StatusResolved})
		ds, _ = st.Due(ctx, time.Now().Add(24*time.Hour), time.Millisecond, 100)
		return len(evs) == 1 && len(ds) >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := testutil.ToFloat64(e.m.storeErr); n == 0 {
		t.Error("no store write failed: the outage was not seen")
	}
	for _, d := range ds {
		if d.EventID != evs[0].ID {
			t.Errorf("delivery for event %s, want %s", d.EventID, evs[0].ID)
		}
	}
	if int64(len(ds)) > changes.Load() {
		t.Errorf("%d deliveries for %d changes", len(ds), changes.Load())
	}
}

// TestEngineShutdownUnwritten: stopping while the store is unreachable
// says how many writes did not land.
func TestEngineShutdownUnwritten(t *testing.T) {
	rs := startRedis(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.NewRedis(t.Context(), store.RedisConfig{URL: "redis://" + rs.addr() + "/0", KeyPrefix: "outage"}, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs.kill()
	sc := scenario.TEShift(scenario.Options{Seed: 7})
	e := New(Deps{Tagger: func() Tagger { return tagFunc(sc.Tag) }, Analyzer: analyzer.New(analyzer.DefaultConfig()),
		Routes: st, Events: st, Logger: logger})
	in := make(chan route.Batch)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, in, nil, Config{}) }()
	for _, b := range batches(sc.Items()) {
		in <- b
	}
	cancel()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "not written") || !strings.Contains(err.Error(), "event changes") {
		t.Fatalf("Run: %v, want the count of what was not written", err)
	}
	if evs, _ := e.q.pending(); evs == 0 {
		t.Error("no event was pending: the test proves nothing")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// batches groups scenario items in order: a state change ends a batch.
func batches(items []scenario.Item) []route.Batch {
	var out []route.Batch
	var b route.Batch
	for _, it := range items {
		if it.Update != nil {
			b.Updates = append(b.Updates, *it.Update)
			continue
		}
		b.States = append(b.States, *it.State)
		out, b = append(out, b), route.Batch{}
	}
	if !b.Empty() {
		out = append(out, b)
	}
	return out
}
