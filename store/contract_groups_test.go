package store

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"routewatch/route"
)

// contractPeerSessionsAndStaleness: peer sessions and staleness.
func contractPeerSessionsAndStaleness(t *testing.T, s Store) {
	ctx := context.Background()
	mustStates(t, s, state(0, peerA, route.StateOpenConfirm, route.StateEstablished))
	mustApply(t, s, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509), ann(1, peerA, "192.0.3.0/24", awsW2, 3333, 16509))
	mustApply(t, s, ann(1, peerB, "192.0.2.0/24", awsW2, 2914, 16509))
	stale := func(pfx string) map[route.Peer]bool {
		out := map[route.Peer]bool{}
		for _, pr := range routesOf(t, s, pfx, MatchExact) {
			for _, r := range pr.Routes {
				out[r.Peer] = r.Stale
			}
		}
		return out
	}
	// Read (and so cached, where a store caches) before the session goes
	// down: the cached answer must not outlive it.
	if got := stale("192.0.2.0/24"); got[peerA] || got[peerB] {
		t.Errorf("before down: stale = %v", got)
	}
	down := state(10, peerA, route.StateEstablished, route.StateIdle)
	down.Peer.ASN = 0 // dynamic peers report Idle without an ASN
	mustStates(t, s, down, down)
	if got := stale("192.0.2.0/24"); !got[peerA] || got[peerB] {
		t.Errorf("after down: stale = %v", got)
	}
	up := state(20, peerA, route.StateOpenConfirm, route.StateEstablished)
	mustStates(t, s, up)
	// Still stale until re-announced in the new session.
	if got := stale("192.0.2.0/24"); !got[peerA] {
		t.Errorf("after up: stale = %v", got)
	}
	mustApply(t, s, ann(21, peerA, "192.0.2.0/24", nil, 3333, 16509))
	if got := stale("192.0.2.0/24"); got[peerA] {
		t.Errorf("after re-announce: stale = %v", got)
	}
	if got := stale("192.0.3.0/24"); !got[peerA] {
		t.Errorf("not re-announced: stale = %v", got)
	}
	if h := history(t, s, "192.0.2.0/24"); len(h) != 2 {
		t.Errorf("re-announcement of the same path made history: %d entries", len(h))
	}
	// Redelivery of the whole sequence changes nothing.
	mustStates(t, s, state(0, peerA, route.StateOpenConfirm, route.StateEstablished), down, up)
	peers, err := s.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 {
		t.Fatalf("peers = %+v", peers)
	}
	pa := peers[0]
	if pa.Peer != peerA || pa.State != route.StateEstablished || !pa.StateSince.Equal(at(20)) ||
		pa.Flaps != 1 || pa.Prefixes != 2 || !pa.LastUpdate.Equal(at(21)) || pa.Source != "test" {
		t.Errorf("peer A = %+v", pa)
	}
	if pb := peers[1]; pb.Peer != peerB || pb.Prefixes != 1 || pb.State != route.StateUnknown {
		t.Errorf("peer B = %+v", pb)
	}
	sh, err := s.SessionHistory(ctx, peerA, 0)
	if err != nil || len(sh) != 3 || sh[0].New != route.StateEstablished || !sh[0].Time.Equal(at(20)) ||
		sh[1].New != route.StateIdle || sh[1].Peer.ASN != 0 || !sh[2].Time.Equal(at(0)) {
		t.Errorf("session history = %+v %v", sh, err)
	}
	if sh, err := s.SessionHistory(ctx, peerA, 1); err != nil || len(sh) != 1 {
		t.Errorf("session history limit 1 = %+v %v", sh, err)
	}
	if sh, err := s.SessionHistory(ctx, peerC, 0); err != nil || len(sh) != 0 {
		t.Errorf("unknown peer session history = %+v %v", sh, err)
	}
}

// contractSameSecondFlapRedelivered: same-second flap redelivered.
func contractSameSecondFlapRedelivered(t *testing.T, s Store) {
	ctx := context.Background()
	sts := []route.PeerState{
		state(0, peerA, route.StateOpenConfirm, route.StateEstablished),
		state(5, peerA, route.StateEstablished, route.StateIdle),
		state(5, peerA, route.StateIdle, route.StateConnect),
		state(5, peerA, route.StateOpenConfirm, route.StateEstablished),
	}
	mustStates(t, s, sts...)
	mustStates(t, s, sts...)
	peers, _ := s.Peers(ctx)
	if len(peers) != 1 || peers[0].Flaps != 1 || peers[0].State != route.StateEstablished {
		t.Errorf("peers = %+v", peers)
	}
}

// contractGroupSummaries: group summaries.
func contractGroupSummaries(t *testing.T, s Store) {
	ctx := context.Background()
	mustStates(t, s, state(0, peerA, route.StateOpenConfirm, route.StateEstablished))
	mustApply(t, s,
		ann(60, peerA, "192.0.2.0/24", awsW2, 3333, 16509),
		ann(60, peerB, "192.0.2.0/24", awsW2, 2914, 16509),
		ann(60, peerA, "192.0.3.0/24", awsW2, 3333, 16509),
		ann(60, peerC, "2001:db8::/32", gcpE1, 6939, 15169),
		ann(60, peerA, "198.51.100.0/24", awsW2, 3333, 16509),
		wd(61, peerA, "198.51.100.0/24"),
	)
	mustStates(t, s, state(70, peerA, route.StateEstablished, route.StateIdle))
	g, err := s.Group(ctx, "aws", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	want := GroupSummary{Provider: "aws", Region: "us-west-2", Prefixes: 2, Visible: 1, PeerPaths: 3, Changes: 5, LastChange: at(61)}
	if g != want {
		t.Errorf("group = %+v\nwant    %+v", g, want)
	}
	// Changes count the hour before the last change.
	mustApply(t, s, ann(3700, peerB, "192.0.2.0/24", nil, 2914, 174, 16509))
	g, _ = s.Group(ctx, "aws", "us-west-2")
	if g.Changes != 1 || !g.LastChange.Equal(at(3700)) {
		t.Errorf("after an hour: %+v", g)
	}
	gs, err := s.Groups(ctx)
	if err != nil || len(gs) != 2 || gs[0].Provider != "aws" || gs[1].Provider != "gcp" || gs[1].Visible != 1 {
		t.Errorf("groups = %+v %v", gs, err)
	}
	if _, err := s.Group(ctx, "azure", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown group: %v", err)
	}
	// Re-tagging moves the prefix.
	mustApply(t, s, ann(3800, peerC, "2001:db8::/32", awsW2, 6939, 15169))
	if _, err := s.Group(ctx, "gcp", "us-east1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("re-tagged group still there: %v", err)
	}
}

// contractGroupPrefixes: group prefixes.
func contractGroupPrefixes(t *testing.T, s Store) {
	ctx := context.Background()
	mustStates(t, s, state(0, peerA, route.StateOpenConfirm, route.StateEstablished))
	addPath := ann(60, peerB, "10.0.0.0/8", awsW2, 2914, 16509)
	addPath.PathID = 2
	mustApply(t, s,
		ann(60, peerA, "192.0.2.0/24", awsW2, 3333, 16509),
		ann(60, peerB, "192.0.2.0/24", awsW2, 2914, 16509),
		ann(60, peerA, "192.0.3.0/24", awsW2, 3333, 16509),
		ann(60, peerB, "10.0.0.0/8", awsW2, 2914, 16509), addPath,
		ann(60, peerC, "2001:db8::/32", awsW2, 6939, 16509),
		ann(60, peerA, "198.51.100.0/24", awsW2, 3333, 16509),
		ann(60, peerB, "203.0.113.0/24", gcpE1, 2914, 15169),
		wd(61, peerA, "198.51.100.0/24"),
	)
	mustStates(t, s, state(70, peerA, route.StateEstablished, route.StateIdle))
	list := func(provider, region string, limit int) []PrefixVisibility {
		var out []PrefixVisibility
		cur := ""
		for {
			vs, next, err := s.GroupPrefixes(ctx, provider, region, Page{Cursor: cur, Limit: limit})
			if err != nil {
				t.Fatalf("GroupPrefixes: %v", err)
			}
			if limit > 0 && len(vs) > limit {
				t.Fatalf("page of %d, limit %d", len(vs), limit)
			}
			out = append(out, vs...)
			if next == "" {
				return out
			}
			cur = next
		}
	}
	pv := func(p string, peers, stale, paths int) PrefixVisibility {
		return PrefixVisibility{Prefix: netip.MustParsePrefix(p), Peers: peers, Stale: stale, Paths: paths}
	}
	// The withdrawn prefix is gone; peer A's paths are stale.
	want := []PrefixVisibility{
		pv("10.0.0.0/8", 1, 0, 2),
		pv("192.0.2.0/24", 1, 1, 2),
		pv("192.0.3.0/24", 0, 1, 1),
		pv("2001:db8::/32", 1, 0, 1),
	}
	for _, limit := range []int{0, 1, 3, 4} {
		if got := list("aws", "us-west-2", limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: %+v\nwant %+v", limit, got, want)
		}
	}
	if got := list("gcp", "us-east1", 0); !slices.Equal(got, []PrefixVisibility{pv("203.0.113.0/24", 1, 0, 1)}) {
		t.Errorf("gcp = %+v", got)
	}
	if vs, next, err := s.GroupPrefixes(ctx, "azure", "x", Page{}); err != nil || len(vs) != 0 || vs == nil || next != "" {
		t.Errorf("unknown group = %#v %q %v", vs, next, err)
	}
	// Re-tagging moves the prefix; re-announcing clears staleness.
	mustStates(t, s, state(80, peerA, route.StateOpenConfirm, route.StateEstablished))
	mustApply(t, s, ann(90, peerC, "2001:db8::/32", gcpE1, 6939, 15169), ann(90, peerA, "192.0.3.0/24", nil, 3333, 16509))
	want = []PrefixVisibility{pv("10.0.0.0/8", 1, 0, 2), pv("192.0.2.0/24", 1, 1, 2), pv("192.0.3.0/24", 1, 0, 1)}
	if got := list("aws", "us-west-2", 2); !slices.Equal(got, want) {
		t.Errorf("after re-tag: %+v\nwant %+v", got, want)
	}
	for _, c := range []string{"garbage!", encodeCursor("a1", prefixKey(netip.MustParsePrefix("10.0.0.0/8"))), encodeCursor("g1", "x")} {
		if _, _, err := s.GroupPrefixes(ctx, "aws", "us-west-2", Page{Cursor: c}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v", c, err)
		}
	}
}
