package ranges

import (
	"cmp"
	"maps"
	"math"
	"net/netip"
	"slices"

	"routewatch/route"
)

// GroupSummary describes one provider/region group of a set.
type GroupSummary struct {
	Provider string `json:"provider"`
	Region   string `json:"region"`
	// Services is the number of distinct services tagged in the group.
	Services int `json:"services"`
	V4Ranges int `json:"v4_ranges"`
	V6Ranges int `json:"v6_ranges"`
	// V4Addresses counts IPv4 addresses of the union of the group's
	// ranges (overlaps counted once).
	V4Addresses uint64 `json:"v4_addresses"`
	// V6Slash48s is the IPv6 space of the union in /48s, the smallest
	// prefix generally routed on the Internet (fractional for longer
	// ranges).
	V6Slash48s float64 `json:"v6_slash48s"`
}

// Summary returns one row per provider/region, sorted, from the tags each
// range carries itself (region-less tags shadowed by regional ones, see
// NewSet, are not counted). A row with Region "" totals nothing: it is the
// provider's region-less ranges.
func (s *Set) Summary() []GroupSummary {
	return s.summarize(func(t route.Tag) route.Group { return t.Group() })
}

// ProviderSummary is Summary with one row per provider (Region ""), the
// union over all its regions.
func (s *Set) ProviderSummary() []GroupSummary {
	return s.summarize(func(t route.Tag) route.Group { return route.Group{Provider: t.Provider} })
}

func (s *Set) summarize(key func(route.Tag) route.Group) []GroupSummary {
	if s == nil {
		return nil
	}
	type acc struct {
		v4, v6   []netip.Prefix
		services map[string]struct{}
	}
	groups := map[route.Group]*acc{}
	for p, n := range s.table.All() {
		seen := map[route.Group]bool{}
		for _, t := range n.own() {
			g := key(t)
			a := groups[g]
			if a == nil {
				a = &acc{services: map[string]struct{}{}}
				groups[g] = a
			}
			a.services[t.Service] = struct{}{}
			if seen[g] {
				continue // one prefix counts once per group, whatever its services
			}
			seen[g] = true
			if p.Addr().Is4() {
				a.v4 = append(a.v4, p)
			} else {
				a.v6 = append(a.v6, p)
			}
		}
	}
	keys := slices.SortedFunc(maps.Keys(groups), func(a, b route.Group) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Region, b.Region))
	})
	out := make([]GroupSummary, 0, len(keys))
	for _, g := range keys {
		a := groups[g]
		out = append(out, GroupSummary{
			Provider:    g.Provider,
			Region:      g.Region,
			Services:    len(a.services),
			V4Ranges:    len(a.v4),
			V6Ranges:    len(a.v6),
			V4Addresses: uint64(unionSize(a.v4, 32)),
			V6Slash48s:  unionSize(a.v6, 48),
		})
	}
	return out
}

// unionSize returns the size of the union of prefixes in units of /unit
// prefixes. CIDR blocks are nested or disjoint, so after sorting by
// address (shorter first) a block is inside the union so far exactly when
// it is inside the last block kept.
func unionSize(ps []netip.Prefix, unit int) float64 {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	var total float64
	var last netip.Prefix
	for _, p := range ps {
		if last.IsValid() && last.Bits() <= p.Bits() && last.Contains(p.Addr()) {
			continue
		}
		last = p
		total += math.Ldexp(1, unit-p.Bits())
	}
	return total
}
