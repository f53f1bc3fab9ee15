package pipeline

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/analyzer"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
	"routewatch/store"
)

type fixedTagger map[netip.Prefix][]route.Tag

func (f fixedTagger) Tag(u *route.Update) { u.Tags = f[u.Prefix] }

func TestWatchFilter(t *testing.T) {
	watched := netip.MustParsePrefix("192.0.2.0/24")
	other := netip.MustParsePrefix("198.51.100.0/24")
	tg := fixedTagger{watched: {{Provider: "aws", Region: "us-west-2"}}}
	peer := route.Peer{Addr: netip.MustParseAddr("203.0.113.1"), ASN: 64500}
	attrs := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{64500, 16509}}}}
	// Origin-ASN style tagging: the announcement carries tags, its
	// withdrawal (no attributes) does not.
	byOrigin := tagFunc(func(u *route.Update) {
		if u.Attrs != nil {
			u.Tags = []route.Tag{{Provider: "aws", Match: route.MatchOriginASN}}
		}
	})
	steps := []struct {
		name string
		tg   Tagger
		u    route.Update
		keep bool
	}{
		{"watched announce", tg, route.Update{Peer: peer, Prefix: watched, Attrs: attrs}, true},
		{"unwatched announce", tg, route.Update{Peer: peer, Prefix: other, Attrs: attrs}, false},
		{"watched withdraw", tg, route.Update{Peer: peer, Prefix: watched, Withdraw: true}, true},
		{"unwatched withdraw", tg, route.Update{Peer: peer, Prefix: other, Withdraw: true}, false},
		{"origin-watched announce", byOrigin, route.Update{Peer: peer, Prefix: other, Attrs: attrs}, true},
		{"its untagged withdrawal still passes", byOrigin, route.Update{Peer: peer, Prefix: other, Withdraw: true}, true},
		{"then it is forgotten", byOrigin, route.Update{Peer: peer, Prefix: other, Withdraw: true}, false},
	}
	f := NewWatchFilter()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			u := st.u
			if got := f.Keep(&u, st.tg); got != st.keep {
				t.Errorf("keep = %v, want %v", got, st.keep)
			}
		})
	}
}

type tagFunc func(*route.Update)

func (f tagFunc) Tag(u *route.Update) { f(u) }

type recordingNotifier struct {
	mu  sync.Mutex
	chs []route.EventChange
}

func (r *recordingNotifier) Notify(_ context.Context, chs []route.EventChange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chs = append(r.chs, chs...)
	return nil
}

// TestEngineScenario drives the engine with a synthetic TE shift: the
// event reaches the store and the notifier, routes land in the store.
func TestEngineScenario(t *testing.T) {
	sc := scenario.TEShift(scenario.Options{Seed: 7})
	st := store.NewMemory(store.MemoryConfig{})
	note := &recordingNotifier{}
	reg := prometheus.NewRegistry()
	e := New(Deps{Tagger: func() Tagger { return tagFunc(sc.Tag) }, Analyzer: analyzer.New(analyzer.DefaultConfig()),
		Routes: st, Events: st, Notify: note, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg})
	var skew atomic.Int64 // wall-clock offset, to run data time forward
	e.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	in := make(chan route.Batch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, in, nil, Config{FlushInterval: 10 * time.Millisecond}) }()
	for _, it := range sc.Items() {
		var b route.Batch
		if it.Update != nil {
			b.Updates = []route.Update{*it.Update}
		} else {
			b.States = []route.PeerState{*it.State}
		}
		in <- b
	}
	// Let data time run past the stable period so everything resolves.
	skew.Store(int64(3 * time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	var evs []route.Event
	for time.Now().Before(deadline) {
		evs, _, _ = st.Events(context.Background(), store.EventFilter{Kind: route.KindPathShift, Status: store.StatusResolved})
		if len(evs) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Provider != sc.Expected[0].Provider || evs[0].Region != sc.Expected[0].Region {
		t.Fatalf("stored events %+v, want one resolved path_shift of %s/%s", evs, sc.Expected[0].Provider, sc.Expected[0].Region)
	}
	note.mu.Lock()
	n := len(note.chs)
	note.mu.Unlock()
	if n < 2 {
		t.Errorf("notifier saw %d changes, want at least opened and resolved", n)
	}
	pr, err := st.Routes(context.Background(), sc.Regions[0].Prefixes[0], store.MatchExact)
	if err != nil || len(pr) != 1 || len(pr[0].Routes) == 0 {
		t.Errorf("routes of %s: %+v, %v", sc.Regions[0].Prefixes[0], pr, err)
	}
}
