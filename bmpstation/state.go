package bmpstation

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"routewatch/route"
)

// slot is a compact (prefix, path-ID) key, as in the BGP collector.
type slot struct {
	addr [16]byte
	bits uint8
	v4   bool
	id   uint32
}

func slotOf(p netip.Prefix, id uint32) slot {
	return slot{addr: p.Addr().As16(), bits: uint8(p.Bits()), v4: p.Addr().Is4(), id: id}
}

func (s slot) prefix() netip.Prefix {
	a := netip.AddrFrom16(s.addr)
	if s.v4 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, int(s.bits))
}

// vantage is one (router, monitored peer, RIB view): what the analyzer
// sees as a peer. Only watched routes are held.
type vantage struct {
	peer route.Peer
	up   bool
	// live routes of the current session; stale: of a previous one, not
	// re-announced yet (withdrawn at End-of-RIB).
	live, stale map[slot]struct{}
	pendingEoR  famSet
	eorDeadline time.Time
}

// routerTrack is what the station knows about one router across its BMP
// sessions (so a restarted session can withdraw what it no longer has).
// It is guarded by the station's per-router lock.
type routerTrack struct {
	name     string
	vantages map[vantageKey]*vantage
	// peersUp: monitored peers with a Peer Up in the current session and
	// their negotiated families.
	peersUp map[peerKey]famSet
	counts
}

type vantageKey struct {
	peer peerKey
	view route.View
}

// counts are read (and reset) by the metrics layer after each message.
type counts struct {
	announced, withdrawn, unwatched, unknownWd, staleWd int
	routes                                              int // held, absolute
	upChanges, downChanges, eorChanges                  int
}

func newRouterTrack(name string) *routerTrack {
	return &routerTrack{name: name, vantages: map[vantageKey]*vantage{}, peersUp: map[peerKey]famSet{}}
}

func (r *routerTrack) vantage(k vantageKey, p route.Peer) *vantage {
	v := r.vantages[k]
	if v == nil {
		p.Router = r.name
		v = &vantage{peer: p, live: map[slot]struct{}{}}
		r.vantages[k] = v
	}
	if p.ASN != 0 {
		v.peer.ASN = p.ASN
	}
	return v
}

// peerUp starts a monitored peer's session: its known views come up now
// (so their stale routes end at End-of-RIB or its timeout), others when
// their first route arrives.
func (r *routerTrack) peerUp(at time.Time, k peerKey, asn uint32, fams famSet, eorTimeout time.Duration) []route.PeerState {
	var sts []route.PeerState
	sts = append(sts, r.peerDown(at, k, "peer up again without peer down")...)
	if fams == 0 {
		fams = famV4
	}
	r.peersUp[k] = fams
	for vk, v := range r.vantages {
		if vk.peer == k {
			if asn != 0 {
				v.peer.ASN = asn
			}
			sts = append(sts, r.bringUp(at, v, fams, eorTimeout))
		}
	}
	sortStates(sts)
	return sts
}

func (r *routerTrack) bringUp(at time.Time, v *vantage, fams famSet, eorTimeout time.Duration) route.PeerState {
	v.up = true
	v.pendingEoR = fams
	v.eorDeadline = at.Add(eorTimeout)
	r.upChanges++
	return route.PeerState{Time: at, Source: Source, Peer: v.peer, Old: route.StateIdle, New: route.StateEstablished}
}

// peerDown ends a monitored peer's session: every view's routes are
// stale. k nil-peer (zero) with all set means every peer (BMP session
// closed).
func (r *routerTrack) peerDown(at time.Time, k peerKey, reason string) []route.PeerState {
	delete(r.peersUp, k)
	var sts []route.PeerState
	for vk, v := range r.vantages {
		if vk.peer == k && v.up {
			sts = append(sts, r.takeDown(at, v, reason))
		}
	}
	sortStates(sts)
	return sts
}

// sessionDown takes every view of the router down (its BMP session ended).
func (r *routerTrack) sessionDown(at time.Time, reason string) []route.PeerState {
	clear(r.peersUp)
	var sts []route.PeerState
	for _, v := range r.vantages {
		if v.up {
			sts = append(sts, r.takeDown(at, v, reason))
		}
	}
	sortStates(sts)
	return sts
}

func (r *routerTrack) takeDown(at time.Time, v *vantage, reason string) route.PeerState {
	v.up = false
	if len(v.stale) == 0 {
		v.stale = v.live
	} else {
		for k := range v.live {
			v.stale[k] = struct{}{}
		}
	}
	r.routes -= len(v.live)
	v.live = map[slot]struct{}{}
	v.pendingEoR = 0
	r.downChanges++
	return route.PeerState{Time: at, Source: Source, Peer: v.peer, Old: route.StateEstablished, New: route.StateIdle, Reason: reason}
}

// apply hands the decoded updates of one Route Monitoring message to the
// state and returns what to emit: a PeerState first when this view comes
// up with it.
func (r *routerTrack) apply(m *message, w Watcher, eorTimeout time.Duration, at time.Time) ([]route.Update, []route.PeerState) {
	k := vantageKey{peer: m.peer.key, view: m.view}
	p := route.Peer{Addr: m.peer.key.addr, ASN: m.peer.asn, Distinguisher: m.peer.key.rd, View: m.view}
	if m.view == route.ViewLocRIB {
		// The vantage point of a Loc-RIB is the router itself.
		p.Addr = m.peer.bgpID
	}
	v := r.vantage(k, p)
	var up []route.PeerState
	if !v.up {
		fams, ok := r.peersUp[k.peer]
		if !ok {
			fams = famV4 | famV6
			r.peersUp[k.peer] = fams
		}
		up = append(up, r.bringUp(at, v, fams, eorTimeout))
	}
	var out []route.Update
	for i := range m.updates {
		u := &m.updates[i]
		u.Peer = v.peer
		if r.update(v, u, w) {
			out = append(out, *u)
		}
	}
	return out, up
}

// update applies one update; it reports whether to emit it.
func (r *routerTrack) update(v *vantage, u *route.Update, w Watcher) bool {
	k := slotOf(u.Prefix, u.PathID)
	fam := familyOf(u.Prefix)
	_, held := v.live[k]
	if !u.Withdraw {
		if !w.Watched(u) {
			if !held {
				if _, st := v.stale[k]; !st {
					r.unwatched++
					return false
				}
				delete(v.stale, k)
			} else {
				// Re-announced outside the watch list: pass it on so the
				// pipeline drops the route, and forget it.
				delete(v.live, k)
				r.routes--
			}
			r.announced++
			return true
		}
		if !held {
			v.live[k] = struct{}{}
			r.routes++
			delete(v.stale, k)
		}
		u.TableDump = v.pendingEoR&fam != 0
		r.announced++
		return true
	}
	if held {
		delete(v.live, k)
		r.routes--
		r.withdrawn++
		return true
	}
	if _, ok := v.stale[k]; ok {
		delete(v.stale, k)
		r.withdrawn++
		return true
	}
	r.unknownWd++
	return false
}

// endOfRIB completes family fam of a view's initial table.
func (r *routerTrack) endOfRIB(at time.Time, k vantageKey, fam famSet) ([]route.Update, []route.PeerState) {
	v := r.vantages[k]
	if v == nil || !v.up || v.pendingEoR&fam == 0 {
		return nil, nil
	}
	return r.finish(at, v, fam, "")
}

func (r *routerTrack) finish(at time.Time, v *vantage, fams famSet, reason string) ([]route.Update, []route.PeerState) {
	v.pendingEoR &^= fams
	var ups []route.Update
	for k := range v.stale {
		if familyOf(k.prefix())&fams == 0 {
			continue
		}
		ups = append(ups, route.Update{Time: at, Source: Source, Peer: v.peer, Prefix: k.prefix(), PathID: k.id, Withdraw: true})
		delete(v.stale, k)
	}
	slices.SortFunc(ups, func(a, b route.Update) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()); c != 0 {
			return c
		}
		return cmp.Compare(a.PathID, b.PathID)
	})
	r.staleWd += len(ups)
	if len(v.stale) == 0 {
		v.stale = nil
	}
	if v.pendingEoR != 0 {
		return ups, nil
	}
	r.eorChanges++
	return ups, []route.PeerState{{Time: at, Source: Source, Peer: v.peer,
		Old: route.StateEstablished, New: route.StateEstablished, EndOfRIB: true, Reason: reason}}
}

// expire ends the initial tables whose End-of-RIB did not come in time.
func (r *routerTrack) expire(at time.Time) ([]route.Update, []route.PeerState) {
	var ups []route.Update
	var sts []route.PeerState
	keys := make([]vantageKey, 0)
	for k, v := range r.vantages {
		if v.up && v.pendingEoR != 0 && !at.Before(v.eorDeadline) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b vantageKey) int { return comparePeers(r.vantages[a].peer, r.vantages[b].peer) })
	for _, k := range keys {
		v := r.vantages[k]
		u, s := r.finish(at, v, v.pendingEoR, "no End-of-RIB within eor_timeout")
		ups, sts = append(ups, u...), append(sts, s...)
	}
	return ups, sts
}

func comparePeers(a, b route.Peer) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Distinguisher, b.Distinguisher); c != 0 {
		return c
	}
	return cmp.Compare(a.View, b.View)
}

func sortStates(s []route.PeerState) {
	slices.SortFunc(s, func(a, b route.PeerState) int { return comparePeers(a.Peer, b.Peer) })
}
