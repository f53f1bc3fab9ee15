package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"routewatch/route"
)

// contractAnnounceChangeWithdrawAndIdempotentReapply: announce change withdraw and idempotent reapply.
func contractAnnounceChangeWithdrawAndIdempotentReapply(t *testing.T, s Store) {
	u1 := ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 3356, 16509)
	mustApply(t, s, u1)
	mustApply(t, s, u1) // redelivered: not a change
	u2 := ann(2, peerA, "192.0.2.0/24", nil, 3333, 2914, 16509)
	mustApply(t, s, u2, u2)
	rs := routesOf(t, s, "192.0.2.0/24", MatchExact)
	if len(rs) != 1 || len(rs[0].Routes) != 1 {
		t.Fatalf("routes = %+v", rs)
	}
	r := rs[0].Routes[0]
	if r.Peer != peerA || !r.Attrs.Equal(u2.Attrs) || !r.Since.Equal(at(2)) || r.Stale {
		t.Errorf("route = %+v", r)
	}
	if !slices.Equal(rs[0].Tags, awsW2) {
		t.Errorf("tags = %+v, want kept from the first announcement", rs[0].Tags)
	}
	mustApply(t, s, wd(3, peerA, "192.0.2.0/24"), wd(3, peerA, "192.0.2.0/24"))
	if rs := routesOf(t, s, "192.0.2.0/24", MatchExact); len(rs) != 0 {
		t.Errorf("after withdrawal routes = %+v", rs)
	}
	h := history(t, s, "192.0.2.0/24")
	if len(h) != 3 {
		t.Fatalf("history has %d entries, want 3: %+v", len(h), h)
	}
	if h[0].New != nil || !h[0].Old.Equal(u2.Attrs) || !h[0].Time.Equal(at(3)) {
		t.Errorf("newest = %+v", h[0])
	}
	if !h[1].Old.Equal(u1.Attrs) || !h[1].New.Equal(u2.Attrs) {
		t.Errorf("middle = %+v", h[1])
	}
	if h[2].Old != nil || !h[2].New.Equal(u1.Attrs) || h[2].Peer != peerA || h[2].Prefix.String() != "192.0.2.0/24" {
		t.Errorf("oldest = %+v", h[2])
	}
}

// contractAddPathIdsAreSeparatePaths: add-path ids are separate paths.
func contractAddPathIdsAreSeparatePaths(t *testing.T, s Store) {
	u1 := ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509)
	u2 := u1
	u2.PathID = 7
	u2.Attrs = path(3333, 174, 16509)
	mustApply(t, s, u1, u2)
	rs := routesOf(t, s, "192.0.2.0/24", MatchExact)
	if len(rs) != 1 || len(rs[0].Routes) != 2 || rs[0].Routes[0].PathID != 0 || rs[0].Routes[1].PathID != 7 {
		t.Fatalf("routes = %+v", rs)
	}
}

// contractCoveringAndCoveredLookups: covering and covered lookups.
func contractCoveringAndCoveredLookups(t *testing.T, s Store) {
	mustApply(t, s,
		ann(1, peerA, "10.0.0.0/8", awsW2, 3333, 16509),
		ann(1, peerA, "10.1.0.0/16", awsW2, 3333, 16509),
		ann(1, peerB, "10.1.2.0/24", awsW2, 2914, 16509),
		ann(1, peerB, "10.2.0.0/16", awsW2, 2914, 16509),
		ann(1, peerB, "11.0.0.0/8", awsW2, 2914, 16509),
		ann(1, peerC, "2001:db8::/32", gcpE1, 6939, 15169),
		ann(1, peerC, "2001:db8:1::/48", gcpE1, 6939, 15169),
		ann(1, peerC, "2001:db9::/32", gcpE1, 6939, 15169),
	)
	tests := []struct {
		q    string
		m    Match
		want []string
	}{
		{"10.1.2.0/24", MatchExact, []string{"10.1.2.0/24"}},
		{"10.1.3.0/24", MatchExact, []string{}},
		{"10.1.2.0/24", MatchCovering, []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"}},
		{"10.1.2.128/25", MatchCovering, []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"}},
		{"10.0.0.0/8", MatchCovered, []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.2.0.0/16"}},
		{"10.1.0.0/16", MatchCovered, []string{"10.1.0.0/16", "10.1.2.0/24"}},
		{"0.0.0.0/0", MatchCovered, []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.2.0.0/16", "11.0.0.0/8"}},
		{"2001:db8:1:2::/64", MatchCovering, []string{"2001:db8::/32", "2001:db8:1::/48"}},
		{"2001:db8::/32", MatchCovered, []string{"2001:db8::/32", "2001:db8:1::/48"}},
		{"10.1.2.7/24", MatchExact, []string{"10.1.2.0/24"}}, // unmasked input
	}
	for _, tt := range tests {
		if got := prefixesOf(routesOf(t, s, tt.q, tt.m)); !slices.Equal(got, tt.want) {
			t.Errorf("Routes(%s, %d) = %v want %v", tt.q, tt.m, got, tt.want)
		}
	}
	mustApply(t, s, wd(2, peerA, "10.1.0.0/16"))
	if got := prefixesOf(routesOf(t, s, "10.1.2.0/24", MatchCovering)); !slices.Equal(got, []string{"10.0.0.0/8", "10.1.2.0/24"}) {
		t.Errorf("after withdrawal covering = %v", got)
	}
}

// contractRoutesPage: routes page.
func contractRoutesPage(t *testing.T, s Store) {
	ctx := context.Background()
	var ups []route.Update
	for i, p := range []string{"9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16", "10.0.0.0/24", "10.0.1.0/24", "10.0.128.0/17",
		"10.1.0.0/16", "10.1.0.0/24", "10.128.0.0/9", "10.255.255.0/24", "11.0.0.0/8", "2001:db8::/32", "2001:db8:8000::/33"} {
		ups = append(ups, ann(1, []route.Peer{peerA, peerB}[i%2], p, awsW2, 3333, 16509))
	}
	mustApply(t, s, ups...)
	pageAll := func(q string, m Match, limit int) []string {
		var out []string
		pg := Page{Limit: limit}
		for n := 0; ; n++ {
			rs, next, err := s.RoutesPage(ctx, netip.MustParsePrefix(q), m, pg)
			if err != nil {
				t.Fatalf("RoutesPage(%s, %d, %+v): %v", q, m, pg, err)
			}
			if len(rs) > limit || n > 20 {
				t.Fatalf("RoutesPage(%s, %d, %+v): %d entries", q, m, pg, len(rs))
			}
			out = append(out, prefixesOf(rs)...)
			if next == "" {
				return out
			}
			pg.Cursor = next
		}
	}
	for _, q := range []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.0/15", "12.0.0.0/8", "::/0", "2001:db8::/32"} {
		for _, m := range []Match{MatchExact, MatchCovering, MatchCovered} {
			want := prefixesOf(routesOf(t, s, q, m))
			for _, limit := range []int{1, 2, 3, 5, 100} {
				if got := pageAll(q, m, limit); !slices.Equal(got, want) && len(got)+len(want) > 0 {
					t.Errorf("RoutesPage(%s, %d) limit %d = %v want %v", q, m, limit, got, want)
				}
			}
		}
	}
	q := netip.MustParsePrefix("10.0.0.0/8")
	for _, bad := range []string{"%%%", encodeCursor("r1", "nonsense"), encodeCursor("e1", "10.0.0.0/8"),
		encodeCursor("r1", "10.0.0.1/8"), encodeCursor("r1", "2001:db8::/32"), encodeCursor("r1", "11.0.0.0/8")} {
		if _, _, err := s.RoutesPage(ctx, q, MatchCovered, Page{Cursor: bad}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
	if _, _, err := s.RoutesPage(ctx, netip.Prefix{}, MatchCovered, Page{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid prefix: %v", err)
	}
}

// contractRoutesAtAPastTime: routes at a past time.
func contractRoutesAtAPastTime(t *testing.T, s Store) {
	ctx := context.Background()
	mustApply(t, s,
		ann(10, peerA, "192.0.2.0/24", awsW2, 3333, 3356, 16509),
		ann(11, peerB, "192.0.2.0/24", awsW2, 2914, 16509),
		ann(20, peerA, "192.0.2.0/24", nil, 3333, 174, 16509),
		wd(30, peerB, "192.0.2.0/24"),
	)
	p := netip.MustParsePrefix("192.0.2.0/24")
	tests := []struct {
		sec   int
		want  map[route.Peer]uint32 // peer -> upstream
		since map[route.Peer]int
	}{
		{5, map[route.Peer]uint32{}, nil},
		{10, map[route.Peer]uint32{peerA: 3356}, map[route.Peer]int{peerA: 10}},
		{15, map[route.Peer]uint32{peerA: 3356, peerB: 2914}, map[route.Peer]int{peerA: 10, peerB: 11}},
		{25, map[route.Peer]uint32{peerA: 174, peerB: 2914}, map[route.Peer]int{peerA: 20, peerB: 11}},
		{35, map[route.Peer]uint32{peerA: 174}, map[route.Peer]int{peerA: 20}},
	}
	for _, tt := range tests {
		pr, err := s.RoutesAt(ctx, p, at(tt.sec))
		if err != nil {
			t.Fatalf("RoutesAt(%d): %v", tt.sec, err)
		}
		got := map[route.Peer]uint32{}
		for _, r := range pr.Routes {
			got[r.Peer], _ = r.Attrs.ASPath.Upstream()
			if want, ok := tt.since[r.Peer]; ok && !r.Since.Equal(at(want)) {
				t.Errorf("RoutesAt(%d) %v since %v want %v", tt.sec, r.Peer, r.Since, at(want))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("RoutesAt(%d) = %v want %v", tt.sec, got, tt.want)
		}
	}
	if _, err := s.RoutesAt(ctx, netip.MustParsePrefix("203.0.113.0/24"), at(5)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown prefix: err = %v want ErrNotFound", err)
	}
}

// contractHistoryBoundedByCount: history bounded by count.
func contractHistoryBoundedByCount(t *testing.T, s Store) {
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		mustApply(t, s, ann(i, peerA, "192.0.2.0/24", awsW2, 3333, uint32(100+i), 16509))
	}
	h := history(t, s, "192.0.2.0/24")
	if len(h) != 3 || !h[0].Time.Equal(at(5)) || !h[2].Time.Equal(at(3)) {
		t.Fatalf("history = %+v", h)
	}
	p := netip.MustParsePrefix("192.0.2.0/24")
	if _, err := s.RoutesAt(ctx, p, at(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("RoutesAt before horizon: err = %v want ErrNotFound", err)
	}
	pr, err := s.RoutesAt(ctx, p, at(3))
	if err != nil || len(pr.Routes) != 1 {
		t.Fatalf("RoutesAt(3) = %+v, %v", pr, err)
	}
	if up, _ := pr.Routes[0].Attrs.ASPath.Upstream(); up != 103 {
		t.Errorf("RoutesAt(3) upstream %d want 103", up)
	}
}

// contractHistoryBoundedByAge: history bounded by age.
func contractHistoryBoundedByAge(t *testing.T, s Store) {
	mustApply(t, s, ann(0, peerA, "192.0.2.0/24", awsW2, 3333, 1, 16509))
	mustApply(t, s, ann(30, peerA, "192.0.2.0/24", awsW2, 3333, 2, 16509))
	mustApply(t, s, ann(100, peerA, "192.0.2.0/24", awsW2, 3333, 3, 16509))
	h := history(t, s, "192.0.2.0/24")
	if len(h) != 1 || !h[0].Time.Equal(at(100)) {
		t.Fatalf("history = %+v", h)
	}
}

// contractHistoryCursor: history cursor.
func contractHistoryCursor(t *testing.T, s Store) {
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		mustApply(t, s, ann(i, peerA, "192.0.2.0/24", awsW2, 3333, uint32(100+i), 16509))
	}
	p := netip.MustParsePrefix("192.0.2.0/24")
	hs, next, err := s.History(ctx, p, Page{Limit: 2})
	if err != nil || len(hs) != 2 || next == "" {
		t.Fatalf("page 1 = %d %q %v", len(hs), next, err)
	}
	// New changes do not shift an existing cursor.
	mustApply(t, s, ann(9, peerA, "192.0.2.0/24", awsW2, 3333, 999, 16509))
	hs, _, err = s.History(ctx, p, Page{Cursor: next, Limit: 2})
	if err != nil || len(hs) != 2 || !hs[0].Time.Equal(at(2)) {
		t.Fatalf("page 2 = %+v %v", hs, err)
	}
	for _, bad := range []string{"!!", "Zm9v", encodeCursor("e1", "x"), encodeCursor("h1", "abc")} {
		if _, _, err := s.History(ctx, p, Page{Cursor: bad}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: err = %v want ErrBadCursor", bad, err)
		}
	}
	if hs, next, err := s.History(ctx, netip.MustParsePrefix("203.0.113.0/24"), Page{}); err != nil || len(hs) != 0 || next != "" {
		t.Errorf("unknown prefix history = %v %q %v", hs, next, err)
	}
}

// contractPrefixesByAsn: prefixes by asn.
func contractPrefixesByAsn(t *testing.T, s Store) {
	ctx := context.Background()
	mustApply(t, s,
		ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 3356, 16509),
		ann(1, peerA, "10.0.0.0/8", awsW2, 3333, 3356, 16509),
		ann(1, peerB, "10.0.0.0/8", awsW2, 2914, 16509),
		ann(1, peerC, "2001:db8::/32", gcpE1, 6939, 3356, 15169),
		ann(1, peerA, "198.18.0.0/15", awsW2, 3333, 174, 16509),
	)
	list := func(asn uint32) []string {
		var out []string
		cur := ""
		for {
			ps, next, err := s.PrefixesByASN(ctx, asn, Page{Cursor: cur, Limit: 1})
			if err != nil {
				t.Fatalf("PrefixesByASN: %v", err)
			}
			for _, p := range ps {
				out = append(out, p.String())
			}
			if next == "" {
				return out
			}
			cur = next
		}
	}
	if got := list(3356); !slices.Equal(got, []string{"10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"}) {
		t.Errorf("3356 = %v", got)
	}
	// 10/8 keeps 16509 through peer B after peer A moves away from 3356.
	mustApply(t, s, ann(2, peerA, "10.0.0.0/8", nil, 3333, 174, 16509), wd(2, peerC, "2001:db8::/32"))
	if got := list(3356); !slices.Equal(got, []string{"192.0.2.0/24"}) {
		t.Errorf("3356 after change = %v", got)
	}
	if got := list(174); !slices.Equal(got, []string{"10.0.0.0/8", "198.18.0.0/15"}) {
		t.Errorf("174 = %v", got)
	}
	if got := list(64496); len(got) != 0 {
		t.Errorf("unknown asn = %v", got)
	}
	if _, _, err := s.PrefixesByASN(ctx, 3356, Page{Cursor: "garbage!"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

// contractVersionsFollowEveryChange: versions follow every change.
func contractVersionsFollowEveryChange(t *testing.T, s Store) {
	ctx := context.Background()
	// PrefixRoutes.Version lets readers reuse encoded answers, so
	// every change a lookup could show must change it, and a
	// lookup twice in a row must not.
	ver := func(pfx string) string {
		t.Helper()
		prs := routesOf(t, s, pfx, MatchExact)
		if len(prs) != 1 || prs[0].Version == "" {
			t.Fatalf("%s: %+v", pfx, prs)
		}
		// Ask once more: the second answer (a cache hit on Redis)
		// carries the same version.
		again := routesOf(t, s, pfx, MatchExact)
		if len(again) != 1 || again[0].Version != prs[0].Version {
			t.Fatalf("%s: version moved without a change: %q then %+v", pfx, prs[0].Version, again)
		}
		return prs[0].Version
	}
	awsE1 := []route.Tag{{Provider: "aws", Region: "us-east-1", Service: "EC2", Match: route.MatchEqual}}
	seen := map[string]string{}
	step := func(name, pfx string, change func()) {
		t.Helper()
		change()
		v := ver(pfx)
		if prev, dup := seen[v]; dup {
			t.Errorf("%s: version %q already seen after %s", name, v, prev)
		}
		seen[v] = name
	}
	step("first announcement", "192.0.2.0/24", func() { mustApply(t, s, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509)) })
	step("second peer", "192.0.2.0/24", func() { mustApply(t, s, ann(2, peerB, "192.0.2.0/24", awsW2, 2914, 16509)) })
	step("path change", "192.0.2.0/24", func() { mustApply(t, s, ann(3, peerA, "192.0.2.0/24", awsW2, 1299, 16509)) })
	step("tags", "192.0.2.0/24", func() { mustApply(t, s, ann(4, peerA, "192.0.2.0/24", awsE1, 1299, 16509)) })
	step("session established", "192.0.2.0/24", func() {
		mustStates(t, s, state(5, peerA, route.StateOpenConfirm, route.StateEstablished))
	})
	step("re-announcement in the new session", "192.0.2.0/24", func() { mustApply(t, s, ann(6, peerA, "192.0.2.0/24", nil, 1299, 16509)) })
	step("session down", "192.0.2.0/24", func() { mustStates(t, s, state(7, peerA, route.StateEstablished, route.StateIdle)) })
	step("withdrawal", "192.0.2.0/24", func() {
		w := ann(8, peerB, "192.0.2.0/24", nil)
		w.Withdraw, w.Attrs = true, nil
		mustApply(t, s, w)
	})
	// A prefix withdrawn completely and announced again must not
	// come back with a version it had before.
	step("announcement", "203.0.113.0/24", func() { mustApply(t, s, ann(9, peerB, "203.0.113.0/24", awsW2, 2914, 16509)) })
	w := ann(10, peerB, "203.0.113.0/24", nil)
	w.Withdraw, w.Attrs = true, nil
	mustApply(t, s, w)
	if prs := routesOf(t, s, "203.0.113.0/24", MatchExact); len(prs) != 0 {
		t.Fatalf("after withdrawal: %+v", prs)
	}
	step("announced again", "203.0.113.0/24", func() { mustApply(t, s, ann(11, peerB, "203.0.113.0/24", awsW2, 2914, 16509)) })

	// Events: the version moves with every put, and only then.
	ev := func() string {
		t.Helper()
		v, err := s.EventsVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	e := route.Event{ID: "e-versions", Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2", Start: at(1)}
	if err := s.PutEvents(ctx, []route.Event{e}); err != nil {
		t.Fatal(err)
	}
	v1 := ev()
	if v1 == "" || ev() != v1 {
		t.Fatalf("events version %q then %q", v1, ev())
	}
	e.Prefixes = 7
	if err := s.PutEvents(ctx, []route.Event{e}); err != nil {
		t.Fatal(err)
	}
	if v2 := ev(); v2 == v1 || v2 == "" {
		t.Errorf("events version did not change with a put: %q", v2)
	}
	got, _, err := s.Events(ctx, EventFilter{})
	if err != nil || len(got) != 1 || got[0].Prefixes != 7 {
		t.Errorf("events after the put: %+v %v", got, err)
	}
}

// contractConcurrentWriters: concurrent writers.
func contractConcurrentWriters(t *testing.T, s Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				u := ann(i, peerA, fmt.Sprintf("10.%d.%d.0/24", w, i), awsW2, 3333, 16509)
				if err := s.ApplyUpdates(ctx, []route.Update{u, u}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	peers, err := s.Peers(ctx)
	if err != nil || len(peers) != 1 || peers[0].Prefixes != 200 {
		t.Errorf("peers = %+v %v", peers, err)
	}
	if got := routesOf(t, s, "10.0.0.0/8", MatchCovered); len(got) != 200 {
		t.Errorf("covered = %d want 200", len(got))
	}
}
