package collector

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/internal/exabgptest"
	"routewatch/route"
)

// The ExaBGP peer harness is shared with the service's end-to-end tests.
type (
	exaConfig = exabgptest.Config
	exaPeer   = exabgptest.Peer
)

func startExa(t *testing.T, c exaConfig) *exaPeer { return exabgptest.Start(t, c) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// running is a collector under test with its output stream.
type running struct {
	t   *testing.T
	c   *Collector
	reg *prometheus.Registry
	out chan route.Batch
	// items is the flattened stream: route.Update or route.PeerState.
	items chan any
	errc  chan error
}

func startCollector(t *testing.T, cfg Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := New(cfg, logger, reg)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, c: c, reg: reg, out: make(chan route.Batch), items: make(chan any, 100000), errc: make(chan error, 1)}
	go func() { r.errc <- c.Run(ctx, r.out) }()
	go func() {
		for b := range r.out {
			for _, u := range b.Updates {
				r.items <- u
			}
			for _, s := range b.States {
				r.items <- s
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

// next returns the next update or peer state, failing after a timeout.
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

// expectNone checks that nothing arrives for d.
func (r *running) expectNone(d time.Duration) {
	r.t.Helper()
	select {
	case it := <-r.items:
		r.t.Fatalf("unexpected item: %s", describe(it))
	case <-time.After(d):
	}
}

// metric returns the value of a counter/gauge (summed over labels matching
// the given label pairs).
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
			a = fmt.Sprintf(" path=[%s] nh=%s comm=%v large=%v origin=%s", v.Attrs.ASPath, v.Attrs.NextHop, v.Attrs.Communities, v.Attrs.LargeCommunities, v.Attrs.Origin)
		}
		return fmt.Sprintf("update peer=%s/%d %s id=%d wd=%v dump=%v%s", v.Peer.Addr, v.Peer.ASN, v.Prefix, v.PathID, v.Withdraw, v.TableDump, a)
	case route.PeerState:
		return fmt.Sprintf("state peer=%s/%d %s->%s eor=%v reason=%q", v.Peer.Addr, v.Peer.ASN, v.Old, v.New, v.EndOfRIB, v.Reason)
	}
	return fmt.Sprintf("%#v", it)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
