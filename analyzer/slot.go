package analyzer

import (
	"net/netip"
	"slices"
	"time"

	"routewatch/route"
)

type slotState uint8

const (
	absent slotState = iota
	present
	stale // the peer lost its session or table; route not confirmed
)

type slot struct {
	peer   *peerState
	pfx    *pfxState
	attrs  *route.Attrs // last announced attributes, kept after withdrawal
	pathID uint32
	pi     int32 // index in peer.slots; -1 once freed
	// refs counts the window records and open events' baselines that
	// point here: an absent slot is freed when it drops to zero.
	refs  int32
	state slotState
	bogus bool     // present with an illegitimate origin (hijack.go)
	rov   rovIndex // RPKI state of the last judged announcement
	// synced: the route came without a window record (a table dump's
	// change, a new slot) after the first window, and the slot has had no
	// record since (see baseline and absorb).
	synced bool
}

type asnCount struct {
	asn uint32
	n   int32
}

type pfxState struct {
	prefix netip.Prefix
	groups []*group
	slots  []*slot
	// ids[i] is slots[i]'s peer id<<32 | path-ID: finding a peer's slot
	// scans a few words instead of probing a per-peer map.
	ids []uint64
	win []asnCount // peer ASNs with changes of this prefix in the window
	// origins are the baseline origins of the prefix (hijack.go).
	origins []uint32
	match   route.MatchKind // how the prefix matched its ranges
}

func slotID(p *peerState, pathID uint32) uint64 { return uint64(p.id)<<32 | uint64(pathID) }

// setState moves s to state to and keeps its vantage point's counters
// (present, staleN, reannounced) and Stats.Stale in step: it is the only
// place that changes a slot's state, so the counters cannot drift.
func (a *Analyzer) setState(s *slot, to slotState) {
	from := s.state
	if from == to {
		return
	}
	p := s.peer
	switch from {
	case present:
		p.present--
		a.unbogus(s)
	case stale:
		p.staleN--
	}
	switch to {
	case present:
		p.present++
		if from == stale {
			p.reannounced++
		}
	case stale:
		p.staleN++
		a.stats.Stale++
	}
	s.state = to
}

type peerState struct {
	peer    route.Peer
	id      uint32
	slots   []*slot // unordered; slot.pi is the index
	present int     // slots in state present
	staleN  int

	wd     []time.Time // own withdrawals within the window
	wdHead int

	suspectAt       time.Time
	suspectCooldown time.Time

	ids         idSeq
	down        bool
	downEvent   *event
	downStale   int
	reannounced int
}

// withdraw ends s's route. A re-sync's withdrawal (tableDump: the state
// after a gap says the route is gone) removes it without a change record:
// like a table dump's announcement, it never counts toward an event.
func (a *Analyzer) withdraw(s *slot, tableDump bool, out []route.EventChange) []route.EventChange {
	p := s.peer
	switch {
	case s.state == absent:
		return out
	case s.state == stale:
		// The peer confirms the route is gone; its loss was already
		// accounted to the peer, not to the provider.
		a.setState(s, absent)
		a.touch(s)
		out = a.checkRestored(out)
		a.release(s)
		return out
	case p.down:
		a.setState(s, stale)
		a.touch(s)
		return a.checkRestored(out)
	case s.bogus:
		// A hijacker's route gone: the hijack event's end, not a
		// withdrawal of the provider's.
		a.stats.Changes[ChangeWithdraw]++
		a.setState(s, absent)
		a.touch(s)
		out = a.checkRestored(out)
		a.release(s)
		return out
	case tableDump:
		a.setState(s, absent)
		a.touch(s)
		out = a.checkRestored(out)
		a.release(s)
		return out
	}
	r := record{t: a.now, slot: s, typ: ChangeWithdraw, fromPresent: true, fromAttrs: s.attrs}
	a.setState(s, absent)
	out = a.add(r, out)
	return a.peerWithdrew(p, out)
}

func (a *Analyzer) announce(s *slot, u route.Update, out []route.EventChange) []route.EventChange {
	p := s.peer
	r := record{t: a.now, slot: s, fromAttrs: s.attrs}
	wasPresent := s.state == present
	switch s.state {
	case stale:
		a.setState(s, present)
		if s.attrs.ASPath.Equal(u.Attrs.ASPath) {
			// A returning peer re-announcing the old path: not a change.
			s.attrs = u.Attrs
			a.judge(s, &u)
			a.touch(s)
			out = a.checkRestored(out)
			return a.peerBack(p, out)
		}
		out = a.peerBack(p, out)
		r.fromPresent = true
		r.typ = Classify(r.fromAttrs, u.Attrs)
	case absent:
		a.setState(s, present)
		r.typ = ChangeAnnounce
	default:
		r.fromPresent = true
		r.typ = Classify(s.attrs, u.Attrs)
	}
	s.attrs = u.Attrs
	wasBogus := s.bogus
	if wasBogus || !wasPresent || r.typ == ChangeUpstream || u.RPKI != route.ROVNone {
		// Only these can change the verdict: the origin is the same
		// otherwise (Classify reports an origin change as upstream).
		a.judge(s, &u)
	}
	switch {
	case r.typ == ChangeNone:
		return out
	case wasBogus || s.bogus:
		// To or from an illegitimate origin: a hijack event's route, not
		// the provider's path.
		a.stats.Changes[r.typ]++
		a.touch(s)
		return a.checkRestored(out)
	case !r.typ.providerSide() && !(a.cfg.TransitChanges && (r.typ == ChangePath || r.typ == ChangePathLength)) &&
		!(a.cfg.CommunityChanges && r.typ == ChangeAttrs && !sameCommunities(r.fromAttrs, u.Attrs)):
		// Attributes or the transit side of the path: not the provider's
		// doing (see Config.TransitChanges).
		a.stats.Changes[r.typ]++
		return out
	case u.TableDump:
		// A RIB snapshot syncs state; it never opens provider events.
		a.keepBase(s, r.fromPresent, r.fromAttrs)
		s.synced = a.syncing()
		a.touch(s)
		return a.checkRestored(out)
	}
	return a.add(r, out)
}

func (a *Analyzer) peerOf(rp route.Peer) *peerState {
	if p := a.lastPeer; p != nil && p.peer == rp {
		return p // updates come in runs from one peer
	}
	// RIB records alternate between a prefix's peers: a small cache by
	// address and ASN saves hashing the whole route.Peer every time.
	c := &a.peerCache[peerCacheIndex(rp)]
	if p := *c; p != nil && p.peer == rp {
		a.lastPeer = p
		return p
	}
	p := a.peers[rp]
	if p == nil {
		p = &peerState{peer: rp, id: a.nextPeer}
		a.nextPeer++
		a.peers[rp] = p
	}
	a.lastPeer, *c = p, p
	return p
}

// peerCacheIndex picks rp's entry in Analyzer.peerCache.
func peerCacheIndex(rp route.Peer) int {
	b := rp.Addr.As16()
	h := uint(b[15]) ^ uint(b[14])<<2 ^ uint(b[13])<<4 ^ uint(b[3])<<1 ^ uint(rp.ASN) ^ uint(rp.ASN>>6)
	return int(h % uint(len(peerCache{})))
}

// newPrefix starts watching a prefix. Its groups come from the tags of the
// best match kind (equal, then covered, then covering, then origin ASN), so
// a covering aggregate is not counted in every region it spans unless
// nothing more specific matched.
//
// A covering aggregate counts for a provider only when its origin is one
// of the provider's configured ASNs: 34.0.0.0/8 from another AS is not
// Google's.
func (a *Analyzer) newPrefix(pr netip.Prefix, tags []route.Tag, attrs *route.Attrs) *pfxState {
	best := route.MatchKind(0)
	rank := func(m route.MatchKind) int {
		switch m {
		case route.MatchEqual:
			return 4
		case route.MatchCovered:
			return 3
		case route.MatchCovering:
			return 2
		case route.MatchOriginASN:
			return 1
		}
		return 0
	}
	for _, t := range tags {
		if best == 0 || rank(t.Match) > rank(best) {
			best = t.Match
		}
	}
	pf := &pfxState{prefix: pr, match: best}
	origin, hasOrigin := attrs.ASPath.Origin()
	for _, t := range tags {
		if t.Match != best || t.Provider == "" {
			continue
		}
		if best == route.MatchCovering && !(hasOrigin && slices.Contains(a.providerASNs[t.Provider], origin)) {
			continue
		}
		g := a.groupOf(t)
		if !slices.Contains(pf.groups, g) {
			pf.groups = append(pf.groups, g)
			g.size++
		}
	}
	if len(pf.groups) == 0 {
		return nil
	}
	if kept, ok := a.keptOrigins[pr]; ok {
		pf.origins = kept
		delete(a.keptOrigins, pr)
	}
	a.prefixes.put(pf)
	return pf
}

func (a *Analyzer) groupOf(t route.Tag) *group {
	k := t.Group()
	g := a.groups[k]
	if g == nil {
		g = &group{g: k}
		a.groups[k] = g
		a.groupList = append(a.groupList, g)
	}
	return g
}

// unref drops one reference to s (a window record or an event baseline)
// and frees s when nothing needs it any more.
func (a *Analyzer) unref(s *slot) {
	if s == nil {
		return
	}
	s.refs--
	a.release(s)
}

// release frees a withdrawn slot that no window record and no open
// event's baseline points to, and its prefix once no slot is left: memory
// follows the routes present now, not every route ever seen. A slot that
// comes back later starts again as an initial announcement, as it would
// after a fresh start.
func (a *Analyzer) release(s *slot) {
	if s.state != absent || s.refs > 0 || s.pi < 0 {
		return
	}
	p, pf := s.peer, s.pfx
	last := len(p.slots) - 1
	moved := p.slots[last]
	p.slots[s.pi] = moved
	moved.pi = s.pi
	p.slots[last] = nil
	p.slots = p.slots[:last]
	if cap(p.slots) > 1024 && len(p.slots) < cap(p.slots)/4 {
		p.slots = slices.Clone(p.slots)
	}
	i := slices.Index(pf.slots, s)
	last = len(pf.slots) - 1
	pf.slots[i], pf.ids[i] = pf.slots[last], pf.ids[last]
	pf.slots[last] = nil
	pf.slots, pf.ids = pf.slots[:last], pf.ids[:last]
	*s = slot{pi: -1}
	a.freeSlots = append(a.freeSlots, s)
	a.slots--
	if last == 0 && len(pf.win) == 0 {
		a.dropPrefix(pf)
	}
}

// newSlot returns an unused slot: slots are the bulk of the state, and
// allocating them in chunks saves a malloc and a GC object per route.
func (a *Analyzer) newSlot() *slot {
	if n := len(a.freeSlots); n > 0 {
		s := a.freeSlots[n-1]
		a.freeSlots[n-1] = nil
		a.freeSlots = a.freeSlots[:n-1]
		return s
	}
	if len(a.slab) == 0 {
		a.slab = make([]slot, 256)
	}
	s := &a.slab[0]
	a.slab = a.slab[1:]
	return s
}

func (a *Analyzer) dropPrefix(pf *pfxState) {
	a.prefixes.del(pf.prefix)
	var foreign []uint32
	for _, o := range pf.origins {
		if !a.providerOrigin(pf, o) {
			foreign = append(foreign, o)
		}
	}
	if foreign != nil {
		a.keptOrigins[pf.prefix] = foreign
	}
	for _, g := range pf.groups {
		g.size--
	}
	if a.lastPfx == pf {
		a.lastPfx = nil
	}
}

// sweep runs once per window: it frees vantage points that hold nothing
// and shrinks the prefix map after a large table went away (Go maps do
// not shrink by themselves).
func (a *Analyzer) sweep() {
	for rp, p := range a.peers {
		if len(p.slots) == 0 && !p.down && p.downEvent == nil && p.suspectAt.IsZero() && !a.now.Before(p.suspectCooldown) {
			delete(a.peers, rp)
			if a.lastPeer == p {
				a.lastPeer = nil
			}
			if c := &a.peerCache[peerCacheIndex(rp)]; *c == p {
				*c = nil
			}
		}
	}
	if len(a.freeSlots) > 4096 && len(a.freeSlots) > a.slots {
		// Far more freed than live slots: let the GC take back the
		// chunks that hold no live slot.
		a.freeSlots = nil
	}
	a.prefixes.shrink()
}
