package store

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"routewatch/route"
)

// FuzzRoutesPage: any cursor on any covered/covering listing is either
// ErrBadCursor or a page of prefixes inside the listing, in order, that
// resumes after the cursor.
func FuzzRoutesPage(f *testing.F) {
	f.Add("10.0.0.0/8", uint8(MatchCovered), routesCursor(netip.MustParsePrefix("10.1.0.0/16")), 2)
	f.Add("0.0.0.0/0", uint8(MatchCovered), routesCursor(netip.MustParsePrefix("10.255.255.0/24")), 1)
	f.Add("10.1.2.0/24", uint8(MatchCovering), routesCursor(netip.MustParsePrefix("10.0.0.0/8")), 1)
	f.Add("::/0", uint8(MatchCovered), routesCursor(netip.MustParsePrefix("2001:db8::/32")), 5)
	f.Add("10.0.0.0/8", uint8(MatchCovered), encodeCursor("r1", "10.0.0.1/8"), 3)
	m := NewMemory(MemoryConfig{})
	var ups []route.Update
	for _, p := range []string{"10.0.0.0/8", "10.0.0.0/16", "10.1.0.0/16", "10.1.2.0/24", "10.128.0.0/9", "10.255.255.0/24",
		"11.0.0.0/8", "2001:db8::/32", "2001:db8:1::/48"} {
		ups = append(ups, ann(1, peerA, p, awsW2, 3333, 16509))
	}
	if err := m.ApplyUpdates(context.Background(), ups); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, prefix string, match uint8, cursor string, limit int) {
		p, err := netip.ParsePrefix(prefix)
		if err != nil || match > uint8(MatchCovered) {
			return
		}
		mt := Match(match)
		rs, next, err := m.RoutesPage(t.Context(), p, mt, Page{Cursor: cursor, Limit: limit})
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("error is not ErrBadCursor: %v", err)
			}
			return
		}
		all, err := m.Routes(t.Context(), p, mt)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := parseRoutesCursor(cursor, p.Masked(), mt)
		var want []string
		for _, pr := range all {
			if !after.IsValid() || comparePrefixes(pr.Prefix, after) > 0 {
				want = append(want, pr.Prefix.String())
			}
		}
		got := prefixesOf(rs)
		if len(got) > clampLimit(limit) || !slices.Equal(got, want[:len(got)]) || (next == "") != (len(got) == len(want)) {
			t.Fatalf("RoutesPage(%s, %d, after %s, %d) = %v next %q; want a prefix of %v", p, mt, after, limit, got, next, want)
		}
	})
}
