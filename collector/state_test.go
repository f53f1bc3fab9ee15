package collector

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
)

func TestTracker(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("192.0.2.1")
	peer := route.Peer{Addr: a, ASN: 65001}
	attrs := &route.Attrs{ASPath: seq(65001, 16509)}
	ann := func(p string, id uint32) route.Update {
		return route.Update{Time: t0, Source: Source, Peer: peer, Prefix: pfx(p), PathID: id, Attrs: attrs}
	}
	wd := func(p string, id uint32) route.Update {
		return route.Update{Time: t0, Source: Source, Peer: peer, Prefix: pfx(p), PathID: id, Withdraw: true}
	}
	ev := func(s route.SessionState, fams famSet) peerEvent {
		return peerEvent{Time: t0, Addr: a, ASN: 65001, State: s, Families: fams, Reason: "x"}
	}

	tr := newTracker(Source, nil)
	step := func(name string, u route.Update, wantEmit, wantDump bool) {
		t.Helper()
		emit := tr.update(&u)
		if emit != wantEmit || u.TableDump != wantDump {
			t.Fatalf("%s: emit=%v dump=%v, want %v %v", name, emit, u.TableDump, wantEmit, wantDump)
		}
	}

	if got := tr.peerEvent(ev(route.StateActive, 0)); got != nil {
		t.Fatalf("Idle->Active reported: %v", got)
	}
	got := tr.peerEvent(ev(route.StateEstablished, famAll))
	if len(got) != 1 || !got[0].Up() || got[0].Old != route.StateActive {
		t.Fatalf("up: %+v", got)
	}
	step("initial v4", ann("10.0.0.0/24", 0), true, true)
	step("initial v6", ann("2001:db8::/32", 0), true, true)
	step("add-path 2", ann("10.0.0.0/24", 2), true, true)
	if ups, sts := tr.endOfRIB(t0, a, famV4); len(ups) != 0 || len(sts) != 0 {
		t.Fatalf("v4 EoR with v6 pending: %v %v", ups, sts)
	}
	step("v4 live after its EoR", ann("10.1.0.0/24", 0), true, false)
	step("v6 still initial", ann("2001:db8:1::/48", 0), true, true)
	ups, sts := tr.endOfRIB(t0, a, famV6)
	if len(ups) != 0 || len(sts) != 1 || !sts[0].EndOfRIB {
		t.Fatalf("v6 EoR: %v %v", ups, sts)
	}
	if _, sts := tr.endOfRIB(t0, a, famV6); sts != nil {
		t.Fatalf("second EoR reported again")
	}
	step("withdraw path 2", wd("10.0.0.0/24", 2), true, false)
	step("withdraw again", wd("10.0.0.0/24", 2), false, false)
	step("withdraw never announced", wd("10.9.0.0/24", 0), false, false)
	if tr.unknownWithdrawals != 2 || tr.routes != 4 {
		t.Fatalf("unknown=%d routes=%d, want 2 4", tr.unknownWithdrawals, tr.routes)
	}

	got = tr.peerEvent(ev(route.StateIdle, 0))
	if len(got) != 1 || !got[0].Down() || got[0].Reason != "x" {
		t.Fatalf("down: %+v", got)
	}
	if tr.routes != 0 {
		t.Fatalf("routes after down = %d", tr.routes)
	}
	// A stale route can still be withdrawn explicitly.
	step("withdraw stale", wd("2001:db8:1::/48", 0), true, false)

	tr.peerEvent(ev(route.StateEstablished, famV4)) // IPv4 only this time
	step("re-announce", ann("10.0.0.0/24", 0), true, true)
	ups, sts = tr.endOfRIB(t0, a, famV4)
	want := []route.Update{wd("10.1.0.0/24", 0)}
	if !reflect.DeepEqual(ups, want) || len(sts) != 1 || !sts[0].EndOfRIB {
		t.Fatalf("EoR after reconnect:\n got %v %v\nwant %v", ups, sts, want)
	}
	// The v6 stale route stays stale: the peer did not negotiate IPv6.
	if len(tr.peers[a].stale) != 1 {
		t.Fatalf("stale left: %d, want 1 (2001:db8::/32)", len(tr.peers[a].stale))
	}
}

func TestTrackerEORTimeout(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	tr := newTracker(Source, nil)
	tr.peerEvent(peerEvent{Addr: a, State: route.StateEstablished, Families: famAll})
	first := tr.session(a)
	u := route.Update{Peer: route.Peer{Addr: a}, Prefix: pfx("10.0.0.0/8"), Attrs: &route.Attrs{}}
	tr.update(&u)
	tr.peerEvent(peerEvent{Addr: a, State: route.StateIdle})
	tr.peerEvent(peerEvent{Addr: a, State: route.StateEstablished, Families: famAll})
	if ups, sts := tr.eorTimeout(time.Time{}, a, first); ups != nil || sts != nil {
		t.Fatal("a timer of the previous session acted")
	}
	ups, sts := tr.eorTimeout(time.Time{}, a, tr.session(a))
	if len(ups) != 1 || !ups[0].Withdraw || len(sts) != 1 || !sts[0].EndOfRIB || sts[0].Reason == "" {
		t.Fatalf("timeout: %v %v", ups, sts)
	}
	if ups, sts := tr.eorTimeout(time.Time{}, a, tr.session(a)); ups != nil || sts != nil {
		t.Fatal("timeout acted twice")
	}
}

func TestTrackerMaxPrefixWarn(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	tr := newTracker(Source, func(netip.Addr) uint32 { return 2 })
	tr.peerEvent(peerEvent{Addr: a, State: route.StateEstablished, Families: famAll})
	for i, p := range []string{"10.0.0.0/24", "10.0.1.0/24", "2001:db8::/32", "10.0.2.0/24", "10.0.3.0/24"} {
		u := route.Update{Peer: route.Peer{Addr: a}, Prefix: pfx(p), Attrs: &route.Attrs{}}
		tr.update(&u)
		want := uint64(0)
		if i >= 3 {
			want = 1 // counted once, per family limit
		}
		if tr.maxPrefixWarnings != want {
			t.Fatalf("after %s: warnings %d, want %d", p, tr.maxPrefixWarnings, want)
		}
	}
}

func TestSlotRoundTrip(t *testing.T) {
	for _, s := range []string{"0.0.0.0/0", "10.0.0.0/8", "255.255.255.255/32", "::/0", "2001:db8::/32", "::ffff:10.0.0.0/104"} {
		p := pfx(s)
		if got := slotOf(p, 7).prefix(); got != p {
			t.Errorf("%s round-trips to %s", p, got)
		}
	}
	if slotOf(pfx("10.0.0.0/8"), 0) == slotOf(pfx("::ffff:10.0.0.0/8"), 0) {
		t.Error("IPv4 and IPv4-mapped IPv6 share a slot")
	}
}

// TestHandoffDrops: a stuck consumer costs counted drops of update
// batches, never of peer states, and never blocks GoBGP's watcher for
// longer than handoff_timeout.
func TestHandoffDrops(t *testing.T) {
	cfg := Config{ASN: 1, RouterID: "192.0.2.1", Neighbors: []Neighbor{{Address: "192.0.2.2", PeerASN: 2}},
		QueueBatches: 1, HandoffTimeout: 20 * time.Millisecond}
	c, err := New(cfg, nil, nil)
	must(t, err)
	s := &session{c: c, ctx: t.Context(), tr: newTracker(Source, nil)}
	u := route.Update{Prefix: pfx("10.0.0.0/8")}
	s.handoff(route.Batch{Updates: []route.Update{u}}, false)    // fills the queue
	s.handoff(route.Batch{Updates: []route.Update{u, u}}, false) // dropped after the timeout
	done := make(chan struct{})
	go func() {
		s.handoff(route.Batch{States: []route.PeerState{{New: route.StateIdle}}}, true) // waits
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a peer state was dropped")
	case <-time.After(100 * time.Millisecond):
	}
	if b := <-c.q; len(b.Updates) != 1 {
		t.Fatalf("first batch: %+v", b)
	}
	<-done
	if b := <-c.q; len(b.States) != 1 {
		t.Fatalf("state batch: %+v", b)
	}
	if got := counterValue(t, c.m.dropped); got != 2 {
		t.Fatalf("dropped = %v, want 2 (updates)", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	must(t, reg.Register(c))
	mfs, err := reg.Gather()
	must(t, err)
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}

// TestWatchList: a peer is watched until its deadline, and an empty list
// answers without its lock.
func TestWatchList(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var w watchList
	if w.active() || w.has("192.0.2.2", t0) {
		t.Fatal("empty list watches something")
	}
	w.add("192.0.2.2", t0.Add(time.Minute))
	for _, tc := range []struct {
		name string
		key  string
		at   time.Time
		want bool
	}{
		{"watched peer before its deadline", "192.0.2.2", t0, true},
		{"other peer", "192.0.2.3", t0, false},
		{"no key", "", t0, false},
		{"after the deadline", "192.0.2.2", t0.Add(2 * time.Minute), false},
		{"expired entry was removed", "192.0.2.2", t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := w.has(tc.key, tc.at); got != tc.want {
				t.Fatalf("has(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
	if w.active() {
		t.Error("list still active after its only entry expired")
	}
}
