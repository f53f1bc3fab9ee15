package bmpstation

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/internal/testenv"
	"routewatch/route"
)

const wait = 30 * time.Second

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// prefixWatcher watches routes inside any of its prefixes.
type prefixWatcher []netip.Prefix

func (w prefixWatcher) Watched(u *route.Update) bool {
	for _, p := range w {
		if p.Overlaps(u.Prefix) && p.Bits() <= u.Prefix.Bits() {
			return true
		}
	}
	return false
}

var testWatch = prefixWatcher{pfx("10.0.0.0/8"), pfx("2001:db8::/32")}

// running is a station under test with its flattened output stream.
type running struct {
	t     *testing.T
	s     *Station
	port  int
	reg   *prometheus.Registry
	items chan any
	errc  chan error
	// backlog holds items read while waiting for another one.
	backlog []any
}

func startStation(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, testWatch, logger, reg)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan route.Batch)
	r := &running{t: t, s: s, port: int(netip.MustParseAddrPort(cfg.Listen).Port()), reg: reg, items: make(chan any, 100000), errc: make(chan error, 1)}
	go func() { r.errc <- s.Run(ctx, out) }()
	go func() {
		for b := range out {
			for _, u := range b.Updates {
				r.items <- u
			}
			for _, st := range b.States {
				r.items <- st
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return r
}

func (r *running) next(timeout time.Duration) any {
	r.t.Helper()
	select {
	case it := <-r.items:
		return it
	case err := <-r.errc:
		r.t.Fatalf("Run returned early: %v", err)
	case <-time.After(timeout):
		r.t.Fatalf("nothing received within %s", timeout)
	}
	return nil
}

// waitFor reads items until one matches; it returns the items read.
func (r *running) waitFor(what string, match func(any) bool) []any {
	r.t.Helper()
	var seen []any
	for i, it := range r.backlog {
		if match(it) {
			seen = append(seen, r.backlog[:i+1]...)
			r.backlog = append(r.backlog[:i:i], r.backlog[i+1:]...)
			return seen
		}
	}
	seen = append(seen, r.backlog...)
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			r.t.Fatalf("no %s within %s; saw:\n%s", what, wait, describeAll(seen))
		}
		it := r.next(left)
		seen = append(seen, it)
		if match(it) {
			return seen
		}
		r.backlog = append(r.backlog, it)
	}
}

func (r *running) metric(name string, labels ...string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	must(r.t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func describe(it any) string {
	switch v := it.(type) {
	case route.Update:
		a := ""
		if v.Attrs != nil {
			a = fmt.Sprintf(" path=[%s] nh=%s", v.Attrs.ASPath, v.Attrs.NextHop)
		}
		return fmt.Sprintf("update %s %s id=%d wd=%v dump=%v%s", peerString(v.Peer), v.Prefix, v.PathID, v.Withdraw, v.TableDump, a)
	case route.PeerState:
		return fmt.Sprintf("state %s %s->%s eor=%v reason=%q", peerString(v.Peer), v.Old, v.New, v.EndOfRIB, v.Reason)
	}
	return fmt.Sprintf("%#v", it)
}

func peerString(p route.Peer) string {
	return fmt.Sprintf("%s/%s/%d/%s", p.Router, p.Addr, p.ASN, p.View)
}

func describeAll(items []any) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString("  " + describe(it) + "\n")
	}
	return b.String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// isUpdate / isState build waitFor predicates.
func isUpdate(peer route.Peer, prefix string, withdraw bool) func(any) bool {
	return func(it any) bool {
		u, ok := it.(route.Update)
		return ok && u.Peer == peer && u.Prefix == pfx(prefix) && u.Withdraw == withdraw
	}
}

func isState(peer route.Peer, f func(route.PeerState) bool) func(any) bool {
	return func(it any) bool {
		s, ok := it.(route.PeerState)
		return ok && s.Peer == peer && f(s)
	}
}

func isUp(s route.PeerState) bool   { return s.Up() }
func isDown(s route.PeerState) bool { return s.Down() }
func isEoR(s route.PeerState) bool  { return s.EndOfRIB }
