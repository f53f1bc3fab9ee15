package analyzer_test

import (
	"net/netip"
	"testing"
	"time"

	"routewatch/analyzer"
	"routewatch/route"
)

// TestChurnMemoryBounded drives announce-then-withdraw churn over many
// distinct prefixes: the slots held must follow the routes alive (plus
// the sliding window), not every route ever seen, and return to zero.
func TestChurnMemoryBounded(t *testing.T) {
	const peers = 3
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	cfg := analyzer.DefaultConfig()
	// Each vantage point withdraws as much as it holds: not a lost table.
	cfg.PeerDownMinRoutes = 1 << 30
	a := analyzer.New(cfg)
	tags := []route.Tag{{Provider: "aws", Region: "us-west-2", Match: route.MatchEqual}}
	const step = 10 * time.Millisecond
	const life = time.Minute
	pfx := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(10 + i>>16), byte(i >> 8), byte(i), 0}), 24)
	}
	peer := func(p int) route.Peer {
		return route.Peer{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(p + 1)}), ASN: uint32(65000 + p)}
	}
	// Live routes (life/step prefixes) plus withdrawn ones still in the
	// window (cfg.Window/step), with slack for one window of lag.
	bound := int64(peers * (life + 2*cfg.Window) / step)
	var maxSlots, maxPrefixes int64
	wd := 0 // next prefix to withdraw
	var now time.Time
	for i := range n {
		now = t0.Add(time.Duration(i) * step)
		for ; wd < i && !t0.Add(time.Duration(wd)*step+life).After(now); wd++ {
			for p := range peers {
				a.Observe(route.Update{Time: now, Peer: peer(p), Prefix: pfx(wd), Withdraw: true})
			}
		}
		for p := range peers {
			a.Observe(route.Update{Time: now, Peer: peer(p), Prefix: pfx(i), Attrs: path(uint32(65000+p), 3356, 16509), Tags: tags})
		}
		if i%1000 == 0 {
			st := a.Stats()
			maxSlots = max(maxSlots, st.Slots)
			maxPrefixes = max(maxPrefixes, st.Prefixes)
		}
	}
	if maxSlots == 0 || maxSlots > bound || maxPrefixes > bound/peers {
		t.Errorf("during churn of %d prefixes: up to %d slots, %d prefixes held, want <= %d, %d",
			n, maxSlots, maxPrefixes, bound, bound/peers)
	}
	t.Logf("%d prefixes × %d peers announced and withdrawn: at most %d slots, %d prefixes held", n, peers, maxSlots, maxPrefixes)
	for ; wd < n; wd++ {
		for p := range peers {
			a.Observe(route.Update{Time: now, Peer: peer(p), Prefix: pfx(wd), Withdraw: true})
		}
	}
	a.Tick(now.Add(cfg.StablePeriod + 3*cfg.Window))
	a.Flush()
	st := a.Stats()
	if st.Slots != 0 || st.Prefixes != 0 || st.Peers != 0 || st.Window != 0 || st.Open != 0 {
		t.Errorf("after the churn: %+v, want nothing held", st)
	}
	if st.Changes[analyzer.ChangeInitial] != int64(n*peers) || st.Changes[analyzer.ChangeWithdraw] != int64(n*peers) {
		t.Errorf("changes %v", st.Changes)
	}
}

// TestOpenEventKeepsBaseline: the slots of an open event's withdrawn
// routes stay until the event resolves (they are its pre-event
// baseline); then they are freed, and a prefix that comes back starts
// again as an initial announcement.
func TestOpenEventKeepsBaseline(t *testing.T) {
	w := newWorld(10, 40)
	cfg := analyzer.DefaultConfig()
	a := analyzer.New(cfg)
	w.load(a, t0, true)
	start := t0.Add(10 * time.Minute)
	a.Tick(start)
	for i := range 30 {
		for p := range w.peers {
			a.Observe(w.update(start.Add(time.Duration(i+p)*time.Second), p, i, nil, false))
		}
	}
	if changes := a.Tick(start.Add(2 * time.Minute)); len(changes) != 1 || changes[0].Change != route.EventOpened {
		t.Fatalf("changes after the outage: %+v", changes)
	}
	// Long after the window: only the open event still needs the slots.
	a.Tick(start.Add(30 * time.Minute))
	if st := a.Stats(); st.Open != 1 || st.Slots != 400 || st.Prefixes != 40 || st.Window != 0 {
		t.Fatalf("while the outage is open: %+v", st)
	}
	changes := a.Tick(start.Add(2 * cfg.StablePeriod))
	if len(changes) != 1 || changes[0].Change != route.EventResolved {
		t.Fatalf("changes %+v", changes)
	}
	if st := a.Stats(); st.Open != 0 || st.Slots != 100 || st.Prefixes != 10 || st.Peers != 10 || st.Events != 1 {
		t.Fatalf("after resolution: %+v", st)
	}
	// A freed route that comes back is an initial announcement.
	before := a.Stats().Changes[analyzer.ChangeInitial]
	a.Observe(w.update(start.Add(2*cfg.StablePeriod+time.Second), 0, 0, path(w.peers[0].ASN, 3356, 16509), false))
	if st := a.Stats(); st.Changes[analyzer.ChangeInitial] != before+1 || st.Slots != 101 || st.Prefixes != 11 {
		t.Errorf("re-announced: %+v", st)
	}
	if n := a.Prune(start.Add(3 * cfg.StablePeriod)); n != 1 || a.Stats().Events != 0 {
		t.Errorf("Prune dropped %d, %d events held", n, a.Stats().Events)
	}
}
