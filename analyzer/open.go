package analyzer

import (
	"net/netip"
	"slices"
	"time"

	"routewatch/route"
)

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
	withdrawn, shifted, communityOnly := 0, 0, 0
	// A slot's change starts at its last record that left the pre-event
	// route: an earlier flap that came back is not part of the event.
	left := make(map[*slot]time.Time, len(corr))
	for _, r := range corr {
		b := e.base[r.slot]
		e.involve(r.slot, false)
		e.lastActive = r.t
		if r.fromPresent == b.present && (!b.present || a.sameRoute(r.fromAttrs, b.attrs)) {
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
			if b.present && samePath(s.attrs, b.attrs, a.cfg.TransitChanges) {
				communityOnly++
			}
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
	e.kind = kindOf(withdrawn, shifted, communityOnly)
	e.id = eventID(e.kind, g.g, route.Peer{}, e.start, g.ids.next(e.kind, e.start))
	e.lastEmit = a.now
	e.visible = -1
	g.event = e
	for s := range e.base {
		s.refs++ // the baseline keeps the slot until the event resolves
	}
	a.events = append(a.events, e)
	a.open = append(a.open, e)
	a.linkIncident(e)
	e.dirty = false
	out = append(out, route.EventChange{Change: route.EventOpened, Event: a.refresh(e)})
	if a.restored(e) || e.peak == 0 {
		// Everything flapped back within Settle: a short event.
		out = a.resolve(e, e.lastActive, out)
	}
	return out
}
