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
	"math"
	"net/netip"
	"slices"
	"time"

	"routewatch/ranges"
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
	peerCache peerCache // recently seen peers, by peerCacheIndex
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

	queued []route.EventChange // see drain

	// providerASNs are the providers' configured origin ASNs.
	providerASNs map[string][]uint32
	// keptOrigins keeps the baseline origins that are not the provider's
	// own of prefixes no vantage point holds now, for when they return.
	keptOrigins map[netip.Prefix][]uint32

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

// New returns an analyzer. cfg should have passed Validate; zero or
// invalid fields fall back to the defaults.
func New(cfg Config) *Analyzer {
	if cfg.Validate() != nil {
		cfg = fillDefaults(cfg)
	}
	a := &Analyzer{
		cfg:      cfg,
		alpha:    1 - math.Exp2(-float64(cfg.Window)/float64(cfg.BaselineHalfLife)),
		peers:    make(map[route.Peer]*peerState),
		prefixes: newPrefixMap(),
		groups:   make(map[route.Group]*group),

		providerASNs: cfg.ProviderASNs,
		keptOrigins:  make(map[netip.Prefix][]uint32),
	}
	if a.providerASNs == nil {
		a.providerASNs = ranges.DefaultWatchASNs()
	}
	return a
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
		func(x *Config) { x.HijackMinPeers = c.HijackMinPeers },
		func(x *Config) { x.HijackMinPrefixes = c.HijackMinPrefixes },
	}
	out.TransitChanges, out.CommunityChanges = c.TransitChanges, c.CommunityChanges
	out.SuppressRPKIValid, out.ProviderASNs = c.SuppressRPKIValid, c.ProviderASNs
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
			pf = a.newPrefix(u.Prefix, u.Tags, u.Attrs)
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
		*s = slot{peer: p, pfx: pf, attrs: u.Attrs, pathID: u.PathID, pi: int32(len(p.slots)), synced: a.syncing()}
		p.slots = append(p.slots, s)
		a.setState(s, present)
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
		if best := pf.match; best == route.MatchOriginASN {
			// Tagged because its origin is the provider's.
			if o, ok := u.Attrs.ASPath.Origin(); ok {
				learnOrigin(pf, o)
			}
		}
		a.judge(s, &u)
		return a.drain(out)
	}
	s := pf.slots[i]
	if u.Withdraw || u.Attrs == nil {
		return a.drain(a.withdraw(s, u.TableDump, out))
	}
	return a.drain(a.announce(s, u, out))
}

// drain appends the changes queued by code that has no output slice of its
// own (hijack events opened or resolved by a slot's state change).
// peerCache holds recently seen vantage points (see peerOf).
type peerCache [64]*peerState

func (a *Analyzer) drain(out []route.EventChange) []route.EventChange {
	if len(a.queued) == 0 {
		return out
	}
	out = append(out, a.queued...)
	clear(a.queued)
	a.queued = a.queued[:0]
	return out
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
				a.setState(s, stale)
				n++
				a.touch(s)
			}
		}
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
			return a.drain(out)
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
				a.setState(s, absent)
				a.release(s)
			}
		}
	}
	return a.drain(out)
}

// Tick advances the analyzer's clock without an update (the live service
// calls it periodically) and returns what that time changes: events opened
// after Settle, updated, or resolved after StablePeriod.
func (a *Analyzer) Tick(t time.Time) []route.EventChange {
	return a.drain(a.advance(t, nil))
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
	return a.drain(a.emitDirty(out, true))
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
		if e.kind != route.KindPeerDown && !isHijack(e.kind) && !a.now.Before(e.lastActive.Add(a.cfg.StablePeriod)) {
			out = a.resolve(e, e.lastActive, out)
		}
	}
	return a.emitDirty(out, false)
}
