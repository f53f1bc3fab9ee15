package api

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"routewatch/route"
)

type edgeKey struct{ from, to uint32 }

type upKey struct{ from, to uint32 }

type upAcc struct {
	prefixes map[string]bool
	peers    map[route.Peer]bool
}

// pathEdges lists the AS adjacencies of a path, peer side first, with
// prepends collapsed.
func pathEdges(a *route.Attrs) []edgeKey {
	if a == nil {
		return nil
	}
	seq := slices.Compact(a.ASPath.Sequence())
	out := make([]edgeKey, 0, len(seq))
	for i := 1; i < len(seq); i++ {
		out = append(out, edgeKey{seq[i-1], seq[i]})
	}
	return out
}

func upstreamOf(a *route.Attrs) uint32 {
	if a == nil {
		return 0
	}
	u, _ := a.ASPath.Upstream()
	return u
}

// beforeAfter compares every slot's path at before with its path at after:
// the upstream table and the AS graph of the paths that changed. truncated
// says the graph was cut at maxGraphSlots changed slots.
func beforeAfter(slots []*slot, before, after time.Time) ([]upstreamChangeView, graphView, bool) {
	ups := map[upKey]*upAcc{}
	removed, added := map[edgeKey]int{}, map[edgeKey]int{}
	roles := map[uint32]string{}
	changed, truncated := 0, false
	keep := correlated(slots, before, after)
	for _, sl := range slots {
		if !keep[sl.prefix] {
			continue
		}
		b := sl.baseAt(before)
		a := sl.stateAt(after, b)
		if d, w := deviates(a, b); !d && !w {
			continue
		}
		k := upKey{upstreamOf(b), upstreamOf(a)}
		acc := ups[k]
		if acc == nil {
			acc = &upAcc{prefixes: map[string]bool{}, peers: map[route.Peer]bool{}}
			ups[k] = acc
		}
		acc.prefixes[sl.prefix.String()] = true
		acc.peers[sl.peer] = true
		if changed >= maxGraphSlots {
			truncated = true
			continue
		}
		changed++
		for _, x := range []struct {
			attrs *route.Attrs
			into  map[edgeKey]int
		}{{b, removed}, {a, added}} {
			es := pathEdges(x.attrs)
			for _, e := range es {
				x.into[e]++
			}
			markRoles(roles, x.attrs, es)
		}
	}
	return upstreamRows(ups), graphOf(roles, removed, added), truncated
}

// correlated picks the prefixes whose paths changed between before and
// after at two or more vantage points: a lone flap elsewhere in the group
// is background noise, not part of the event. When no prefix changed at
// two (one vantage point's event), every changed prefix counts.
func correlated(slots []*slot, before, after time.Time) map[netip.Prefix]bool {
	n := map[netip.Prefix]int{}
	for _, sl := range slots {
		b := sl.baseAt(before)
		if d, w := deviates(sl.stateAt(after, b), b); d || w {
			n[sl.prefix]++
		}
	}
	keep := map[netip.Prefix]bool{}
	for p, c := range n {
		if c >= 2 {
			keep[p] = true
		}
	}
	if len(keep) == 0 {
		for p := range n {
			keep[p] = true
		}
	}
	return keep
}

func markRoles(roles map[uint32]string, a *route.Attrs, es []edgeKey) {
	if len(es) == 0 {
		return
	}
	first, last := es[0].from, es[len(es)-1].to
	for _, e := range es {
		for _, asn := range []uint32{e.from, e.to} {
			if roles[asn] == "" {
				roles[asn] = "transit"
			}
		}
	}
	if roles[first] != "origin" {
		roles[first] = "vantage_point"
	}
	roles[last] = "origin"
}

func upstreamRows(ups map[upKey]*upAcc) []upstreamChangeView {
	out := []upstreamChangeView{}
	for k, acc := range ups {
		out = append(out, upstreamChangeView{FromUpstream: k.from, ToUpstream: k.to, Prefixes: len(acc.prefixes), VantagePoints: len(acc.peers)})
	}
	slices.SortFunc(out, func(a, b upstreamChangeView) int {
		return cmp.Or(cmp.Compare(b.Prefixes, a.Prefixes), cmp.Compare(a.FromUpstream, b.FromUpstream), cmp.Compare(a.ToUpstream, b.ToUpstream))
	})
	return out
}

func graphOf(roles map[uint32]string, removed, added map[edgeKey]int) graphView {
	g := graphView{Nodes: []graphNodeView{}, Edges: []graphEdgeView{}}
	for asn, r := range roles {
		g.Nodes = append(g.Nodes, graphNodeView{ASN: asn, Role: r})
	}
	slices.SortFunc(g.Nodes, func(a, b graphNodeView) int { return cmp.Compare(a.ASN, b.ASN) })
	for e, n := range removed {
		st := "removed"
		if m, ok := added[e]; ok {
			st, n = "kept", max(n, m)
		}
		g.Edges = append(g.Edges, graphEdgeView{From: e.from, To: e.to, State: st, Routes: n})
	}
	for e, n := range added {
		if _, ok := removed[e]; !ok {
			g.Edges = append(g.Edges, graphEdgeView{From: e.from, To: e.to, State: "added", Routes: n})
		}
	}
	slices.SortFunc(g.Edges, func(a, b graphEdgeView) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return g
}
