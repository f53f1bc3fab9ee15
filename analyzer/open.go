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
	corr := a.baseline(e, g)
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

// groupRecords are the window's records of g's prefixes since its last
// event.
func (a *Analyzer) groupRecords(g *group, f func(r *record)) {
	for i := a.head; i < len(a.win); i++ {
		r := &a.win[i]
		if r.removed || !r.t.After(g.epoch) || !inGroup(r.pfx, g) {
			continue
		}
		f(r)
	}
}

// baseline sets e's pre-event route of every slot changed in g's window
// (the route before its first change there) and returns the correlated
// changes. A slot whose first change left a route that a re-synced table
// had put there, before the burst, and that changed again in the burst,
// takes its route when the burst started: a vantage point's replayed
// table may re-send routes still on an old shift's path and move them
// back with live updates just before the next shift; the replayed route
// as baseline would count the shifted route as unchanged and its
// restoration as a deviation, and the event would not resolve.
func (a *Analyzer) baseline(e *event, g *group) []*record {
	var corr []*record
	var synced map[*slot]time.Time // first change (when) left a table dump's route
	a.groupRecords(g, func(r *record) {
		if _, ok := e.base[r.slot]; !ok {
			e.base[r.slot] = &baseState{present: r.fromPresent, attrs: r.fromAttrs}
			if r.synced {
				if synced == nil {
					synced = make(map[*slot]time.Time)
				}
				synced[r.slot] = r.t
			}
		}
		if a.correlated(r.pfx) {
			corr = append(corr, r)
		}
	})
	if synced == nil {
		return corr
	}
	start := a.burstStart(e, corr)
	if start.IsZero() {
		return corr
	}
	a.groupRecords(g, func(r *record) {
		first, ok := synced[r.slot]
		if !ok || !first.Before(start) {
			return
		}
		if !r.t.Before(start) && !r.synced {
			// The slot's first change in the burst: it left the route
			// the slot had when the burst started.
			e.base[r.slot] = &baseState{present: r.fromPresent, attrs: r.fromAttrs}
			delete(synced, r.slot)
		}
	})
	return corr
}

// syncing reports whether a route that comes without a window record
// now (a table dump's change, a new slot) is a re-synced one
// (slot.synced): not with the initial load, in the first window.
func (a *Analyzer) syncing() bool { return a.now.After(a.startAt.Add(a.cfg.Window)) }

// burstStart is where the burst of corr starts by e's current baseline
// (see robustStart): the time each deviating slot last left its
// pre-event route.
func (a *Analyzer) burstStart(e *event, corr []*record) time.Time {
	left := make(map[*slot]time.Time, len(corr))
	for _, r := range corr {
		b := e.base[r.slot]
		if r.fromPresent == b.present && (!b.present || a.sameRoute(r.fromAttrs, b.attrs)) {
			left[r.slot] = r.t
		}
	}
	var times []time.Time
	for s, t := range left {
		if a.deviates(s, e.base[s]) {
			times = append(times, t)
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	return robustStart(times, a.cfg.MinPrefixes)
}
