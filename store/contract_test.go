package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"routewatch/route"
)

// backend builds an empty store with the given retention; each backend
// test file registers one and runs contractSuite against it.
type backend func(t *testing.T, ret Retention) Store

var t0 = time.Date(2021, 12, 15, 15, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

var (
	peerA = route.Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 3333}
	peerB = route.Peer{Addr: netip.MustParseAddr("198.51.100.2"), ASN: 2914}
	peerC = route.Peer{Addr: netip.MustParseAddr("2001:db8::3"), ASN: 6939}
	awsW2 = []route.Tag{{Provider: "aws", Region: "us-west-2", Service: "EC2", Match: route.MatchEqual}}
	gcpE1 = []route.Tag{{Provider: "gcp", Region: "us-east1", Match: route.MatchEqual}}
)

func path(asns ...uint32) *route.Attrs {
	return &route.Attrs{
		ASPath:      route.ASPath{{Type: route.ASSequence, ASNs: asns}},
		NextHop:     netip.MustParseAddr("198.51.100.254"),
		Communities: []route.Community{65000<<16 | 1},
	}
}

func ann(sec int, p route.Peer, pfx string, tags []route.Tag, asns ...uint32) route.Update {
	return route.Update{Time: at(sec), Source: "test", Peer: p, Prefix: netip.MustParsePrefix(pfx), Attrs: path(asns...), Tags: tags}
}

func wd(sec int, p route.Peer, pfx string) route.Update {
	return route.Update{Time: at(sec), Source: "test", Peer: p, Prefix: netip.MustParsePrefix(pfx), Withdraw: true}
}

func state(sec int, p route.Peer, old, nw route.SessionState) route.PeerState {
	return route.PeerState{Time: at(sec), Source: "test", Peer: p, Old: old, New: nw}
}

func mustApply(t *testing.T, s Store, ups ...route.Update) {
	t.Helper()
	if err := s.ApplyUpdates(context.Background(), ups); err != nil {
		t.Fatalf("ApplyUpdates: %v", err)
	}
}

func mustStates(t *testing.T, s Store, sts ...route.PeerState) {
	t.Helper()
	if err := s.ApplyPeerStates(context.Background(), sts); err != nil {
		t.Fatalf("ApplyPeerStates: %v", err)
	}
}

func routesOf(t *testing.T, s Store, pfx string, m Match) []PrefixRoutes {
	t.Helper()
	rs, err := s.Routes(context.Background(), netip.MustParsePrefix(pfx), m)
	if err != nil {
		t.Fatalf("Routes(%s): %v", pfx, err)
	}
	return rs
}

func prefixesOf(rs []PrefixRoutes) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Prefix.String())
	}
	return out
}

func history(t *testing.T, s Store, pfx string) []HistoryEntry {
	t.Helper()
	var all []HistoryEntry
	cur := ""
	for {
		hs, next, err := s.History(context.Background(), netip.MustParsePrefix(pfx), Page{Cursor: cur, Limit: 2})
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		all = append(all, hs...)
		if next == "" {
			return all
		}
		cur = next
	}
}

func contractSuite(t *testing.T, mk backend) {
	ctx := context.Background()
	tests := []struct {
		name string
		ret  Retention
		run  func(t *testing.T, s Store)
	}{
		{name: "announce change withdraw and idempotent reapply", run: func(t *testing.T, s Store) {
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
		}},
		{name: "add-path ids are separate paths", run: func(t *testing.T, s Store) {
			u1 := ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509)
			u2 := u1
			u2.PathID = 7
			u2.Attrs = path(3333, 174, 16509)
			mustApply(t, s, u1, u2)
			rs := routesOf(t, s, "192.0.2.0/24", MatchExact)
			if len(rs) != 1 || len(rs[0].Routes) != 2 || rs[0].Routes[0].PathID != 0 || rs[0].Routes[1].PathID != 7 {
				t.Fatalf("routes = %+v", rs)
			}
		}},
		{name: "covering and covered lookups", run: func(t *testing.T, s Store) {
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
		}},
		{name: "routes page", run: func(t *testing.T, s Store) {
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
		}},
		{name: "routes at a past time", run: func(t *testing.T, s Store) {
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
		}},
		{name: "history bounded by count", ret: Retention{HistoryCount: 3}, run: func(t *testing.T, s Store) {
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
		}},
		{name: "history bounded by age", ret: Retention{HistoryAge: time.Minute}, run: func(t *testing.T, s Store) {
			mustApply(t, s, ann(0, peerA, "192.0.2.0/24", awsW2, 3333, 1, 16509))
			mustApply(t, s, ann(30, peerA, "192.0.2.0/24", awsW2, 3333, 2, 16509))
			mustApply(t, s, ann(100, peerA, "192.0.2.0/24", awsW2, 3333, 3, 16509))
			h := history(t, s, "192.0.2.0/24")
			if len(h) != 1 || !h[0].Time.Equal(at(100)) {
				t.Fatalf("history = %+v", h)
			}
		}},
		{name: "history cursor", run: func(t *testing.T, s Store) {
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
		}},
		{name: "prefixes by asn", run: func(t *testing.T, s Store) {
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
		}},
		{name: "peer sessions and staleness", run: func(t *testing.T, s Store) {
			mustStates(t, s, state(0, peerA, route.StateOpenConfirm, route.StateEstablished))
			mustApply(t, s, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509), ann(1, peerA, "192.0.3.0/24", awsW2, 3333, 16509))
			mustApply(t, s, ann(1, peerB, "192.0.2.0/24", awsW2, 2914, 16509))
			down := state(10, peerA, route.StateEstablished, route.StateIdle)
			down.Peer.ASN = 0 // dynamic peers report Idle without an ASN
			mustStates(t, s, down, down)
			stale := func(pfx string) map[route.Peer]bool {
				out := map[route.Peer]bool{}
				for _, pr := range routesOf(t, s, pfx, MatchExact) {
					for _, r := range pr.Routes {
						out[r.Peer] = r.Stale
					}
				}
				return out
			}
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
			sh, err := s.SessionHistory(ctx, peerA.Addr, 0)
			if err != nil || len(sh) != 3 || sh[0].New != route.StateEstablished || !sh[0].Time.Equal(at(20)) ||
				sh[1].New != route.StateIdle || sh[1].Peer.ASN != 0 || !sh[2].Time.Equal(at(0)) {
				t.Errorf("session history = %+v %v", sh, err)
			}
			if sh, err := s.SessionHistory(ctx, peerA.Addr, 1); err != nil || len(sh) != 1 {
				t.Errorf("session history limit 1 = %+v %v", sh, err)
			}
			if sh, err := s.SessionHistory(ctx, peerC.Addr, 0); err != nil || len(sh) != 0 {
				t.Errorf("unknown peer session history = %+v %v", sh, err)
			}
		}},
		{name: "versions follow every change", run: func(t *testing.T, s Store) {
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
		}},
		{name: "same-second flap redelivered", run: func(t *testing.T, s Store) {
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
		}},
		{name: "group summaries", run: func(t *testing.T, s Store) {
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
		}},
		{name: "group prefixes", run: func(t *testing.T, s Store) {
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
		}},
		{name: "events", ret: Retention{ResolvedEvents: 3}, run: func(t *testing.T, s Store) {
			end := func(sec int) *time.Time { e := at(sec); return &e }
			evs := []route.Event{
				{ID: "e1", Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2", Start: at(10), End: end(50)},
				{ID: "e2", Kind: route.KindWithdrawal, Provider: "aws", Region: "us-east-1", Start: at(20)},
				{ID: "e3", Kind: route.KindPeerDown, Start: at(20), AffectedPeers: []route.Peer{peerA}},
				{ID: "e0", Kind: route.KindPathShift, Provider: "gcp", Region: "us-east1", Start: at(20), End: end(40),
					SamplePrefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Transitions: []route.Transition{{FromUpstream: 1, ToUpstream: 2, Prefixes: 3}}},
				{ID: "e4", Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2", Start: at(30)},
			}
			if err := s.PutEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			ids := func(f EventFilter) []string {
				var out []string
				for {
					es, next, err := s.Events(ctx, f)
					if err != nil {
						t.Fatalf("Events: %v", err)
					}
					for _, e := range es {
						out = append(out, e.ID)
					}
					if next == "" {
						return out
					}
					f.Page.Cursor = next
				}
			}
			tests := []struct {
				name string
				f    EventFilter
				want []string
			}{
				{"all", EventFilter{}, []string{"e1", "e0", "e2", "e3", "e4"}},
				{"paged", EventFilter{Page: Page{Limit: 2}}, []string{"e1", "e0", "e2", "e3", "e4"}},
				{"provider", EventFilter{Provider: "aws"}, []string{"e1", "e2", "e4"}},
				{"provider region", EventFilter{Provider: "aws", Region: "us-west-2", Page: Page{Limit: 1}}, []string{"e1", "e4"}},
				{"region", EventFilter{Region: "us-east1"}, []string{"e0"}},
				{"kind", EventFilter{Kind: route.KindPathShift}, []string{"e1", "e0", "e4"}},
				{"open", EventFilter{Status: StatusOpen}, []string{"e2", "e3", "e4"}},
				{"resolved", EventFilter{Status: StatusResolved}, []string{"e1", "e0"}},
				{"time", EventFilter{From: at(20), To: at(30)}, []string{"e0", "e2", "e3"}},
				{"time paged", EventFilter{From: at(20), To: at(30), Page: Page{Limit: 1}}, []string{"e0", "e2", "e3"}},
				{"kind status paged", EventFilter{Kind: route.KindPathShift, Status: StatusOpen, Page: Page{Limit: 1}}, []string{"e4"}},
				{"from", EventFilter{From: at(25)}, []string{"e4"}},
				{"to", EventFilter{To: at(20)}, []string{"e1"}},
				{"region paged", EventFilter{Region: "us-west-2", Page: Page{Limit: 1}}, []string{"e1", "e4"}},
				{"none", EventFilter{Provider: "oracle"}, nil},
			}
			for _, tt := range tests {
				if got := ids(tt.f); !slices.Equal(got, tt.want) {
					t.Errorf("%s: %v want %v", tt.name, got, tt.want)
				}
			}
			e0, err := s.Event(ctx, "e0")
			if err != nil || e0.End == nil || !e0.End.Equal(at(40)) || len(e0.SamplePrefixes) != 1 || len(e0.Transitions) != 1 || !e0.Start.Equal(at(20)) {
				t.Errorf("Event(e0) = %+v %v", e0, err)
			}
			if _, err := s.Event(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("missing event: %v", err)
			}
			// Resolving replaces in place and moves between status indexes.
			e4 := evs[4]
			e4.End = end(60)
			e4.Prefixes = 9
			if err := s.PutEvents(ctx, []route.Event{e4}); err != nil {
				t.Fatal(err)
			}
			if got := ids(EventFilter{Status: StatusOpen}); !slices.Equal(got, []string{"e2", "e3"}) {
				t.Errorf("open after resolve: %v", got)
			}
			// A fourth resolved event evicts the oldest resolved one (cap 3).
			e2 := evs[1]
			e2.End = end(70)
			if err := s.PutEvents(ctx, []route.Event{e2}); err != nil {
				t.Fatal(err)
			}
			if got := ids(EventFilter{}); !slices.Equal(got, []string{"e0", "e2", "e3", "e4"}) {
				t.Errorf("after cap: %v", got)
			}
			// Replacing an event with another start moves it in the order.
			e3 := evs[2]
			e3.Start = at(5)
			if err := s.PutEvents(ctx, []route.Event{e3}); err != nil {
				t.Fatal(err)
			}
			if got := ids(EventFilter{Page: Page{Limit: 1}}); !slices.Equal(got, []string{"e3", "e0", "e2", "e4"}) {
				t.Errorf("after moving e3: %v", got)
			}
			if got := ids(EventFilter{Kind: route.KindPeerDown, From: at(1), To: at(6)}); !slices.Equal(got, []string{"e3"}) {
				t.Errorf("moved e3 by kind and time: %v", got)
			}
			for _, bad := range []string{"%%%", encodeCursor("e1", "nonsense"), encodeCursor("h1", "1")} {
				if _, _, err := s.Events(ctx, EventFilter{Page: Page{Cursor: bad}}); !errors.Is(err, ErrBadCursor) {
					t.Errorf("cursor %q: %v", bad, err)
				}
			}
		}},
		{name: "outbox", ret: Retention{FinishedDeliveries: 10}, run: func(t *testing.T, s Store) {
			d := func(id string, sec int) Delivery {
				return Delivery{ID: id, Sink: "slack", EventID: "e1", Payload: []byte(`{"x":1}`), Created: at(0), NextAttempt: at(sec)}
			}
			if err := s.Enqueue(ctx, []Delivery{d("a", 10), d("b", 5), d("c", 100)}); err != nil {
				t.Fatal(err)
			}
			dup := d("a", 0)
			dup.Payload = []byte("changed")
			if err := s.Enqueue(ctx, []Delivery{dup}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Due(ctx, at(50), time.Minute, 10)
			if err != nil || len(got) != 2 || got[0].ID != "b" || got[1].ID != "a" || string(got[1].Payload) != `{"x":1}` {
				t.Fatalf("due = %+v %v", got, err)
			}
			if !got[1].NextAttempt.Equal(at(10)) || got[1].Sink != "slack" || !got[1].Created.Equal(at(0)) {
				t.Errorf("delivery = %+v", got[1])
			}
			// Leased: a second worker gets nothing until the lease ends.
			if again, _ := s.Due(ctx, at(51), time.Minute, 10); len(again) != 0 {
				t.Errorf("leased deliveries handed out twice: %+v", again)
			}
			// After the lease: ordered by when each became due again.
			if again, _ := s.Due(ctx, at(111), time.Minute, 10); len(again) != 3 || again[0].ID != "c" || again[1].ID != "a" || again[2].ID != "b" {
				t.Errorf("after lease expiry: %+v", again)
			}
			a := got[1]
			a.Attempts, a.NextAttempt, a.LastError = 1, at(200), "HTTP 500"
			if err := s.Reschedule(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := s.Finish(ctx, "b", Delivered, at(120)); err != nil {
				t.Fatal(err)
			}
			if err := s.Enqueue(ctx, []Delivery{d("b", 0)}); err != nil {
				t.Fatal(err)
			}
			got, _ = s.Due(ctx, at(300), time.Minute, 10)
			if len(got) != 2 || got[0].ID != "c" || got[1].ID != "a" || got[1].Attempts != 1 || got[1].LastError != "HTTP 500" {
				t.Errorf("due after reschedule/finish = %+v", got)
			}
			if err := s.Reschedule(ctx, d("zz", 1)); !errors.Is(err, ErrNotFound) {
				t.Errorf("reschedule unknown: %v", err)
			}
			if err := s.Finish(ctx, "zz", GaveUp, at(1)); !errors.Is(err, ErrNotFound) {
				t.Errorf("finish unknown: %v", err)
			}
		}},
		{name: "outbox lease is exclusive under concurrency", run: func(t *testing.T, s Store) {
			var ds []Delivery
			for i := 0; i < 50; i++ {
				ds = append(ds, Delivery{ID: fmt.Sprintf("d%02d", i), Sink: "x", NextAttempt: at(0)})
			}
			if err := s.Enqueue(ctx, ds); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Go(func() {
					for {
						got, err := s.Due(ctx, at(1), time.Hour, 3)
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, d := range got {
							seen[d.ID]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(seen) != 50 {
				t.Errorf("saw %d deliveries want 50", len(seen))
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("%s handed out %d times", id, n)
				}
			}
		}},
		{name: "concurrent writers", run: func(t *testing.T, s Store) {
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
		}},
		{name: "bad input is an error", run: func(t *testing.T, s Store) {
			bad := []route.Update{
				{Time: at(1), Peer: peerA, Attrs: path(1)},
				{Time: at(1), Prefix: netip.MustParsePrefix("192.0.2.0/24"), Attrs: path(1)},
				{Time: at(1), Peer: peerA, Prefix: netip.MustParsePrefix("192.0.2.0/24")},
			}
			for i, u := range bad {
				if err := s.ApplyUpdates(ctx, []route.Update{u}); !errors.Is(err, ErrInvalid) {
					t.Errorf("bad update %d: err = %v want ErrInvalid", i, err)
				}
			}
			if _, err := s.Routes(ctx, netip.Prefix{}, MatchExact); !errors.Is(err, ErrInvalid) {
				t.Errorf("invalid prefix: %v", err)
			}
			if err := s.PutEvents(ctx, []route.Event{{}}); !errors.Is(err, ErrInvalid) {
				t.Errorf("event without id: %v", err)
			}
			if err := s.Enqueue(ctx, []Delivery{{}}); !errors.Is(err, ErrInvalid) {
				t.Errorf("delivery without id: %v", err)
			}
			if err := s.ApplyPeerStates(ctx, []route.PeerState{{}}); !errors.Is(err, ErrInvalid) {
				t.Errorf("state without peer: %v", err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, mk(t, tt.ret))
		})
	}
}

func TestMemoryContract(t *testing.T) {
	contractSuite(t, func(t *testing.T, ret Retention) Store {
		s := NewMemory(MemoryConfig{Retention: ret})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
