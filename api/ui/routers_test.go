package ui_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"routewatch/api"
	"routewatch/route"
	"routewatch/store"
)

// TestBrowserRouters: the peers page shows each BMP router with the
// sysName and sysDescr of its Initiation, from the store.
func TestBrowserRouters(t *testing.T) {
	b := newBrowser(t, 1280, 800)
	st := store.NewMemory(store.MemoryConfig{})
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	peer := func(addr, router string, view route.View) route.Peer {
		return route.Peer{Addr: netip.MustParseAddr(addr), ASN: 64501, Router: router, View: view}
	}
	var states []route.PeerState
	for _, p := range []route.Peer{
		peer("198.51.100.1", "edge1@192.0.2.1", route.ViewAdjRIBInPre), peer("198.51.100.1", "edge1@192.0.2.1", route.ViewAdjRIBInPost),
		peer("198.51.100.2", "edge1@192.0.2.1", route.ViewAdjRIBInPre), peer("198.51.100.3", "edge2@192.0.2.2", route.ViewAdjRIBInPre),
	} {
		descr := "Juniper Networks, Inc. mx204 internet router, kernel JUNOS 23.4R1"
		if p.Router == "edge2@192.0.2.2" {
			descr = "FRRouting/8.4.4"
		}
		states = append(states, route.PeerState{Time: t0, Source: "bmp", Peer: p, Old: route.StateIdle, New: route.StateEstablished, SysDescr: descr})
	}
	states = append(states, route.PeerState{Time: t0, Source: "bgp", Peer: peer("203.0.113.1", "", route.ViewAdjRIBInPre),
		Old: route.StateOpenConfirm, New: route.StateEstablished})
	if err := st.ApplyPeerStates(context.Background(), states); err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.RateLimit = api.RateLimit{}
	s, err := api.New(cfg, st, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	b.run(chromedp.Navigate("http://"+ln.Addr().String()+"/peers"), waitPage("peers"))
	type row struct {
		Router string   `json:"router"`
		Text   []string `json:"text"`
	}
	rows := eval[[]row](b, `[...document.querySelectorAll('table.routers tr[data-router]')].map(r => ({router: r.dataset.router, text: [...r.cells].map(c => c.textContent)}))`)
	want := []row{
		{"edge1@192.0.2.1", []string{"192.0.2.1", "edge1", "Juniper Networks, Inc. mx204 internet router, kernel JUNOS 23.4R1", "up", "", "2", "3 / 3", "0"}},
		{"edge2@192.0.2.2", []string{"192.0.2.2", "edge2", "FRRouting/8.4.4", "up", "", "1", "1 / 1", "0"}},
	}
	if len(rows) != len(want) {
		t.Fatalf("routers table = %+v, want %d routers", rows, len(want))
	}
	for i, r := range rows {
		r.Text[4] = "" // since: formatted in the browser's zone
		if r.Router != want[i].Router || !slices.Equal(r.Text, want[i].Text) {
			t.Errorf("router row %d = %q, want %q", i, r, want[i])
		}
	}
	if n := eval[int](b, `document.querySelectorAll('table.peers tr[data-peer]').length`); n != 5 {
		t.Errorf("peers table lists %d vantage points, want 5", n)
	}
	b.shot("peers-routers-1280")
	b.noErrors("peers with routers")
}
