// Package analyzer finds sudden, correlated routing events of watched
// provider prefixes in a stream of BGP updates: regional path shifts,
// regional withdrawals (outages) and lost vantage points (peer_down).
//
// The analyzer is pure: it does no I/O, never reads the wall clock (time
// comes from the updates and from Tick) and gives the same events for the
// same input. It keeps state per (peer, prefix, path-ID) for watched
// prefixes only, so memory is proportional to the watched routes present
// now: a withdrawn route's state is freed once its change has left the
// sliding window and no open event needs it as pre-event baseline (then
// when that event resolves); a prefix or vantage point that holds nothing
// is freed too. Resolved events stay, for Events, until Prune.
//
// Model: a change of a slot (withdrawal, re-announcement, AS path change)
// enters a sliding window. A prefix whose path changed at several distinct
// peer ASNs within the window is "correlated"; random flaps and one busy
// peer touch one vantage point. A provider/region group opens an event when
// enough of its prefixes are correlated at once, at enough independent
// vantage points, well above the group's own baseline. The event remembers
// the pre-event route of every slot it touches and resolves when the routes
// are back (restoration) or nothing correlated happened for StablePeriod.
package analyzer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"routewatch/route"
)

// Analyzer is the detection engine. It is not safe for concurrent use:
// one goroutine feeds it.
type Analyzer struct {
	cfg   Config
	alpha float64 // baseline EWMA weight per window

	started    bool
	startAt    time.Time
	now        time.Time
	nextSample time.Time

	peers     map[route.Peer]*peerState
	prefixes  prefixMap
	lastPeer  *peerState
	lastPfx   *pfxState // RIB records list every peer's route of one prefix in a row
	slab      []slot    // slots are allocated in chunks ...
	freeSlots []*slot   // ... and reused once freed
	nextPeer  uint32    // id of the next new peerState
	slots     int       // live slots
	groups    map[route.Group]*group
	groupList []*group // creation order, for deterministic iteration

	win  []record // sliding window, time ordered from head
	head int

	events     []*event // every event, open and resolved
	open       []*event // open events in opening order
	pending    []*group // groups past the threshold, waiting for Settle
	suspects   []*peerState
	suspectLog []suspectMark

	stats Stats
}

// Stats counts what the analyzer has seen.
type Stats struct {
	Updates    int64 // Observe calls
	Watched    int64 // updates of watched prefixes
	PeerStates int64 // ObservePeer calls
	// Changes counts classified changes by ChangeType (index).
	Changes [ChangeAttrs + 1]int64
	// Stale counts routes made stale by a lost session or table.
	Stale int64

	// What is held in memory now. A withdrawn route's slot is freed once
	// no window record and no open event's pre-event baseline needs it; a
	// prefix once no vantage point has a slot for it; a peer once it has
	// no slots and no pending peer_down decision.
	Slots    int64 // (peer, prefix, path-ID) slots
	Prefixes int64 // watched prefixes
	Peers    int64 // vantage points
	Window   int64 // changes in the sliding window
	Events   int64 // events held (open, and resolved but not yet pruned)
	Open     int64 // open events
}

// prefixMap holds the watched prefixes under pointer-free keys: cheaper
// to hash than netip.Prefix and not scanned by the garbage collector. IPv4
// prefixes, the bulk of a table, take an 8-byte key: half the map memory
// and cache misses of one shared 24-byte key.
type prefixMap struct {
	v4   map[uint64]*pfxState
	v6   map[key6]*pfxState
	high int // len high-water mark since the maps were last rebuilt
}

type key6 struct {
	hi, lo uint64
	bits   int // prefix length, -1 when invalid
}

func newPrefixMap() prefixMap {
	return prefixMap{v4: make(map[uint64]*pfxState), v6: make(map[key6]*pfxState)}
}

func key4(p netip.Prefix) (uint64, bool) {
	a := p.Addr()
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return uint64(binary.BigEndian.Uint32(b[:]))<<8 | uint64(p.Bits()), true
}

func keyOf6(p netip.Prefix) key6 {
	b := p.Addr().As16()
	return key6{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:]), bits: p.Bits()}
}

func (m *prefixMap) len() int { return len(m.v4) + len(m.v6) }

func (m *prefixMap) get(p netip.Prefix) *pfxState {
	if k, ok := key4(p); ok {
		return m.v4[k]
	}
	return m.v6[keyOf6(p)]
}

func (m *prefixMap) put(pf *pfxState) {
	if k, ok := key4(pf.prefix); ok {
		m.v4[k] = pf
	} else {
		m.v6[keyOf6(pf.prefix)] = pf
	}
	m.high = max(m.high, m.len())
}

func (m *prefixMap) del(p netip.Prefix) {
	if k, ok := key4(p); ok {
		delete(m.v4, k)
	} else {
		delete(m.v6, keyOf6(p))
	}
}

// shrink rebuilds the maps after most prefixes went away: Go maps do not
// give memory back by themselves.
func (m *prefixMap) shrink() {
	if m.high <= 4096 || m.len() >= m.high/8 {
		return
	}
	v4 := make(map[uint64]*pfxState, len(m.v4))
	for k, pf := range m.v4 {
		v4[k] = pf
	}
	v6 := make(map[key6]*pfxState, len(m.v6))
	for k, pf := range m.v6 {
		v6[k] = pf
	}
	m.v4, m.v6, m.high = v4, v6, m.len()
}

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
}

func slotID(p *peerState, pathID uint32) uint64 { return uint64(p.id)<<32 | uint64(pathID) }

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

type suspectMark struct {
	asn uint32
	t   time.Time
}

type group struct {
	g    route.Group
	size int // prefixes held now (a slot at some vantage point)

	changed int // prefixes with changes in the window
	corr    int // prefixes changed at >= MinPeersPerPrefix peer ASNs

	baseline  float64
	bsum, bw  float64 // bias-corrected EWMA state
	nextCheck time.Time
	pendingAt time.Time
	epoch     time.Time // changes up to here belong to a resolved event
	cooldown  time.Time
	event     *event
	ids       idSeq
}

type record struct {
	t           time.Time
	slot        *slot
	pfx         *pfxState // slot.pfx and ...
	asn         uint32    // ... slot.peer.peer.ASN: window scans read the record only
	typ         ChangeType
	fromPresent bool
	fromAttrs   *route.Attrs
	removed     bool
}

// New returns an analyzer. cfg should have passed Validate; zero or
// invalid fields fall back to the defaults.
func New(cfg Config) *Analyzer {
	if cfg.Validate() != nil {
		cfg = fillDefaults(cfg)
	}
	return &Analyzer{
		cfg:      cfg,
		alpha:    1 - math.Exp2(-float64(cfg.Window)/float64(cfg.BaselineHalfLife)),
		peers:    make(map[route.Peer]*peerState),
		prefixes: newPrefixMap(),
		groups:   make(map[route.Group]*group),
	}
}

// fillDefaults replaces every invalid field of c by its default.
func fillDefaults(c Config) Config {
	out := DefaultConfig()
	// Keep each valid user setting: apply it to the defaults and keep it
	// only if the result still validates.
	fields := []func(*Config){
		func(x *Config) { x.Window = c.Window },
		func(x *Config) { x.MinPrefixes = c.MinPrefixes },
		func(x *Config) { x.MinShare = c.MinShare },
		func(x *Config) { x.MinPeers = c.MinPeers },
		func(x *Config) { x.MinPeersPerPrefix = c.MinPeersPerPrefix },
		func(x *Config) { x.BaselineMultiple = c.BaselineMultiple },
		func(x *Config) { x.BaselineHalfLife = c.BaselineHalfLife },
		func(x *Config) { x.Settle = c.Settle },
		func(x *Config) { x.RestoreTolerance = c.RestoreTolerance },
		func(x *Config) { x.StablePeriod = c.StablePeriod },
		func(x *Config) { x.UpdateInterval = c.UpdateInterval },
		func(x *Config) { x.PeerDownShare = c.PeerDownShare },
		func(x *Config) { x.PeerDownMinRoutes = c.PeerDownMinRoutes },
		func(x *Config) { x.PeerDownHold = c.PeerDownHold },
		func(x *Config) { x.SamplePrefixes = c.SamplePrefixes },
	}
	for _, f := range fields {
		next := out
		f(&next)
		if next.Validate() == nil {
			out = next
		}
	}
	return out
}

// Config returns the configuration in use.
func (a *Analyzer) Config() Config { return a.cfg }

// Stats returns counters of what was observed.
func (a *Analyzer) Stats() Stats {
	st := a.stats
	st.Slots = int64(a.slots)
	st.Prefixes = int64(a.prefixes.len())
	st.Peers = int64(len(a.peers))
	st.Window = int64(len(a.win) - a.head)
	st.Events = int64(len(a.events))
	st.Open = int64(len(a.open))
	return st
}

// Observe feeds one update. Updates of prefixes without tags are ignored
// unless the prefix is already watched (withdrawals carry no attributes,
// so their tags are carried forward from the prefix's announcements).
func (a *Analyzer) Observe(u route.Update) []route.EventChange {
	a.stats.Updates++
	out := a.advance(u.Time, nil)
	pf := a.lastPfx
	if pf == nil || pf.prefix != u.Prefix {
		pf = a.prefixes.get(u.Prefix)
		if pf == nil {
			if len(u.Tags) == 0 || u.Withdraw || u.Attrs == nil {
				return out
			}
			pf = a.newPrefix(u.Prefix, u.Tags)
			if pf == nil {
				return out
			}
		}
		a.lastPfx = pf
	}
	a.stats.Watched++
	p := a.peerOf(u.Peer)
	id := slotID(p, u.PathID)
	i := slices.Index(pf.ids, id)
	if i < 0 {
		if u.Withdraw || u.Attrs == nil {
			return out // never saw it: nothing to take away
		}
		// Initial load: the first announcement of a slot is not a change.
		s := a.newSlot()
		*s = slot{peer: p, pfx: pf, attrs: u.Attrs, pathID: u.PathID, pi: int32(len(p.slots)), state: present}
		p.slots = append(p.slots, s)
		p.present++
		if pf.slots == nil {
			// Most prefixes are seen by most vantage points: size for the
			// current average at once instead of growing step by step.
			c := 1
			if n := a.prefixes.len(); n > 0 {
				c = min(a.slots/n+1, 64)
			}
			pf.slots, pf.ids = make([]*slot, 0, c), make([]uint64, 0, c)
		}
		pf.slots = append(pf.slots, s)
		pf.ids = append(pf.ids, id)
		a.slots++
		a.stats.Changes[ChangeInitial]++
		return out
	}
	s := pf.slots[i]
	if u.Withdraw || u.Attrs == nil {
		return a.withdraw(s, out)
	}
	return a.announce(s, u, out)
}

func (a *Analyzer) withdraw(s *slot, out []route.EventChange) []route.EventChange {
	p := s.peer
	switch {
	case s.state == absent:
		return out
	case s.state == stale:
		// The peer confirms the route is gone; its loss was already
		// accounted to the peer, not to the provider.
		s.state = absent
		p.staleN--
		a.touch(s)
		out = a.checkRestored(out)
		a.release(s)
		return out
	case p.down:
		s.state = stale
		p.present--
		p.staleN++
		a.stats.Stale++
		a.touch(s)
		return a.checkRestored(out)
	}
	r := record{t: a.now, slot: s, typ: ChangeWithdraw, fromPresent: true, fromAttrs: s.attrs}
	s.state = absent
	p.present--
	out = a.add(r, out)
	return a.peerWithdrew(p, out)
}

func (a *Analyzer) announce(s *slot, u route.Update, out []route.EventChange) []route.EventChange {
	p := s.peer
	r := record{t: a.now, slot: s, fromAttrs: s.attrs}
	switch s.state {
	case stale:
		p.staleN--
		p.present++
		p.reannounced++
		s.state = present
		if s.attrs.ASPath.Equal(u.Attrs.ASPath) {
			// A returning peer re-announcing the old path: not a change.
			s.attrs = u.Attrs
			a.touch(s)
			out = a.checkRestored(out)
			return a.peerBack(p, out)
		}
		out = a.peerBack(p, out)
		r.fromPresent = true
		r.typ = Classify(r.fromAttrs, u.Attrs)
	case absent:
		s.state = present
		p.present++
		r.typ = ChangeAnnounce
	default:
		r.fromPresent = true
		r.typ = Classify(s.attrs, u.Attrs)
	}
	s.attrs = u.Attrs
	switch {
	case r.typ == ChangeNone:
		return out
	case !r.typ.providerSide() && !(a.cfg.TransitChanges && (r.typ == ChangePath || r.typ == ChangePathLength)):
		// Attributes or the transit side of the path: not the provider's
		// doing (see Config.TransitChanges).
		a.stats.Changes[r.typ]++
		return out
	case u.TableDump:
		// A RIB snapshot syncs state; it never opens provider events.
		a.touch(s)
		return a.checkRestored(out)
	}
	return a.add(r, out)
}

// ObservePeer feeds a session state change.
func (a *Analyzer) ObservePeer(st route.PeerState) []route.EventChange {
	a.stats.PeerStates++
	out := a.advance(st.Time, nil)
	p := a.peerOf(st.Peer)
	switch {
	case st.Down():
		// A live session drop may deliver the withdrawals of the dropped
		// routes just before the state change: they are stale too.
		taken := a.takeBack(p, a.now.Add(-a.cfg.PeerDownHold))
		if i := slices.Index(a.suspects, p); i >= 0 {
			a.suspects = slices.Delete(a.suspects, i, i+1)
			p.suspectAt = time.Time{}
		}
		n := 0
		for _, s := range p.slots {
			if s.state == present {
				s.state = stale
				p.present--
				p.staleN++
				n++
				a.touch(s)
			}
		}
		a.stats.Stale += int64(n)
		n += taken
		out = a.checkRestored(out)
		reason := "session " + st.Old.String() + " → " + st.New.String()
		if st.Reason != "" {
			reason += " (" + st.Reason + ")"
		}
		if p.down && p.downEvent != nil && p.downEvent.open() {
			p.downEvent.reason = reason
			p.downEvent.stalePrefixes += n
			p.downStale += n
			return out
		}
		out = a.openPeerDown(p, a.now, a.now, n, reason, out)
	case st.Up():
		if p.down {
			out = a.resolvePeer(p, a.now, out)
		}
	}
	if st.EndOfRIB {
		// The peer has re-sent its table: what is still stale is gone.
		// Backwards: release moves the last slot into the freed place.
		for i := len(p.slots) - 1; i >= 0; i-- {
			if s := p.slots[i]; s.state == stale {
				s.state = absent
				p.staleN--
				a.release(s)
			}
		}
	}
	return out
}

// Tick advances the analyzer's clock without an update (the live service
// calls it periodically) and returns what that time changes: events opened
// after Settle, updated, or resolved after StablePeriod.
func (a *Analyzer) Tick(t time.Time) []route.EventChange {
	return a.advance(t, nil)
}

// Flush opens every event still waiting for its Settle period and decides
// pending peer_down suspicions, as at the end of a replayed archive.
func (a *Analyzer) Flush() []route.EventChange {
	var out []route.EventChange
	// Lost tables first: their withdrawals must not count for a provider.
	for _, p := range a.suspects {
		out = a.decideSuspect(p, out)
	}
	a.suspects = a.suspects[:0]
	for _, g := range a.pending {
		out = a.openGroup(g, out)
	}
	a.pending = a.pending[:0]
	return a.emitDirty(out, true)
}

// Events returns every event in its current state, ordered by start.
func (a *Analyzer) Events() []route.Event {
	out := make([]route.Event, 0, len(a.events))
	for _, e := range a.events {
		out = append(out, a.snapshot(e))
	}
	slices.SortStableFunc(out, func(x, y route.Event) int {
		if c := x.Start.Compare(y.Start); c != 0 {
			return c
		}
		if x.ID < y.ID {
			return -1
		}
		if x.ID > y.ID {
			return 1
		}
		return 0
	})
	return out
}

// Prune forgets resolved events that ended before t, so that a
// long-running service does not keep every event in memory (the store
// keeps them). It returns how many were dropped.
//
// The analyzer never prunes by itself (a replay reports every event from
// Events at the end). A long-running caller prunes periodically in data
// time, e.g. after a Tick once a minute: Prune(now.Add(-time.Hour)).
// Open events are never pruned. Stats().Events shows how many are held.
func (a *Analyzer) Prune(before time.Time) int {
	n := len(a.events)
	a.events = slices.DeleteFunc(a.events, func(e *event) bool {
		return e.end != nil && e.end.Before(before)
	})
	clear(a.events[len(a.events):n])
	return n - len(a.events)
}

func (a *Analyzer) peerOf(rp route.Peer) *peerState {
	if p := a.lastPeer; p != nil && p.peer == rp {
		return p // updates come in runs from one peer
	}
	p := a.peers[rp]
	if p == nil {
		p = &peerState{peer: rp, id: a.nextPeer}
		a.nextPeer++
		a.peers[rp] = p
	}
	a.lastPeer = p
	return p
}

// newPrefix starts watching a prefix. Its groups come from the tags of the
// best match kind (equal, then covered, then covering, then origin ASN), so
// a covering aggregate is not counted in every region it spans unless
// nothing more specific matched.
func (a *Analyzer) newPrefix(pr netip.Prefix, tags []route.Tag) *pfxState {
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
	pf := &pfxState{prefix: pr}
	for _, t := range tags {
		if t.Match != best || t.Provider == "" {
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

// advance moves the clock to t (never backwards) and runs what is due.
func (a *Analyzer) advance(t time.Time, out []route.EventChange) []route.EventChange {
	if !a.started {
		if t.IsZero() {
			return out
		}
		a.started = true
		a.startAt = t
		a.now = t
		a.nextSample = t.Add(a.cfg.Window)
		return out
	}
	if !t.After(a.now) {
		return out
	}
	a.now = t
	cut := t.Add(-a.cfg.Window)
	for a.head < len(a.win) && a.win[a.head].t.Before(cut) {
		r := &a.win[a.head]
		a.exit(r)
		s := r.slot
		*r = record{}
		a.head++
		a.unref(s)
	}
	if a.head > 1024 && a.head*2 > len(a.win) {
		n := copy(a.win, a.win[a.head:])
		clear(a.win[n:])
		a.win = a.win[:n]
		a.head = 0
	}
	if !a.now.Before(a.nextSample) {
		a.sampleBaselines()
		a.sweep()
	}
	if len(a.suspects) > 0 {
		keep := a.suspects[:0]
		for _, p := range a.suspects {
			if a.now.Before(p.suspectAt.Add(a.cfg.PeerDownHold)) {
				keep = append(keep, p)
				continue
			}
			out = a.decideSuspect(p, out)
		}
		clear(a.suspects[len(keep):])
		a.suspects = keep
	}
	if len(a.pending) > 0 {
		keep := a.pending[:0]
		for _, g := range a.pending {
			// A vantage point that may have lost its table is decided
			// first: its withdrawals must not count for the provider.
			if a.now.Before(g.pendingAt.Add(a.cfg.Settle)) || len(a.suspects) > 0 {
				keep = append(keep, g)
				continue
			}
			out = a.openGroup(g, out)
		}
		clear(a.pending[len(keep):])
		a.pending = keep
	}
	if len(a.suspectLog) > 0 && a.suspectLog[0].t.Before(cut.Add(-a.cfg.Window-a.cfg.PeerDownHold)) {
		i := 0
		for i < len(a.suspectLog) && a.suspectLog[i].t.Before(cut.Add(-a.cfg.Window-a.cfg.PeerDownHold)) {
			i++
		}
		a.suspectLog = slices.Delete(a.suspectLog, 0, i)
	}
	for _, e := range slices.Clone(a.open) {
		if e.kind != route.KindPeerDown && !a.now.Before(e.lastActive.Add(a.cfg.StablePeriod)) {
			out = a.resolve(e, e.lastActive, out)
		}
	}
	return a.emitDirty(out, false)
}

// sampleBaselines folds each quiet group's correlated count into its
// baseline once per window.
func (a *Analyzer) sampleBaselines() {
	if a.now.Before(a.nextSample) {
		return
	}
	n := int(a.now.Sub(a.nextSample)/a.cfg.Window) + 1
	a.nextSample = a.nextSample.Add(time.Duration(n) * a.cfg.Window)
	// Windows without any update decay the baseline toward the current
	// (usually zero) count.
	w := 1 - math.Pow(1-a.alpha, float64(min(n, 10000)))
	for _, g := range a.groupList {
		if g.event != nil || !g.pendingAt.IsZero() || a.now.Before(g.cooldown) {
			continue
		}
		// Bias-corrected: early on the baseline is the plain mean of the
		// windows seen so far instead of being dragged toward zero.
		g.bsum += w * (float64(g.corr) - g.bsum)
		g.bw += w * (1 - g.bw)
		g.baseline = g.bsum / g.bw
	}
}

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

// add records a path change in the window and lets the groups react.
func (a *Analyzer) add(r record, out []route.EventChange) []route.EventChange {
	a.stats.Changes[r.typ]++
	r.slot.refs++
	r.pfx, r.asn = r.slot.pfx, r.slot.peer.peer.ASN
	a.win = append(a.win, r)
	rp := &a.win[len(a.win)-1]
	a.enter(rp)
	for _, g := range rp.pfx.groups {
		if g.event != nil {
			out = a.absorb(g.event, rp, out)
		} else {
			a.check(g)
		}
	}
	return out
}

func (a *Analyzer) enter(r *record) {
	pf := r.pfx
	asn := r.asn
	for i := range pf.win {
		if pf.win[i].asn == asn {
			pf.win[i].n++
			return
		}
	}
	pf.win = append(pf.win, asnCount{asn: asn, n: 1})
	n := len(pf.win)
	for _, g := range pf.groups {
		if n == 1 {
			g.changed++
		}
		if n == a.cfg.MinPeersPerPrefix {
			g.corr++
		}
	}
}

func (a *Analyzer) exit(r *record) {
	if r.removed || r.slot == nil {
		return
	}
	pf := r.pfx
	asn := r.asn
	for i := range pf.win {
		if pf.win[i].asn != asn {
			continue
		}
		pf.win[i].n--
		if pf.win[i].n > 0 {
			return
		}
		n := len(pf.win)
		pf.win[i] = pf.win[n-1]
		pf.win = pf.win[:n-1]
		for _, g := range pf.groups {
			if n == a.cfg.MinPeersPerPrefix {
				g.corr--
			}
			if n == 1 {
				g.changed--
			}
		}
		return
	}
}

func (a *Analyzer) correlated(pf *pfxState) bool { return len(pf.win) >= a.cfg.MinPeersPerPrefix }

func inGroup(pf *pfxState, g *group) bool { return slices.Contains(pf.groups, g) }

// crossed reports whether g's window is past the prefix thresholds.
func (a *Analyzer) crossed(g *group) bool {
	c := a.cfg
	return g.corr >= c.MinPrefixes &&
		float64(g.corr) >= c.MinShare*float64(g.size) &&
		float64(g.corr) >= c.BaselineMultiple*g.baseline
}

// check marks g pending when the window crossed every threshold. The
// first window after start is a warm-up: the group's baseline is unknown.
func (a *Analyzer) check(g *group) {
	c := a.cfg
	switch {
	case !g.pendingAt.IsZero(), a.now.Before(g.cooldown), a.now.Before(g.nextCheck),
		a.now.Before(a.startAt.Add(c.Window)), !a.crossed(g):
		return
	}
	if a.vantagePoints(g) < c.MinPeers {
		// Counting vantage points walks the window: do it at most once
		// a second of stream time per group.
		g.nextCheck = a.now.Add(time.Second)
		return
	}
	g.pendingAt = a.now
	a.pending = append(a.pending, g)
}

// vantagePoints counts distinct peer ASNs among the group's correlated
// changes in the window.
func (a *Analyzer) vantagePoints(g *group) int {
	seen := make(map[uint32]struct{})
	for i := a.head; i < len(a.win); i++ {
		r := &a.win[i]
		if r.removed || !r.t.After(g.epoch) || !inGroup(r.pfx, g) || !a.correlated(r.pfx) {
			continue
		}
		seen[r.asn] = struct{}{}
	}
	return len(seen)
}

// peerWithdrew tracks one peer's withdrawals to tell a lost table from an
// outage.
func (a *Analyzer) peerWithdrew(p *peerState, out []route.EventChange) []route.EventChange {
	cut := a.now.Add(-a.cfg.Window)
	p.wd = append(p.wd, a.now)
	for p.wdHead < len(p.wd) && p.wd[p.wdHead].Before(cut) {
		p.wdHead++
	}
	if p.wdHead > 256 && p.wdHead*2 > len(p.wd) {
		p.wd = p.wd[:copy(p.wd, p.wd[p.wdHead:])]
		p.wdHead = 0
	}
	n := len(p.wd) - p.wdHead
	if !p.suspectAt.IsZero() || p.down || a.now.Before(p.suspectCooldown) ||
		n < a.cfg.PeerDownMinRoutes || float64(n) < a.cfg.PeerDownShare*float64(p.present+n) {
		return out
	}
	p.suspectAt = a.now
	a.suspects = append(a.suspects, p)
	a.suspectLog = append(a.suspectLog, suspectMark{asn: p.peer.ASN, t: a.now})
	return out
}

// decideSuspect: one or two vantage points dropping their table is
// peer_down; MinPeers of them at once is the provider's outage.
func (a *Analyzer) decideSuspect(p *peerState, out []route.EventChange) []route.EventChange {
	at := p.suspectAt
	p.suspectAt = time.Time{}
	p.suspectCooldown = a.now.Add(a.cfg.Window)
	asns := map[uint32]struct{}{}
	for _, m := range a.suspectLog {
		if m.t.Sub(at).Abs() <= a.cfg.Window {
			asns[m.asn] = struct{}{}
		}
	}
	if len(asns) >= a.cfg.MinPeers || p.down {
		return out
	}
	start := at
	if p.wdHead < len(p.wd) {
		start = robustStart(p.wd[p.wdHead:], a.cfg.PeerDownMinRoutes)
	}
	n := a.takeBack(p, time.Time{})
	out = a.checkRestored(out)
	total := n + p.present
	return a.openPeerDown(p, start, at, n, fmt.Sprintf("withdrew %d of %d watched routes", n, total), out)
}

// takeBack takes p's withdrawals since t back out of the window: its
// routes are stale, not withdrawn by the provider. It returns how many.
func (a *Analyzer) takeBack(p *peerState, since time.Time) int {
	n := 0
	for i := a.head; i < len(a.win); i++ {
		r := &a.win[i]
		if r.removed || r.slot.peer != p || r.typ != ChangeWithdraw || r.slot.state != absent || r.t.Before(since) {
			continue
		}
		a.exit(r)
		r.removed = true
		r.slot.state = stale
		p.staleN++
		n++
		a.touch(r.slot)
	}
	a.stats.Stale += int64(n)
	a.stats.Changes[ChangeWithdraw] -= int64(n)
	return n
}

// peerBack resolves a table-loss peer_down once the peer re-announced at
// least half of the routes that went stale.
func (a *Analyzer) peerBack(p *peerState, out []route.EventChange) []route.EventChange {
	if p.down && p.reannounced*2 >= max(p.downStale, 1) {
		return a.resolvePeer(p, a.now, out)
	}
	return out
}

func (a *Analyzer) openPeerDown(p *peerState, start, detected time.Time, n int, reason string, out []route.EventChange) []route.EventChange {
	e := &event{
		kind:          route.KindPeerDown,
		peer:          p.peer,
		start:         start,
		detected:      detected,
		lastActive:    detected,
		reason:        reason,
		stalePrefixes: n,
	}
	e.id = eventID(e.kind, route.Group{}, p.peer, start, p.ids.next(e.kind, start))
	p.down = true
	p.downEvent = e
	p.downStale = n
	p.reannounced = 0
	a.events = append(a.events, e)
	a.open = append(a.open, e)
	e.lastEmit = a.now
	return append(out, route.EventChange{Change: route.EventOpened, Event: a.snapshot(e)})
}

func (a *Analyzer) resolvePeer(p *peerState, end time.Time, out []route.EventChange) []route.EventChange {
	p.down = false
	p.reannounced = 0
	e := p.downEvent
	p.downEvent = nil
	if e == nil || !e.open() {
		return out
	}
	return a.resolve(e, end, out)
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

// robustStart is the start of a burst in sorted change times: the first
// time from which the next minute holds a dense share of the burst
// (max(minN, 10%) of the changes). Unrelated flaps in the minutes before
// the burst are sparse and do not move the start.
func robustStart(ts []time.Time, minN int) time.Time {
	if len(ts) == 0 {
		return time.Time{}
	}
	need := max(min(minN, len(ts)), len(ts)/10, 1)
	j := 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) <= time.Minute {
			j++
		}
		if j-i >= need {
			return ts[i]
		}
	}
	return ts[len(ts)/2]
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
		}
	}
	if len(a.freeSlots) > 4096 && len(a.freeSlots) > a.slots {
		// Far more freed than live slots: let the GC take back the
		// chunks that hold no live slot.
		a.freeSlots = nil
	}
	a.prefixes.shrink()
}
