package store

import (
	"context"
	"testing"

	"routewatch/route"
)

// Vantage points that share an address: the same RIS feeder at two
// collectors, one BMP neighbor in its pre- and post-policy views. Each is
// its own path, peer, session and epoch on every backend.

func routesByPeer(t *testing.T, s Store, pfx string) map[route.Peer]Route {
	t.Helper()
	out := map[route.Peer]Route{}
	for _, pr := range routesOf(t, s, pfx, MatchExact) {
		for _, r := range pr.Routes {
			if _, dup := out[r.Peer]; dup {
				t.Fatalf("%s: two routes of %+v", pfx, r.Peer)
			}
			out[r.Peer] = r
		}
	}
	return out
}

func peersByKey(t *testing.T, s Store) map[route.Peer]PeerInfo {
	t.Helper()
	ps, err := s.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[route.Peer]PeerInfo{}
	for i, p := range ps {
		if i > 0 && ComparePeers(ps[i-1].Peer, p.Peer) >= 0 {
			t.Errorf("peers out of order: %+v before %+v", ps[i-1].Peer, p.Peer)
		}
		out[p.Peer] = p
	}
	if len(out) != len(ps) {
		t.Errorf("peers listed twice: %+v", ps)
	}
	return out
}

// contractTwoCollectorsSameFeeder: one feeder's routes at two RRCs do not
// overwrite each other, and withdrawing at one leaves the other.
func contractTwoCollectorsSameFeeder(t *testing.T, s Store) {
	mustApply(t, s, ann(1, peerARRC00, "192.0.2.0/24", awsW2, 3333, 16509),
		ann(2, peerARRC01, "192.0.2.0/24", awsW2, 3333, 174, 16509))
	got := routesByPeer(t, s, "192.0.2.0/24")
	if len(got) != 2 || got[peerARRC00].Attrs.ASPath.String() == got[peerARRC01].Attrs.ASPath.String() {
		t.Fatalf("routes = %+v, want one per collector with its own path", got)
	}
	if ps := peersByKey(t, s); len(ps) != 2 || ps[peerARRC00].Prefixes != 1 || ps[peerARRC01].Prefixes != 1 {
		t.Errorf("peers = %+v", ps)
	}
	mustApply(t, s, wd(3, peerARRC00, "192.0.2.0/24"))
	got = routesByPeer(t, s, "192.0.2.0/24")
	if _, ok := got[peerARRC01]; len(got) != 1 || !ok {
		t.Errorf("after withdrawal at rrc00: routes = %+v", got)
	}
	h := history(t, s, "192.0.2.0/24")
	if len(h) != 3 || h[0].Peer != peerARRC00 || h[0].New != nil || h[1].Peer != peerARRC01 {
		t.Errorf("history = %+v", h)
	}
	at2, err := s.RoutesAt(context.Background(), h[0].Prefix, at(2))
	if err != nil || len(at2.Routes) != 2 || at2.Routes[0].Peer != peerARRC00 || at2.Routes[1].Peer != peerARRC01 {
		t.Errorf("routes at 2 = %+v %v", at2, err)
	}
	if ps := peersByKey(t, s); ps[peerARRC00].Prefixes != 0 || ps[peerARRC01].Prefixes != 1 {
		t.Errorf("peers after withdrawal = %+v", ps)
	}
}

// contractBMPViewsSameNeighbor: a BMP neighbor's pre- and post-policy
// routes are two paths and two peers, next to the plain BGP session with
// the same neighbor.
func contractBMPViewsSameNeighbor(t *testing.T, s Store) {
	pre := ann(1, peerABMPPre, "192.0.2.0/24", awsW2, 3333, 16509)
	post := ann(1, peerABMPPost, "192.0.2.0/24", awsW2, 3333, 16509)
	post.Attrs.LocalPref, post.Attrs.HasLocalPref = 300, true
	mustApply(t, s, pre, post, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
	got := routesByPeer(t, s, "192.0.2.0/24")
	if len(got) != 3 || got[peerABMPPre].Attrs.HasLocalPref || got[peerABMPPost].Attrs.LocalPref != 300 {
		t.Fatalf("routes = %+v, want the pre-, post-policy and BGP paths", got)
	}
	ps := peersByKey(t, s)
	if len(ps) != 3 || ps[peerABMPPost].Peer.View != route.ViewAdjRIBInPost || ps[peerABMPPre].Peer.Distinguisher != peerABMPPre.Distinguisher {
		t.Errorf("peers = %+v", ps)
	}
	g, err := s.Group(context.Background(), "aws", "us-west-2")
	if err != nil || g.PeerPaths != 3 || g.Prefixes != 1 {
		t.Errorf("group = %+v %v", g, err)
	}
	vis := groupPrefixes(t, s, "aws", "us-west-2")
	if len(vis) != 1 || vis[0].Peers != 3 || vis[0].Paths != 3 {
		t.Errorf("group prefixes = %+v, want 3 vantage points", vis)
	}
}

func groupPrefixes(t *testing.T, s Store, provider, region string) []PrefixVisibility {
	t.Helper()
	vs, _, err := s.GroupPrefixes(context.Background(), provider, region, Page{})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// contractSessionDownOfOneVantagePoint: one vantage point's session going
// down makes only its own paths stale; the other, at the same address,
// stays live, and each has its own session history and epoch.
func contractSessionDownOfOneVantagePoint(t *testing.T, s Store) {
	ctx := context.Background()
	for _, p := range []route.Peer{peerARRC00, peerARRC01, peerABMPPre, peerABMPPost} {
		mustStates(t, s, state(0, p, route.StateOpenConfirm, route.StateEstablished))
		mustApply(t, s, ann(1, p, "192.0.2.0/24", awsW2, 3333, 16509))
	}
	down := state(10, peerARRC00, route.StateEstablished, route.StateIdle)
	down.Peer.ASN = 0 // the ASN is not part of the identity
	mustStates(t, s, down, state(10, peerABMPPre, route.StateEstablished, route.StateIdle))
	stale := func() map[route.Peer]bool {
		out := map[route.Peer]bool{}
		for p, r := range routesByPeer(t, s, "192.0.2.0/24") {
			out[p] = r.Stale
		}
		return out
	}
	want := map[route.Peer]bool{peerARRC00: true, peerARRC01: false, peerABMPPre: true, peerABMPPost: false}
	if got := stale(); len(got) != 4 || got[peerARRC00] != true || got[peerARRC01] || !got[peerABMPPre] || got[peerABMPPost] {
		t.Errorf("after rrc00 and pre-policy down: stale = %v, want %v", got, want)
	}
	ps := peersByKey(t, s)
	if ps[peerARRC00].State != route.StateIdle || ps[peerARRC00].Flaps != 1 || ps[peerARRC01].State != route.StateEstablished ||
		ps[peerARRC01].Flaps != 0 || ps[peerABMPPost].State != route.StateEstablished {
		t.Errorf("peers = %+v", ps)
	}
	if vis := groupPrefixes(t, s, "aws", "us-west-2"); len(vis) != 1 || vis[0].Peers != 2 || vis[0].Stale != 2 {
		t.Errorf("group prefixes = %+v", vis)
	}
	// rrc00 comes back: its path stays stale until re-announced (a new
	// epoch of rrc00 only); rrc01's path is untouched.
	mustStates(t, s, state(20, peerARRC00, route.StateOpenConfirm, route.StateEstablished))
	if got := stale(); !got[peerARRC00] || got[peerARRC01] {
		t.Errorf("after rrc00 up: stale = %v", got)
	}
	mustApply(t, s, ann(21, peerARRC00, "192.0.2.0/24", nil, 3333, 16509))
	if got := stale(); got[peerARRC00] || got[peerARRC01] || !got[peerABMPPre] {
		t.Errorf("after rrc00 re-announced: stale = %v", got)
	}
	for p, n := range map[route.Peer]int{peerARRC00: 3, peerARRC01: 1, peerABMPPre: 2, peerABMPPost: 1, peerA: 0} {
		sh, err := s.SessionHistory(ctx, p, 0)
		if err != nil || len(sh) != n {
			t.Errorf("session history of %s = %+v %v, want %d", PeerKey(p), sh, err, n)
		}
		for _, st := range sh {
			if vantageOf(st.Peer) != vantageOf(p) {
				t.Errorf("session history of %s holds %s", PeerKey(p), PeerKey(st.Peer))
			}
		}
	}
}

// contractBMPRouterDescr: a BMP router's sysDescr, on its session changes,
// is kept on each of its vantage points and follows a new Initiation.
func contractBMPRouterDescr(t *testing.T, s Store) {
	ctx := context.Background()
	up := func(sec int, p route.Peer, descr string) route.PeerState {
		return route.PeerState{Time: at(sec), Source: "bmp", Peer: p, Old: route.StateIdle, New: route.StateEstablished, SysDescr: descr}
	}
	down := route.PeerState{Time: at(2), Source: "bmp", Peer: peerABMPPre, Old: route.StateEstablished, New: route.StateIdle}
	if err := s.ApplyPeerStates(ctx, []route.PeerState{up(1, peerABMPPre, "Junos 23.4R1"), up(1, peerABMPPost, "Junos 23.4R1"), down}); err != nil {
		t.Fatal(err)
	}
	ps := peersByKey(t, s)
	if ps[peerABMPPre].SysDescr != "Junos 23.4R1" || ps[peerABMPPost].SysDescr != "Junos 23.4R1" {
		t.Errorf("after up (and a down without sysDescr): peers = %+v", ps)
	}
	if err := s.ApplyPeerStates(ctx, []route.PeerState{up(3, peerABMPPre, "Junos 24.2R1")}); err != nil {
		t.Fatal(err)
	}
	if got := peersByKey(t, s)[peerABMPPre].SysDescr; got != "Junos 24.2R1" {
		t.Errorf("after a new session: sysDescr = %q", got)
	}
	h, err := s.SessionHistory(ctx, peerABMPPre, 10)
	if err != nil || len(h) != 3 || h[0].SysDescr != "Junos 24.2R1" {
		t.Errorf("session history = %+v %v", h, err)
	}
}
