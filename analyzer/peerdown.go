package analyzer

import (
	"fmt"
	"time"

	"routewatch/route"
)

type suspectMark struct {
	asn uint32
	t   time.Time
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
		a.setState(r.slot, stale)
		n++
		a.touch(r.slot)
	}
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
