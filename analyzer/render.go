package analyzer

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"routewatch/route"
)

func (a *Analyzer) emitDirty(out []route.EventChange, force bool) []route.EventChange {
	for _, e := range a.open {
		if e.dirty && (force || !a.now.Before(e.lastEmit.Add(a.cfg.UpdateInterval))) {
			e.dirty = false
			e.lastEmit = a.now
			out = append(out, route.EventChange{Change: route.EventUpdated, Event: a.refresh(e)})
		}
	}
	return out
}

// snapshot renders the event resource.
func (a *Analyzer) snapshot(e *event) route.Event {
	if e.final != nil {
		return copyEvent(*e.final)
	}
	ev := route.Event{
		ID:             e.id,
		Kind:           e.kind,
		Start:          e.start.UTC(),
		Detected:       e.detected.UTC(),
		Transitions:    []route.Transition{},
		Signals:        []route.Signal{},
		Origins:        []uint32{},
		AffectedPeers:  []route.Peer{},
		SamplePrefixes: []netip.Prefix{},
	}
	if e.end != nil {
		t := e.end.UTC()
		ev.End = &t
	}
	if e.kind == route.KindPeerDown {
		ev.Prefixes = e.stalePrefixes
		ev.Peers, ev.Sessions = 1, 1
		ev.AffectedPeers = []route.Peer{e.peer}
		ev.Summary = fmt.Sprintf("vantage point %s AS%d down (%s): %d watched routes stale",
			e.peer.Addr, e.peer.ASN, e.reason, e.stalePrefixes)
		if e.end != nil {
			ev.Summary += "; back after " + e.end.Sub(e.start).String()
		}
		return ev
	}
	ev.Provider = e.group.g.Provider
	ev.Region = e.group.g.Region
	if isHijack(e.kind) {
		a.renderHijack(e, &ev)
		return ev
	}
	ev.Prefixes = len(e.prefixes)
	ev.AffectedPeers = append(ev.AffectedPeers, e.affected()...)
	ev.Peers, ev.Sessions = countPeers(ev.AffectedPeers), len(ev.AffectedPeers)
	sortPeers(ev.AffectedPeers)
	prefixes := make([]netip.Prefix, 0, len(e.prefixes))
	for p := range e.prefixes {
		prefixes = append(prefixes, p)
	}
	slices.SortFunc(prefixes, comparePrefix)
	ev.SamplePrefixes = prefixes[:min(len(prefixes), a.cfg.SamplePrefixes)]
	for k, m := range e.trans {
		ev.Transitions = append(ev.Transitions, route.Transition{FromUpstream: k.from, ToUpstream: k.to, Prefixes: len(m)})
	}
	slices.SortFunc(ev.Transitions, func(x, y route.Transition) int {
		if c := cmp.Compare(y.Prefixes, x.Prefixes); c != 0 {
			return c
		}
		if c := cmp.Compare(x.FromUpstream, y.FromUpstream); c != 0 {
			return c
		}
		return cmp.Compare(x.ToUpstream, y.ToUpstream)
	})
	if e.open() {
		// Signals and cause as of the most changed routes seen: at the end
		// the routes are back and show nothing.
		// Taken again only when more routes deviate than last time.
		if e.deviated > e.causeN || e.cause.Side == "" {
			e.causeN = e.deviated
			changes := e.eventChanges()
			e.signals = []route.Signal{}
			if e.kind == route.KindPathShift || e.kind == route.KindCommunityChange {
				e.signals = signals(changes)
			}
			e.cause = cause(e.signals, changes, func() map[uint32]bool { return a.knownUpstreams(e) })
		}
	}
	ev.Signals = append(ev.Signals, e.signals...)
	ev.Cause = e.cause
	if e.incident != nil {
		ev.Incident = e.incident.id
		ev.Cause = e.incident.cause(e)
	}
	ev.Summary = a.summary(e, &ev, prefixes)
	return ev
}

func sortPeers(ps []route.Peer) {
	slices.SortFunc(ps, func(x, y route.Peer) int {
		if c := x.Addr.Compare(y.Addr); c != 0 {
			return c
		}
		return cmp.Compare(x.ASN, y.ASN)
	})
}

// countPeers counts the distinct ASNs of vantage points.
func countPeers(ps []route.Peer) int {
	asns := make([]uint32, len(ps))
	for i, p := range ps {
		asns[i] = p.ASN
	}
	slices.Sort(asns)
	return len(slices.Compact(asns))
}

func copyEvent(ev route.Event) route.Event {
	ev.Transitions = slices.Clone(ev.Transitions)
	ev.Signals = slices.Clone(ev.Signals)
	ev.Origins = slices.Clone(ev.Origins)
	ev.AffectedPeers = slices.Clone(ev.AffectedPeers)
	ev.SamplePrefixes = slices.Clone(ev.SamplePrefixes)
	if ev.End != nil {
		t := *ev.End
		ev.End = &t
	}
	return ev
}

func comparePrefix(x, y netip.Prefix) int {
	if c := x.Addr().Compare(y.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(x.Bits(), y.Bits())
}

func (a *Analyzer) summary(e *event, ev *route.Event, prefixes []netip.Prefix) string {
	var b strings.Builder
	b.WriteString(ev.Provider)
	if ev.Region != "" {
		b.WriteString(" " + ev.Region)
	}
	verb := "shifted"
	switch ev.Kind {
	case route.KindWithdrawal:
		verb = "withdrawn"
	case route.KindCommunityChange:
		verb = "changed communities"
	}
	fmt.Fprintf(&b, ": %d prefixes %s at %s", ev.Prefixes, verb, peersPhrase(ev))
	if ev.Kind == route.KindWithdrawal && e.visible >= 0 {
		fmt.Fprintf(&b, "; still visible at %d vantage points (median)", e.visible)
	}
	for i, t := range ev.Transitions {
		if i == 3 || (i > 0 && t.Prefixes < 2) {
			// The long tail is single prefixes: noise, in the JSON only.
			fmt.Fprintf(&b, ", %d more transitions", len(ev.Transitions)-i)
			break
		}
		if i == 0 {
			b.WriteString("; ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d prefixes", TransitionString(t), t.Prefixes)
	}
	if len(ev.Signals) > 0 {
		b.WriteString("; signals:")
		for i, sg := range ev.Signals {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %s %d", sg.Kind, sg.Count)
		}
	}
	b.WriteString(causePhrase(ev.Cause))
	if ev.End != nil {
		b.WriteString("; resolved after " + ev.End.Sub(ev.Start).String())
	}
	return b.String()
}

// causePhrase renders a cause for a summary: which side it looks like
// and why.
func causePhrase(c route.Cause) string {
	switch c.Side {
	case "":
		return ""
	case route.SideUnknown:
		return "; cause unknown: " + c.Reason
	}
	return "; looks like the " + string(c.Side) + " side: " + c.Reason
}

// peersPhrase says how many vantage points saw an event: "6 peer ASNs",
// or "6 peer ASNs (9 sessions)" when some ASNs have several sessions.
func peersPhrase(ev *route.Event) string {
	s := fmt.Sprintf("%d peer ASN", ev.Peers)
	if ev.Peers != 1 {
		s += "s"
	}
	if ev.Sessions != ev.Peers {
		s += fmt.Sprintf(" (%d sessions)", ev.Sessions)
	}
	return s
}

// refresh updates what is measured only when the event is reported (the
// lowest visibility seen while open) and returns the snapshot.
func (a *Analyzer) refresh(e *event) route.Event {
	if e.kind == route.KindWithdrawal && e.open() {
		v := a.medianVisible(e)
		if e.visible < 0 || v < e.visible {
			e.visible = v
		}
	}
	return a.snapshot(e)
}

// medianVisible is the median number of vantage points that still have a
// route to one of the event's prefixes.
func (a *Analyzer) medianVisible(e *event) int {
	counts := make([]int, 0, len(e.prefixes))
	for p := range e.prefixes {
		n := 0
		if pf := a.prefixes.get(p); pf != nil {
			for _, s := range pf.slots {
				if s.state == present {
					n++
				}
			}
		}
		counts = append(counts, n)
	}
	if len(counts) == 0 {
		return 0
	}
	slices.Sort(counts)
	return counts[len(counts)/2]
}

// TransitionString renders a transition as "via 3356 → via 2914",
// "via 3356 → withdrawn" or "via 3356 (path change)".
func TransitionString(t route.Transition) string {
	via := func(asn uint32, none string) string {
		if asn == 0 {
			return none
		}
		return fmt.Sprintf("via %d", asn)
	}
	if t.FromUpstream == t.ToUpstream {
		return via(t.FromUpstream, "direct") + " (prepend change)"
	}
	return via(t.FromUpstream, "none") + " → " + via(t.ToUpstream, "withdrawn")
}
