package store

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// redisProc is a redis-server owned by one test, with AOF everysec.
type redisProc struct {
	t     *testing.T
	bin   string
	port  int
	dir   string
	extra []string
	cmd   *exec.Cmd
}

func startRedis(t *testing.T, bin string, port int, dir string, extra ...string) *redisProc {
	t.Helper()
	p := &redisProc{t: t, bin: bin, port: port, dir: dir, extra: extra}
	p.start()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *redisProc) start() {
	p.t.Helper()
	args := append([]string{"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1", "--dir", p.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no", "--logfile", filepath.Join(p.dir, "redis.log")}, p.extra...)
	p.cmd = exec.Command(p.bin, args...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start redis-server: %v", err)
	}
	waitFor(p.t, "redis-server on "+p.addr(), func() bool {
		c, err := net.Dial("tcp", p.addr())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (p *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// kill is kill -9: no shutdown, no final fsync by Redis.
func (p *redisProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

func faultBatch(i int) []route.Update {
	ups := make([]route.Update, 50)
	for j := range ups {
		ups[j] = ann(i, peerA, fmt.Sprintf("10.%d.%d.0/24", i, j), awsW2, 3333, 3356, 16509)
	}
	return ups
}

// TestRedisKill9 kills redis-server mid-ingest and restarts it from its
// AOF: the store reconnects, every batch ApplyUpdates acknowledged is
// there, and no gap is reported. Then Redis comes back empty: the gap is
// surfaced (metric) on the next write.
func TestRedisKill9(t *testing.T) {
	bin := testenv.Command(t, "redis-server")
	dir := t.TempDir()
	proc := startRedis(t, bin, testenv.FreePort(t), dir)
	ctx := context.Background()
	st, err := NewRedis(ctx, RedisConfig{URL: "redis://" + proc.addr() + "/0"}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	const batches = 200
	var acked atomic.Int64
	var failures atomic.Int64
	restarted := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < batches; i++ {
			// The caller's contract: retry until acknowledged.
			for ctx.Err() == nil {
				err := st.ApplyUpdates(ctx, faultBatch(i))
				if err == nil {
					break
				}
				t.Logf("batch %d not acknowledged, retrying: %v", i, err)
				failures.Add(1)
				<-restarted // retry once Redis is back
			}
			acked.Store(int64(i + 1))
		}
	}()
	// Batches published to the stream before the crash must survive too.
	const published = 30
	for i := 0; i < published; i++ {
		if err := st.Publish(ctx, batchN(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "some acknowledged batches", func() bool { return acked.Load() >= 20 })
	ackedBeforeKill := acked.Load()
	proc.kill()
	// Restart only once a write failed (after go-redis's own dial
	// retries), so the caller's retry is exercised.
	waitFor(t, "a write failing while Redis is down", func() bool { return failures.Load() > 0 || acked.Load() == batches })
	proc.start()
	close(restarted)
	<-done
	if failures.Load() == 0 {
		t.Logf("no write failed while Redis was down (the writer finished first)")
	}
	t.Logf("acknowledged before kill: %d, write failures during outage: %d", ackedBeforeKill, failures.Load())

	all, err := st.Routes(ctx, netip.MustParsePrefix("10.0.0.0/8"), MatchCovered)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != batches*50 {
		t.Errorf("after restart: %d prefixes stored, want %d", len(all), batches*50)
	}
	for i := 0; i < batches; i++ {
		rs, err := st.Routes(ctx, netip.MustParsePrefix(fmt.Sprintf("10.%d.49.0/24", i)), MatchExact)
		if err != nil || len(rs) != 1 {
			t.Errorf("batch %d lost: %v %v", i, rs, err)
		}
	}
	if g := testutil.ToFloat64(st.m.gaps); g != 0 {
		t.Errorf("gap reported although AOF kept the data: %v", g)
	}
	// Retried batches repaired the indexes and counted every path once.
	if peers, err := st.Peers(ctx); err != nil || len(peers) != 1 || peers[0].Prefixes != batches*50 {
		t.Errorf("peers after restart = %+v %v", peers, err)
	}
	rc := newRecorder()
	stop := runConsumer(t, st.NewConsumer(ConsumerConfig{Group: "g", Name: "c", Block: 50 * time.Millisecond}), rc.handle)
	waitFor(t, "every published batch after the restart", func() bool { return rc.distinct() == published })
	stop()

	// Now Redis comes back empty (its AOF is gone): a gap.
	proc.kill()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	proc.start()
	waitFor(t, "a write after the empty restart", func() bool {
		return st.ApplyUpdates(ctx, faultBatch(0)) == nil
	})
	if g := testutil.ToFloat64(st.m.gaps); g != 1 {
		t.Errorf("gaps = %v want 1", g)
	}
	// The gap is reported once, not on every write.
	if err := st.ApplyUpdates(ctx, faultBatch(1)); err != nil {
		t.Fatal(err)
	}
	if gap, err := st.Gap(ctx); err != nil || gap {
		t.Errorf("second check: gap=%v err=%v", gap, err)
	}
	if g := testutil.ToFloat64(st.m.gaps); g != 1 {
		t.Errorf("gaps = %v want 1", g)
	}
}
