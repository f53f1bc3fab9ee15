package analyzer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"routewatch/route"
)

// baseState is a slot's route before the event touched it.
type baseState struct {
	present bool
	attrs   *route.Attrs
	dev     bool // currently deviates from this state
	// unjudged: the pre-event route is not known (see absorb); the slot
	// never deviates.
	unjudged bool
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

	// cause.go: the AS most changed routes lost, and the incident
	transit  uint32
	incident *incident
	causeN   int // changed routes when signals and cause were taken
	signals  []route.Signal
	cause    route.Cause

	// hijack kinds
	hijack   *hijackState
	origins  map[uint32]int // offending origin → routes
	rov      [rovStates]int // bogus routes by RPKI state (rovIndex)
	carriers map[uint32]int // AS before the origin → routes

	final *route.Event // snapshot taken at resolution
}

func (e *event) open() bool { return e.end == nil }

// deviates reports whether s differs from its pre-event state. A stale
// route says nothing about the provider, so it does not deviate.
func (a *Analyzer) deviates(s *slot, b *baseState) bool {
	switch {
	case s.state == stale || b.unjudged:
		return false
	case (s.state == present) != b.present:
		return true
	case !b.present:
		return false
	}
	return !a.sameRoute(s.attrs, b.attrs)
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

// absorb adds a change of one of the group's prefixes to its open event.
func (a *Analyzer) absorb(e *event, r *record, out []route.EventChange) []route.EventChange {
	s := r.slot
	b, ok := e.base[s]
	if !ok {
		// A route that came from a table re-synced just before the event
		// (a replayed table, routes after an End-of-RIB) and that the
		// event's own changes did not move is no pre-event route it can
		// judge the slot by: a table replay that left routes on the
		// shifted path would count their restoration as a deviation, and
		// the event would not resolve.
		b = &baseState{present: r.fromPresent, attrs: r.fromAttrs, unjudged: r.synced}
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

// keepBase gives the open events of s's groups that have no pre-event
// route for s its route before a change without a window record (a table
// dump): a vantage point that re-sends its table during an event, e.g.
// back from a session drop with its routes on the event's path, is
// judged by what it had before, so that its restoration counts as one
// and not as a deviation from the shifted route.
func (a *Analyzer) keepBase(s *slot, present bool, attrs *route.Attrs) {
	for _, g := range s.pfx.groups {
		if e := g.event; e != nil {
			if _, ok := e.base[s]; !ok {
				// Unless that route itself came from a table re-synced
				// just before the event (see absorb).
				e.base[s] = &baseState{present: present, attrs: attrs, unjudged: s.synced}
				s.refs++
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
	if h := e.hijack; h != nil {
		h.event = nil
	} else if g := e.group; g != nil {
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
	e.origins, e.carriers, e.hijack = nil, nil, nil
	for s := range base {
		a.unref(s)
	}
	return append(out, route.EventChange{Change: route.EventResolved, Event: snap})
}

// eventID derives an event's ID from what identifies it, so that a replay
// gives the same IDs; seq tells apart events of one peer or group with the
// same kind and start (updates out of time order).
func eventID(kind route.EventKind, g route.Group, p route.Peer, start time.Time, seq int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%d|%d", kind, g.Provider, g.Region, p.Addr, p.ASN, start.UnixNano())
	if seq > 0 {
		fmt.Fprintf(h, "|%d", seq)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// idSeq remembers the kind and start of a peer's or group's last event.
type idSeq struct {
	kind  route.EventKind
	start time.Time
	seq   int
}

// next returns 0 for a new (kind, start), else how many events before
// this one had the same.
func (s *idSeq) next(kind route.EventKind, start time.Time) int {
	if kind == s.kind && start.Equal(s.start) {
		s.seq++
		return s.seq
	}
	*s = idSeq{kind: kind, start: start}
	return 0
}
