package analyzer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"routewatch/route"
)

// Likely causes and incidents of provider events (path_shift, withdrawal).
//
// The routes of an event that left their pre-event state say which AS they
// lost: an AS on every old path and on none of the new ones. When one AS
// (not the origin, not the vantage point itself) is lost by most of them,
// it is the event's candidate. When other groups lose the same candidate
// in the same window — the transit AS failed for several origins at once —
// the events are transit-side and share an incident. Otherwise the
// provider's own announcements explain it when they changed (origin
// prepending, a new upstream adjacency at the origin, routes leaving one
// of its upstreams for this group only); else the cause is unknown.

// incident is the events one transit-side cause explains.
type incident struct {
	id     string
	asn    uint32
	events []*event
}

// lost counts, over the routes that left their pre-event state, the ASes
// each one lost, and returns the most lost AS and how many of total
// routes lost it.
func lost(changes [][2]*route.Attrs) (asn uint32, n, total int) {
	count := map[uint32]int{}
	for _, c := range changes {
		old, cur := c[0], c[1]
		if old == nil {
			continue
		}
		total++
		seq := old.ASPath.Sequence()
		origin, _ := old.ASPath.Origin()
		var now []uint32
		if cur != nil {
			now = cur.ASPath.Sequence()
		}
		seen := map[uint32]bool{}
		for i, x := range seq {
			if i == 0 || x == origin || seen[x] || slices.Contains(now, x) {
				continue
			}
			seen[x] = true
			count[x]++
		}
	}
	for x, c := range count {
		if c > n || c == n && x < asn {
			asn, n = x, c
		}
	}
	return asn, n, total
}

// candidate is the AS most of the changes lost, 0 when none did.
func candidate(changes [][2]*route.Attrs) uint32 {
	asn, n, total := lost(changes)
	if total == 0 || n*2 < total {
		return 0
	}
	return asn
}

// windowChanges lists the (pre-change, now) routes of g's correlated
// changes in the window, one per slot.
func (a *Analyzer) windowChanges(g *group) [][2]*route.Attrs {
	seen := map[*slot]bool{}
	var out [][2]*route.Attrs
	for i := a.head; i < len(a.win); i++ {
		r := &a.win[i]
		if r.removed || !r.t.After(g.epoch) || !inGroup(r.pfx, g) || !a.correlated(r.pfx) || seen[r.slot] || !r.fromPresent {
			continue
		}
		seen[r.slot] = true
		var cur *route.Attrs
		if r.slot.state == present {
			cur = r.slot.attrs
		}
		out = append(out, [2]*route.Attrs{r.fromAttrs, cur})
	}
	return out
}

// eventChanges lists the (pre-event, now) routes of e's deviating slots.
func (e *event) eventChanges() [][2]*route.Attrs {
	var out [][2]*route.Attrs
	for s, b := range e.base {
		if !b.dev || !b.present {
			continue
		}
		var cur *route.Attrs
		if s.state == present {
			cur = s.attrs
		}
		out = append(out, [2]*route.Attrs{b.attrs, cur})
	}
	return out
}

// linkIncident gives e, just opened, the incident of the other groups
// that lose the same transit AS in the same window.
func (a *Analyzer) linkIncident(e *event) {
	t := candidate(a.windowChanges(e.group))
	e.transit = t
	if t == 0 {
		return
	}
	var inc *incident
	var partners []*event
	found := false
	for _, o := range a.open {
		if o == e || o.group == nil || isHijack(o.kind) || o.kind == route.KindPeerDown || o.transit != t ||
			o.start.Sub(e.start).Abs() > a.cfg.Window {
			continue
		}
		partners = append(partners, o)
		if o.incident != nil && inc == nil {
			inc = o.incident
		}
	}
	for _, g := range a.groupList {
		// Groups past the thresholds that have not opened yet.
		if g == e.group || g.event != nil || g.corr < a.cfg.MinPrefixes {
			continue
		}
		if candidate(a.windowChanges(g)) == t {
			found = true
			break
		}
	}
	if len(partners) == 0 && !found {
		return
	}
	if inc == nil {
		first := e
		for _, o := range partners {
			if o.start.Before(first.start) {
				first = o
			}
		}
		h := sha256.Sum256(fmt.Appendf(nil, "incident|%d|%d", t, first.start.UnixNano()))
		inc = &incident{id: hex.EncodeToString(h[:8]), asn: t}
	}
	for _, o := range append(partners, e) {
		if o.incident == nil {
			o.incident = inc
			inc.events = append(inc.events, o)
			o.dirty = o != e
		}
	}
}

// cause is the transit-side cause of e, one of inc's events.
func (inc *incident) cause(e *event) route.Cause {
	var providers []string
	others := 0
	for _, o := range inc.events {
		if o != e {
			others++
		}
		if !slices.Contains(providers, o.group.g.Provider) {
			providers = append(providers, o.group.g.Provider)
		}
	}
	slices.Sort(providers)
	return route.Cause{Side: route.SideTransit, ASN: inc.asn, Reason: fmt.Sprintf(
		"AS%d left the paths of most changed routes here and of %d other groups (%s) in the same window",
		inc.asn, others, strings.Join(providers, ", "))}
}

// signals counts the TE signals of e's shifted routes.
func signals(changes [][2]*route.Attrs) []route.Signal {
	var n [5]int
	for _, c := range changes {
		old, cur := c[0], c[1]
		if old == nil || cur == nil {
			continue
		}
		ou, _ := old.ASPath.Upstream()
		cu, _ := cur.ASPath.Upstream()
		oo, _ := old.ASPath.Origin()
		co, _ := cur.ASPath.Origin()
		if ou != cu || oo != co {
			n[0]++
		}
		if old.ASPath.OriginPrepends() != cur.ASPath.OriginPrepends() {
			n[1]++
		}
		if old.ASPath.Len() != cur.ASPath.Len() {
			n[2]++
		}
		if !slices.Equal(old.Communities, cur.Communities) || !slices.Equal(old.LargeCommunities, cur.LargeCommunities) {
			n[3]++
		}
		if old.HasMED != cur.HasMED || old.MED != cur.MED {
			n[4]++
		}
	}
	kinds := [5]route.SignalKind{route.SignalUpstream, route.SignalPrepend, route.SignalPathLength, route.SignalCommunity, route.SignalMED}
	out := []route.Signal{}
	for i, c := range n {
		if c > 0 {
			out = append(out, route.Signal{Kind: kinds[i], Count: c})
		}
	}
	return out
}

// cause says which side e looks like, from its changed routes.
func cause(sigs []route.Signal, changes [][2]*route.Attrs, known func() map[uint32]bool) route.Cause {
	origin := mainOrigin(changes)
	shifted := 0
	for _, c := range changes {
		if c[0] != nil && c[1] != nil {
			shifted++
		}
	}
	if shifted > 0 {
		for _, s := range sigs {
			if s.Kind == route.SignalPrepend && s.Count*2 >= shifted {
				return route.Cause{Side: route.SideProvider, ASN: origin, Reason: fmt.Sprintf(
					"the origin AS%d changed its prepending on %d of %d shifted routes", origin, s.Count, shifted)}
			}
		}
	}
	if ups, n := withdrawnVia(changes); n*2 > len(changes) && len(ups) >= 2 {
		return route.Cause{Side: route.SideProvider, ASN: origin, Reason: fmt.Sprintf(
			"%d of %d changed routes of the origin AS%d were withdrawn, through %d different upstreams", n, len(changes), origin, len(ups))}
	}
	if up, n := newUpstream(changes, known); n*2 >= max(shifted, 1) && shifted > 0 {
		return route.Cause{Side: route.SideProvider, ASN: origin, Reason: fmt.Sprintf(
			"AS%d appeared as a new upstream of the origin AS%d on %d of %d shifted routes", up, origin, n, shifted)}
	}
	t, n, total := lost(changes)
	switch {
	case t == 0 || n*2 < total:
		return route.Cause{Side: route.SideUnknown, Reason: "no single AS explains the changed routes"}
	case isUpstream(changes, t):
		return route.Cause{Side: route.SideProvider, ASN: origin, Reason: fmt.Sprintf(
			"%d of %d changed routes left the origin's upstream AS%d, and no other group changed through AS%d in the window",
			n, total, t, t)}
	}
	return route.Cause{Side: route.SideUnknown, ASN: t, Reason: fmt.Sprintf(
		"%d of %d changed routes left AS%d, but no other group changed through it: transit or provider side cannot be told apart",
		n, total, t)}
}

// mainOrigin is the most frequent origin of the pre-event routes.
func mainOrigin(changes [][2]*route.Attrs) uint32 {
	count := map[uint32]int{}
	for _, c := range changes {
		if c[0] != nil {
			if o, ok := c[0].ASPath.Origin(); ok {
				count[o]++
			}
		}
	}
	best := topCounts(count, 1)
	if len(best) == 0 {
		return 0
	}
	return best[0].asn
}

// knownUpstreams are the origin's upstreams on e's pre-event routes and on
// the routes of e's prefixes that did not change.
func (a *Analyzer) knownUpstreams(e *event) map[uint32]bool {
	out := map[uint32]bool{}
	add := func(at *route.Attrs) {
		if at != nil {
			if u, ok := at.ASPath.Upstream(); ok {
				out[u] = true
			}
		}
	}
	for _, b := range e.base {
		add(b.attrs)
	}
	for p := range e.prefixes {
		if pf := a.prefixes.get(p); pf != nil {
			for _, s := range pf.slots {
				if b, ok := e.base[s]; s.state == present && (!ok || !b.dev) {
					add(s.attrs)
				}
			}
		}
	}
	return out
}

// withdrawnVia counts the withdrawn routes and the upstreams they had.
func withdrawnVia(changes [][2]*route.Attrs) (map[uint32]bool, int) {
	ups := map[uint32]bool{}
	n := 0
	for _, c := range changes {
		if c[0] != nil && c[1] == nil {
			n++
			if u, ok := c[0].ASPath.Upstream(); ok {
				ups[u] = true
			}
		}
	}
	return ups, n
}

// newUpstream is the most frequent upstream of the shifted routes that
// was not an upstream of the origin before (old: the upstreams of the
// pre-event routes and of the routes that did not change), and on how
// many routes.
func newUpstream(changes [][2]*route.Attrs, known func() map[uint32]bool) (uint32, int) {
	old := known()
	count := map[uint32]int{}
	for _, c := range changes {
		if c[0] != nil && c[1] != nil {
			if u, ok := c[1].ASPath.Upstream(); ok && !old[u] {
				count[u]++
			}
		}
	}
	best := topCounts(count, 1)
	if len(best) == 0 {
		return 0, 0
	}
	return best[0].asn, int(best[0].n)
}

// isUpstream reports whether asn was the origin's upstream on most
// pre-event routes that lost it.
func isUpstream(changes [][2]*route.Attrs, asn uint32) bool {
	n, m := 0, 0
	for _, c := range changes {
		if c[0] == nil || !slices.Contains(c[0].ASPath.Sequence(), asn) {
			continue
		}
		m++
		if u, _ := c[0].ASPath.Upstream(); u == asn {
			n++
		}
	}
	return m > 0 && n*2 >= m
}
