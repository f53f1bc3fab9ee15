package analyzer

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"routewatch/route"
)

// baseState is a slot's route before the event touched it.
type baseState struct {
	present bool
	attrs   *route.Attrs
	dev     bool // currently deviates from this state
}

type transKey struct{ from, to uint32 }

type event struct {
	id       string
	kind     route.EventKind
	group    *group // nil for peer_down
	peer     route.Peer
	start    time.Time
	detected time.Time
	end      *time.Time

	lastActive time.Time // last correlated change
	lastEmit   time.Time
	dirty      bool

	base     map[*slot]*baseState
	deviated int
	peak     int

	prefixes map[netip.Prefix]struct{}
	peers    map[route.Peer]int // routes of the peer that left their pre-event state
	trans    map[transKey]map[netip.Prefix]struct{}

	visible int // median vantage points still seeing a prefix (withdrawal)

	// peer_down
	reason        string
	stalePrefixes int

	final *route.Event // snapshot taken at resolution
}

func (e *event) open() bool { return e.end == nil }

// deviates reports whether s differs from its pre-event state. A stale
// route says nothing about the provider, so it does not deviate.
func (a *Analyzer) deviates(s *slot, b *baseState) bool {
	switch {
	case s.state == stale:
		return false
	case (s.state == present) != b.present:
		return true
	case !b.present:
		return false
	}
	return !samePath(s.attrs, b.attrs, a.cfg.TransitChanges)
}

func (a *Analyzer) setDev(e *event, s *slot, b *baseState) bool {
	d := a.deviates(s, b)
	if d != b.dev {
		b.dev = d
		if d {
			e.deviated++
		} else {
			e.deviated--
		}
	}
	if e.deviated > e.peak {
		e.peak = e.deviated
	}
	return d
}

func (e *event) addTransition(s *slot, b *baseState) {
	k := transKey{from: upstreamOf(b.present, b.attrs), to: upstreamOf(s.state == present, s.attrs)}
	m := e.trans[k]
	if m == nil {
		m = make(map[netip.Prefix]struct{})
		e.trans[k] = m
	}
	if _, ok := m[s.pfx.prefix]; !ok {
		m[s.pfx.prefix] = struct{}{}
		e.dirty = true
	}
}

// involve adds a correlated change of s to the event; left says the route
// just left its pre-event state. It reports whether the reported counts
// grew.
func (e *event) involve(s *slot, left bool) bool {
	n := len(e.prefixes)
	e.prefixes[s.pfx.prefix] = struct{}{}
	grew := len(e.prefixes) != n
	if left {
		e.peers[s.peer.peer]++
		grew = grew || e.peers[s.peer.peer] <= 2
	}
	return grew
}

// affected lists the vantage points that saw the event: in an event of ten
// prefixes or more, a vantage point whose only contribution is one route
// (a coincidental flap) is left out.
func (e *event) affected() []route.Peer {
	min := 1
	if len(e.prefixes) >= 10 {
		min = 2
	}
	out := make([]route.Peer, 0, len(e.peers))
	for p, n := range e.peers {
		if n >= min {
			out = append(out, p)
		}
	}
	return out
}

func (a *Analyzer) restored(e *event) bool {
	return e.kind != route.KindPeerDown && e.peak > 0 &&
		float64(e.deviated) <= a.cfg.RestoreTolerance*float64(e.peak)
}

// openGroup opens the provider event of a pending group from the changes
// in the window.
func (a *Analyzer) openGroup(g *group, out []route.EventChange) []route.EventChange {
	detected := g.pendingAt
	g.pendingAt = time.Time{}
	if g.event != nil {
		return out
	}
	e := &event{
		group:    g,
		detected: detected,
		base:     make(map[*slot]*baseState),
		prefixes: make(map[netip.Prefix]struct{}),
		peers:    make(map[route.Peer]int),
		trans:    make(map[transKey]map[netip.Prefix]struct{}),
	}
	if !a.crossed(g) || a.vantagePoints(g) < a.cfg.MinPeers {
		// Taken back meanwhile (a vantage point's lost table): no event.
		return out
	}
	var corr []*record
	for i := a.head; i < len(a.win); i++ {
		r := &a.win[i]
		if r.removed || !r.t.After(g.epoch) || !inGroup(r.pfx, g) {
			continue
		}
		if _, ok := e.base[r.slot]; !ok {
			e.base[r.slot] = &baseState{present: r.fromPresent, attrs: r.fromAttrs}
		}
		if a.correlated(r.pfx) {
			corr = append(corr, r)
		}
	}
	withdrawn, shifted := 0, 0
	// A slot's change starts at its last record that left the pre-event
	// route: an earlier flap that came back is not part of the event.
	left := make(map[*slot]time.Time, len(corr))
	for _, r := range corr {
		b := e.base[r.slot]
		e.involve(r.slot, false)
		e.lastActive = r.t
		if r.fromPresent == b.present && (!b.present || samePath(r.fromAttrs, b.attrs, a.cfg.TransitChanges)) {
			left[r.slot] = r.t
		}
	}
	var times []time.Time
	for _, r := range corr {
		s := r.slot
		b := e.base[s]
		if !a.deviates(s, b) || b.dev {
			continue // flapped back, or counted already
		}
		times = append(times, left[s])
		a.setDev(e, s, b)
		e.involve(s, true)
		e.addTransition(s, b)
		if s.state == present {
			shifted++
		} else {
			withdrawn++
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	e.start = robustStart(times, a.cfg.MinPrefixes)
	if e.start.IsZero() && len(corr) > 0 {
		e.start = corr[0].t
	}
	if e.start.IsZero() {
		return out
	}
	for s, b := range e.base {
		a.setDev(e, s, b) // the uncorrelated rest
	}
	e.kind = route.KindPathShift
	if withdrawn > shifted {
		e.kind = route.KindWithdrawal
	}
	e.id = eventID(e.kind, g.g, route.Peer{}, e.start, g.ids.next(e.kind, e.start))
	e.lastEmit = a.now
	e.visible = -1
	g.event = e
	for s := range e.base {
		s.refs++ // the baseline keeps the slot until the event resolves
	}
	a.events = append(a.events, e)
	a.open = append(a.open, e)
	e.dirty = false
	out = append(out, route.EventChange{Change: route.EventOpened, Event: a.refresh(e)})
	if a.restored(e) || e.peak == 0 {
		// Everything flapped back within Settle: a short event.
		out = a.resolve(e, e.lastActive, out)
	}
	return out
}

// absorb adds a change of one of the group's prefixes to its open event.
func (a *Analyzer) absorb(e *event, r *record, out []route.EventChange) []route.EventChange {
	s := r.slot
	b, ok := e.base[s]
	if !ok {
		b = &baseState{present: r.fromPresent, attrs: r.fromAttrs}
		e.base[s] = b
		s.refs++
	}
	wasDev := b.dev
	dev := a.setDev(e, s, b)
	if a.correlated(s.pfx) {
		// Only a burst keeps the event alive; coincidental flaps do not.
		if e.group.corr >= a.cfg.MinPrefixes {
			e.lastActive = r.t
		}
		if e.involve(s, dev && !wasDev) {
			e.dirty = true
		}
		if dev {
			e.addTransition(s, b)
		}
	}
	if a.restored(e) {
		out = a.resolve(e, r.t, out)
	}
	return out
}

// touch re-evaluates a slot that changed without a window record (stale,
// re-announced by a returning peer, table dump) in the open events.
func (a *Analyzer) touch(s *slot) {
	for _, g := range s.pfx.groups {
		if e := g.event; e != nil {
			if b, ok := e.base[s]; ok {
				a.setDev(e, s, b)
			}
		}
	}
}

func (a *Analyzer) checkRestored(out []route.EventChange) []route.EventChange {
	for _, e := range slices.Clone(a.open) {
		if a.restored(e) {
			out = a.resolve(e, a.now, out)
		}
	}
	return out
}

func (a *Analyzer) resolve(e *event, end time.Time, out []route.EventChange) []route.EventChange {
	if !e.open() {
		return out
	}
	if end.Before(e.start) {
		end = e.start
	}
	e.end = &end
	if i := slices.Index(a.open, e); i >= 0 {
		a.open = slices.Delete(a.open, i, i+1)
	}
	if g := e.group; g != nil {
		g.event = nil
		g.epoch = a.now
		g.cooldown = a.now.Add(a.cfg.Window)
	}
	snap := a.refresh(e)
	e.final = &snap
	// The final snapshot is all a resolved event still reports: the
	// pre-event routes and the per-prefix sets are no longer needed.
	base := e.base
	e.base, e.prefixes, e.peers, e.trans = nil, nil, nil, nil
	for s := range base {
		a.unref(s)
	}
	return append(out, route.EventChange{Change: route.EventResolved, Event: snap})
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
		AffectedPeers:  []route.Peer{},
		SamplePrefixes: []netip.Prefix{},
	}
	if e.end != nil {
		t := e.end.UTC()
		ev.End = &t
	}
	if e.kind == route.KindPeerDown {
		ev.Prefixes = e.stalePrefixes
		ev.Peers = 1
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
	ev.Prefixes = len(e.prefixes)
	ev.AffectedPeers = append(ev.AffectedPeers, e.affected()...)
	ev.Peers = len(ev.AffectedPeers)
	slices.SortFunc(ev.AffectedPeers, func(x, y route.Peer) int {
		if c := x.Addr.Compare(y.Addr); c != 0 {
			return c
		}
		return cmp.Compare(x.ASN, y.ASN)
	})
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
	ev.Summary = a.summary(e, &ev, prefixes)
	return ev
}

func copyEvent(ev route.Event) route.Event {
	ev.Transitions = slices.Clone(ev.Transitions)
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
	if ev.Kind == route.KindWithdrawal {
		verb = "withdrawn"
	}
	fmt.Fprintf(&b, ": %d prefixes %s at %d vantage points", ev.Prefixes, verb, ev.Peers)
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
	if ev.End != nil {
		b.WriteString("; resolved after " + ev.End.Sub(ev.Start).String())
	}
	return b.String()
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
