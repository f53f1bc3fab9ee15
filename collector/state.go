package collector

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"routewatch/route"
)

// Address families the collector negotiates, as a bit set.
type famSet uint8

const (
	famV4 famSet = 1 << iota
	famV6
	famAll = famV4 | famV6
)

func familyOf(p netip.Prefix) famSet {
	if p.Addr().Is4() {
		return famV4
	}
	return famV6
}

// slot is a compact (prefix, path-ID) key: 24 bytes instead of the 40 of
// netip.Prefix+uint32, which matters with a million routes per peer.
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

// peerTrack is what the collector knows about one neighbor's session.
type peerTrack struct {
	asn   uint32
	state route.SessionState
	// live holds the routes announced in the current session.
	live map[slot]struct{}
	// stale holds routes of a previous session not re-announced yet; at
	// End-of-RIB those still here are withdrawn.
	stale map[slot]struct{}
	// count of live routes per family (max-prefix warn action).
	v4, v6 int
	// pendingEoR: families whose initial table is still being received.
	pendingEoR famSet
	warned     bool
	// session counts Up transitions, so a timer armed for one session
	// does not act on the next.
	session uint64
}

func (p *peerTrack) countFor(f famSet) *int {
	if f == famV4 {
		return &p.v4
	}
	return &p.v6
}

// peerEvent is a converted GoBGP peer state event.
type peerEvent struct {
	Time   time.Time
	Addr   netip.Addr
	ASN    uint32
	State  route.SessionState
	Reason string
	// Families negotiated with the peer (valid when State is Established).
	Families famSet
}

// tracker keeps per-(peer, prefix, path-ID) state. It is owned by GoBGP's
// watcher goroutine (all callbacks of one watcher run there), so it needs
// no lock.
type tracker struct {
	source string
	peers  map[netip.Addr]*peerTrack
	// warnLimit returns the max-prefix warn limit for a peer (0 = none).
	warnLimit func(netip.Addr) uint32
	// counters, read by the metrics layer after each call.
	unknownWithdrawals uint64
	staleWithdrawn     uint64
	maxPrefixWarnings  uint64
	routes             int
}

func newTracker(source string, warnLimit func(netip.Addr) uint32) *tracker {
	if warnLimit == nil {
		warnLimit = func(netip.Addr) uint32 { return 0 }
	}
	return &tracker{source: source, peers: map[netip.Addr]*peerTrack{}, warnLimit: warnLimit}
}

func (t *tracker) peer(a netip.Addr) *peerTrack {
	p := t.peers[a]
	if p == nil {
		p = &peerTrack{state: route.StateIdle, live: map[slot]struct{}{}}
		t.peers[a] = p
	}
	return p
}

// update applies one wire announcement or withdrawal to the state, sets
// u.TableDump for the initial table, and reports whether u should be
// emitted (a withdrawal of a route never announced is not).
func (t *tracker) update(u *route.Update) bool {
	p := t.peer(u.Peer.Addr)
	if u.Peer.ASN != 0 {
		p.asn = u.Peer.ASN
	}
	k := slotOf(u.Prefix, u.PathID)
	fam := familyOf(u.Prefix)
	if !u.Withdraw {
		if _, ok := p.live[k]; !ok {
			p.live[k] = struct{}{}
			*p.countFor(fam)++
			t.routes++
			if p.stale != nil {
				delete(p.stale, k)
			}
			if lim := t.warnLimit(u.Peer.Addr); lim > 0 && !p.warned && *p.countFor(fam) > int(lim) {
				p.warned = true
				t.maxPrefixWarnings++
			}
		}
		u.TableDump = p.pendingEoR&fam != 0
		return true
	}
	if _, ok := p.live[k]; ok {
		delete(p.live, k)
		*p.countFor(fam)--
		t.routes--
		return true
	}
	if _, ok := p.stale[k]; ok {
		delete(p.stale, k)
		return true
	}
	t.unknownWithdrawals++
	return false
}

// peerEvent applies a session state change. Only transitions into and out
// of Established are reported: the rest (Idle→Active→OpenSent…) says
// nothing about the routes.
func (t *tracker) peerEvent(ev peerEvent) []route.PeerState {
	p := t.peer(ev.Addr)
	if ev.ASN != 0 {
		p.asn = ev.ASN
	}
	old := p.state
	p.state = ev.State
	up := ev.State == route.StateEstablished && old != route.StateEstablished
	down := old == route.StateEstablished && ev.State != route.StateEstablished
	switch {
	case up:
		p.pendingEoR = ev.Families
		if p.pendingEoR == 0 {
			p.pendingEoR = famV4
		}
		p.warned = false
		p.session++
	case down:
		// GoBGP's Adj-RIB-In watch sends no withdrawals for a dropped
		// session: the routes become stale until the peer re-announces
		// them or finishes its next initial table without them.
		if len(p.stale) == 0 {
			p.stale = p.live
		} else {
			for k := range p.live {
				p.stale[k] = struct{}{}
			}
		}
		t.routes -= len(p.live)
		p.live = map[slot]struct{}{}
		p.v4, p.v6 = 0, 0
		p.pendingEoR = 0
	default:
		return nil
	}
	return []route.PeerState{{
		Time: ev.Time, Source: t.source,
		Peer: route.Peer{Addr: ev.Addr, ASN: p.asn},
		Old:  old, New: ev.State, Reason: ev.Reason,
	}}
}

// session returns the current session number of a peer (see peerTrack).
func (t *tracker) session(a netip.Addr) uint64 { return t.peer(a).session }

// eorTimeout ends the initial table of session n of a peer that sent no
// End-of-RIB in time, as if it had sent one for every pending family.
func (t *tracker) eorTimeout(at time.Time, a netip.Addr, n uint64) ([]route.Update, []route.PeerState) {
	p := t.peer(a)
	if p.session != n || p.state != route.StateEstablished || p.pendingEoR == 0 {
		return nil, nil
	}
	var ups []route.Update
	var sts []route.PeerState
	for _, f := range []famSet{famV4, famV6} {
		if p.pendingEoR&f != 0 {
			u, s := t.endOfRIB(at, a, f)
			ups, sts = append(ups, u...), append(sts, s...)
		}
	}
	for i := range sts {
		sts[i].Reason = "no End-of-RIB within eor_timeout"
	}
	return ups, sts
}

// endOfRIB marks family fam of a peer's initial table complete. When the
// last pending family completes, routes of the previous session that were
// not re-announced are withdrawn and a PeerState with EndOfRIB follows.
func (t *tracker) endOfRIB(at time.Time, addr netip.Addr, fam famSet) ([]route.Update, []route.PeerState) {
	p := t.peer(addr)
	if p.state != route.StateEstablished || p.pendingEoR&fam == 0 {
		return nil, nil
	}
	p.pendingEoR &^= fam
	var ups []route.Update
	peer := route.Peer{Addr: addr, ASN: p.asn}
	for k := range p.stale {
		if familyOf(k.prefix()) != fam {
			continue
		}
		ups = append(ups, route.Update{Time: at, Source: t.source, Peer: peer, Prefix: k.prefix(), PathID: k.id, Withdraw: true})
		delete(p.stale, k)
	}
	// Map order is random; a stable order makes runs reproducible.
	slices.SortFunc(ups, func(a, b route.Update) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()); c != 0 {
			return c
		}
		return cmp.Compare(a.PathID, b.PathID)
	})
	t.staleWithdrawn += uint64(len(ups))
	if len(p.stale) == 0 {
		p.stale = nil
	}
	if p.pendingEoR != 0 {
		return ups, nil
	}
	return ups, []route.PeerState{{
		Time: at, Source: t.source, Peer: peer,
		Old: route.StateEstablished, New: route.StateEstablished, EndOfRIB: true,
	}}
}
