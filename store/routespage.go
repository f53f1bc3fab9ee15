package store

import (
	"context"
	"fmt"
	"net/netip"
)

// routesCursor is where a RoutesPage listing resumes: after this prefix.
func routesCursor(p netip.Prefix) string { return cursorRoutes.next(p.String()) }

// parseRoutesCursor decodes a RoutesPage cursor of the listing for p with
// match m; the zero prefix means "from the start".
func parseRoutesCursor(c string, p netip.Prefix, m Match) (netip.Prefix, error) {
	pos, err := cursorRoutes.parse(c, func(pos string) bool {
		q, err := netip.ParsePrefix(pos)
		return err == nil && q == q.Masked() && q.Addr().Is4() == p.Addr().Is4()
	})
	if err != nil || pos == "" {
		return netip.Prefix{}, err
	}
	q := netip.MustParsePrefix(pos)
	// A covered listing resumes inside p: the seek walks down from p.
	if m == MatchCovered && (q.Bits() < p.Bits() || !p.Contains(q.Addr())) {
		return netip.Prefix{}, ErrBadCursor
	}
	return q, nil
}

// comparePrefixes orders prefixes by address, then length: the order of
// prefixKey within a family and bart's natural CIDR order.
func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// pageSorted cuts one page after the cursor prefix out of an ordered
// listing (exact and covering lookups: at most 33/129 entries).
func pageSorted(all []PrefixRoutes, after netip.Prefix, limit int) ([]PrefixRoutes, string) {
	start := 0
	if after.IsValid() {
		for start < len(all) && comparePrefixes(all[start].Prefix, after) <= 0 {
			start++
		}
	}
	all = all[start:]
	if len(all) > limit {
		return all[:limit], routesCursor(all[limit-1].Prefix)
	}
	return all, ""
}

// addrBit reports bit i (0 = most significant) of a.
func addrBit(a netip.Addr, i int) bool {
	b := a.AsSlice()
	return b[i/8]>>(7-i%8)&1 == 1
}

// withBit returns a with bit i set.
func withBit(a netip.Addr, i int) netip.Addr {
	b := a.AsSlice()
	b[i/8] |= 1 << (7 - i%8)
	out, _ := netip.AddrFromSlice(b)
	return out
}

// coveredAfter lists, in CIDR order, the roots whose subtrees hold every
// prefix inside p that sorts after q (q inside p): q's own subtree (q
// itself excluded by the caller), then the right-hand siblings of q's
// ancestors from the deepest up to p's children. It lets a covered page
// resume with a few tree seeks instead of a walk from the start.
func coveredAfter(p, q netip.Prefix) []netip.Prefix {
	roots := []netip.Prefix{q}
	for b := q.Bits(); b > p.Bits(); b-- {
		anc, _ := q.Addr().Prefix(b)
		if !addrBit(anc.Addr(), b-1) {
			roots = append(roots, netip.PrefixFrom(withBit(anc.Addr(), b-1), b))
		}
	}
	return roots
}

// routesPage is the part of RoutesPage both backends share: it checks the
// call and answers exact and covering lookups (a handful of prefixes) by
// paging what routes returns. covered is false when the caller must page a
// covered lookup itself, from after with limit.
func routesPage(ctx context.Context, routes func(context.Context, netip.Prefix, Match) ([]PrefixRoutes, error),
	p netip.Prefix, m Match, pg Page) (out []PrefixRoutes, next string, q coveredQuery, err error) {
	if !p.IsValid() {
		return nil, "", q, fmt.Errorf("store: routes page: %w prefix", ErrInvalid)
	}
	p = p.Masked()
	after, err := parseRoutesCursor(pg.Cursor, p, m)
	if err != nil {
		return nil, "", q, err
	}
	q = coveredQuery{prefix: p, after: after, limit: clampLimit(pg.Limit)}
	if m != MatchCovered {
		all, err := routes(ctx, p, m)
		if err != nil {
			return nil, "", q, err
		}
		out, next = pageSorted(all, after, q.limit)
		return out, next, q, nil
	}
	q.covered = true
	return nil, "", q, nil
}

// coveredQuery is a checked covered-lookup page request.
type coveredQuery struct {
	covered bool
	prefix  netip.Prefix
	after   netip.Prefix // zero: from the start
	limit   int
}
