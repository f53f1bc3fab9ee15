package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"routewatch/api"
	"routewatch/route"
	"routewatch/store"
)

// syncBuffer is a log sink the server writes to from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// syntheticEvents are n events over 30 provider/region lanes and 30 days,
// a few still open.
func syntheticEvents(n, from int) []route.Event {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(from)))
	kinds := []route.EventKind{route.KindPathShift, route.KindWithdrawal, route.KindOriginChange, route.KindMoreSpecific, route.KindPeerDown}
	providers := []string{"aws", "gcp", "azure", "oracle", "cloudflare"}
	t0 := time.Date(2021, 11, 15, 0, 0, 0, 0, time.UTC)
	out := make([]route.Event, n)
	for i := range out {
		start := t0.Add(time.Duration(rng.IntN(30*24*60)) * time.Minute)
		e := route.Event{ID: fmt.Sprintf("load-%06d", from+i), Kind: kinds[rng.IntN(len(kinds))],
			Provider: providers[rng.IntN(len(providers))], Region: fmt.Sprintf("region-%d", rng.IntN(6)),
			Start: start, Detected: start.Add(time.Minute), Prefixes: 5 + rng.IntN(200), Peers: 3 + rng.IntN(10),
			Summary:        "synthetic load event",
			Transitions:    []route.Transition{{FromUpstream: 3356, ToUpstream: 2914, Prefixes: 5}},
			AffectedPeers:  []route.Peer{{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 3333}},
			SamplePrefixes: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")}}
		if e.Kind == route.KindPeerDown {
			e.Provider, e.Region = "", ""
		}
		if rng.IntN(50) != 0 {
			end := start.Add(time.Duration(2+rng.IntN(240)) * time.Minute)
			e.End = &end
		}
		out[i] = e
	}
	return out
}

// TestBrowserAuthAndLoad: with a token configured the UI asks for it once
// (a wrong one is refused), sends it as a bearer header and never in a
// URL or the log; and first render with 1,000 (then 10,000) events in the
// store, measured in the browser with the Performance API (reported, not
// asserted).
func TestBrowserAuthAndLoad(t *testing.T) {
	b := newBrowser(t, 1280, 800)
	const token = "ui-test-token-0123456789"
	st := store.NewMemory(store.MemoryConfig{})
	ctx := context.Background()
	if err := st.PutEvents(ctx, syntheticEvents(1000, 0)); err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.RateLimit = api.RateLimit{}
	cfg.Tokens = []api.Token{{Name: "ui", Token: token, Scope: api.ScopeRead}}
	var logs syncBuffer
	s, err := api.New(cfg, st, nil, nil, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()

	b.run(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#token-dialog[open]`)))
	b.shot("token-dialog-1280")
	b.run(chromedp.SendKeys(chromedp.CSS(`#token-input`), "not-the-token-at-all"), chromedp.Click(chromedp.CSS(`#token-form button`)))
	b.run(chromedp.WaitVisible(chromedp.CSS(`#token-dialog[open] #token-error`)))
	b.mu.Lock()
	b.errs = nil // the refused token's 401s are expected
	b.mu.Unlock()
	b.run(chromedp.SendKeys(chromedp.CSS(`#token-input`), token), chromedp.Click(chromedp.CSS(`#token-form button`)), waitPage("overview"))
	b.wait(`document.getElementById('live').textContent.includes('live')`, 10*time.Second)
	open := 0
	for _, e := range syntheticEvents(1000, 0) {
		if e.End == nil {
			open++
		}
	}
	if n := eval[int](b, `document.querySelectorAll('.open-events tr[data-event]').length`); n != open {
		t.Errorf("overview lists %d open events, store has %d", n, open)
	}
	b.noErrors("overview with token")

	// First render, from navigation start, with the token already given.
	measure := func(path, page string) float64 {
		b.run(chromedp.Navigate(base+path), waitPage(page))
		return eval[float64](b, `performance.getEntriesByName('routewatch:rendered')[0].startTime`)
	}
	fetched := func() float64 {
		return eval[float64](b, `performance.getEntriesByName('routewatch:timeline-fetched')[0].startTime`)
	}
	overview1k, timeline1k := measure("/", "overview"), measure("/timeline", "timeline")
	fetched1k := fetched()
	if n := eval[int](b, `document.querySelectorAll('rect.bar').length`); n < 900 {
		t.Errorf("timeline draws %d bars of 1000 events", n)
	}
	b.shot("timeline-1k-1280")
	if err := st.PutEvents(ctx, syntheticEvents(9000, 1000)); err != nil {
		t.Fatal(err)
	}
	timeline10k := measure("/timeline", "timeline")
	fetched10k := fetched()
	// Zoom and pan stay usable with 10 k events.
	b.run(chromedp.Focus(chromedp.CSS(`svg.timeline`)), chromedp.KeyEvent("+"), chromedp.KeyEvent("+"), chromedp.KeyEvent("\u2192"))
	b.shot("timeline-10k-1280")
	b.noErrors("load")
	report := fmt.Sprintf("first render (Performance API, navigation start to rendered), loopback, headless chromium:\n"+
		"  overview, 1000 events: %.0f ms\n  timeline, 1000 events: %.0f ms (events fetched at %.0f ms)\n  timeline, 10000 events: %.0f ms (events fetched at %.0f ms)\n",
		overview1k, timeline1k, fetched1k, timeline10k, fetched10k)
	t.Log(report)
	if err := os.WriteFile(filepath.Join(b.dir, "first-render.txt"), []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}

	b.mu.Lock()
	for _, u := range b.urls {
		if strings.Contains(u, token) {
			t.Errorf("the token is in a URL: %s", u)
		}
	}
	if b.authHeaders == 0 {
		t.Error("no API request carried an Authorization header")
	}
	b.mu.Unlock()
	if strings.Contains(logs.String(), token) {
		t.Error("the token is in the server log")
	}
}
