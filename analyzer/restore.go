package analyzer

import (
	"fmt"
	"net/netip"
	"slices"

	"routewatch/route"
)

// loader turns an image back into the analyzer's objects, checking every
// index.
type loader struct {
	img    *image
	attrs  []*route.Attrs
	peers  []*peerState
	slots  []*slot
	pfx    []*pfxState
	groups []*group
	events []*event
}

func inRange(i, n int, what string) error {
	if i < 0 || i >= n {
		return fmt.Errorf("%s index %d out of range (%d)", what, i, n)
	}
	return nil
}

// attr resolves an attribute index; -1 is nil.
func (l *loader) attr(i int) (*route.Attrs, error) {
	if i == -1 {
		return nil, nil
	}
	if err := inRange(i, len(l.attrs), "attrs"); err != nil {
		return nil, err
	}
	return l.attrs[i], nil
}

func (l *loader) event(i int) (*event, error) {
	if i == -1 {
		return nil, nil
	}
	if err := inRange(i, len(l.events), "event"); err != nil {
		return nil, err
	}
	return l.events[i], nil
}

func (a *Analyzer) load(img *image) error {
	l := &loader{img: img}
	a.started, a.startAt, a.now, a.nextSample, a.nextPeer, a.stats = img.Started, img.StartAt, img.Now, img.NextSample, img.NextPeer, img.Stats
	for i := range img.Attrs {
		l.attrs = append(l.attrs, &img.Attrs[i])
	}
	// Objects first, then the pointers between them.
	for range img.Events {
		l.events = append(l.events, &event{})
	}
	for _, ig := range img.Groups {
		g := &group{g: route.Group{Provider: ig.Provider, Region: ig.Region}}
		if a.groups[g.g] != nil {
			return fmt.Errorf("group %s/%s twice", ig.Provider, ig.Region)
		}
		a.groups[g.g] = g
		a.groupList = append(a.groupList, g)
		l.groups = append(l.groups, g)
	}
	for _, ip := range img.Prefixes {
		if !ip.Prefix.IsValid() || a.prefixes.get(ip.Prefix) != nil {
			return fmt.Errorf("prefix %s invalid or twice", ip.Prefix)
		}
		pf := &pfxState{prefix: ip.Prefix, origins: ip.Origins, match: ip.Match}
		for _, w := range ip.Win {
			pf.win = append(pf.win, asnCount{asn: w.ASN, n: w.N})
		}
		for _, gi := range ip.Groups {
			if err := inRange(gi, len(l.groups), "group"); err != nil {
				return err
			}
			pf.groups = append(pf.groups, l.groups[gi])
		}
		a.prefixes.put(pf)
		l.pfx = append(l.pfx, pf)
	}
	if err := l.peersAndSlots(a); err != nil {
		return err
	}
	for i, ip := range img.Prefixes {
		pf := l.pfx[i]
		for _, si := range ip.Slots {
			if err := inRange(si, len(l.slots), "slot"); err != nil {
				return err
			}
			s := l.slots[si]
			if s.pfx != pf {
				return fmt.Errorf("slot %d listed under another prefix", si)
			}
			pf.slots = append(pf.slots, s)
			pf.ids = append(pf.ids, slotID(s.peer, s.pathID))
		}
	}
	if err := l.groupState(a); err != nil {
		return err
	}
	for _, ir := range img.Win {
		if err := inRange(ir.Slot, len(l.slots), "slot"); err != nil {
			return err
		}
		from, err := l.attr(ir.FromAttrs)
		if err != nil {
			return err
		}
		s := l.slots[ir.Slot]
		a.win = append(a.win, record{t: ir.T, slot: s, pfx: s.pfx, asn: s.peer.peer.ASN, typ: ir.Typ,
			fromPresent: ir.FromPresent, fromAttrs: from, removed: ir.Removed, synced: ir.Synced})
	}
	for i := range img.Events {
		if err := l.loadEvent(i); err != nil {
			return err
		}
	}
	a.events = l.events
	for _, ii := range img.Incidents {
		inc := &incident{id: ii.ID, asn: ii.ASN}
		for _, ei := range ii.Events {
			if err := inRange(ei, len(l.events), "event"); err != nil {
				return err
			}
			inc.events = append(inc.events, l.events[ei])
		}
		for _, e := range inc.events {
			e.incident = inc
		}
	}
	for i, ie := range img.Events {
		if ie.Incident != -1 && l.events[i].incident == nil {
			return fmt.Errorf("event %d: incident %d does not list it", i, ie.Incident)
		}
	}
	return l.lists(a)
}

func (l *loader) peersAndSlots(a *Analyzer) error {
	img := l.img
	for _, ip := range img.Peers {
		if a.peers[ip.Peer] != nil {
			return fmt.Errorf("peer %v twice", ip.Peer)
		}
		p := &peerState{peer: ip.Peer, id: ip.ID, wd: ip.Wd, suspectAt: ip.SuspectAt, suspectCooldown: ip.SuspectCooldown,
			ids: ip.IDs.seq(), down: ip.Down, downStale: ip.DownStale, reannounced: ip.Reannounced}
		e, err := l.event(ip.DownEvent)
		if err != nil {
			return err
		}
		p.downEvent = e
		a.peers[ip.Peer] = p
		l.peers = append(l.peers, p)
	}
	for _, is := range img.Slots {
		if err := inRange(is.Peer, len(l.peers), "peer"); err != nil {
			return err
		}
		if err := inRange(is.Pfx, len(l.pfx), "prefix"); err != nil {
			return err
		}
		at, err := l.attr(is.Attrs)
		if err != nil {
			return err
		}
		if at == nil || is.State > uint8(stale) {
			return fmt.Errorf("slot without attributes or with state %d", is.State)
		}
		p := l.peers[is.Peer]
		s := &slot{peer: p, pfx: l.pfx[is.Pfx], attrs: at, pathID: is.PathID, pi: int32(len(p.slots)),
			refs: is.Refs, state: slotState(is.State), bogus: is.Bogus, rov: rovIndex(min(is.ROV, uint8(rovNotFound))), synced: is.Synced}
		p.slots = append(p.slots, s)
		switch s.state {
		case present:
			p.present++
		case stale:
			p.staleN++
		}
		l.slots = append(l.slots, s)
		a.slots++
	}
	return nil
}

func (l *loader) groupState(a *Analyzer) error {
	for i, ig := range l.img.Groups {
		g := l.groups[i]
		g.size, g.changed, g.corr = ig.Size, ig.Changed, ig.Corr
		g.baseline, g.bsum, g.bw = ig.Baseline, ig.BSum, ig.BW
		g.nextCheck, g.pendingAt, g.epoch, g.cooldown = ig.NextCheck, ig.PendingAt, ig.Epoch, ig.Cooldown
		g.ids = ig.IDs.seq()
		e, err := l.event(ig.Event)
		if err != nil {
			return err
		}
		g.event = e
		for _, ih := range ig.Hijack {
			k := ih.Kind
			if k < 0 || k >= len(hijackKinds) || g.hij[k] != nil || len(ih.Since) != len(ih.Slots) {
				return fmt.Errorf("group %d: bad hijack state", i)
			}
			h := g.hijack(k)
			for j, si := range ih.Slots {
				if err := inRange(si, len(l.slots), "slot"); err != nil {
					return err
				}
				s := l.slots[si]
				h.slots[s] = ih.Since[j]
				h.asns[s.peer.peer.ASN]++
				h.prefixes[s.pfx]++
			}
			if h.event, err = l.event(ih.Event); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *loader) loadEvent(i int) error {
	ie := &l.img.Events[i]
	e := l.events[i]
	*e = event{id: ie.ID, kind: ie.Kind, peer: ie.Peer, start: ie.Start, detected: ie.Detected, end: ie.End,
		lastActive: ie.LastActive, lastEmit: ie.LastEmit, dirty: ie.Dirty, deviated: ie.Deviated, peak: ie.Peak,
		visible: ie.Visible, reason: ie.Reason, stalePrefixes: ie.StalePrefixes, transit: ie.Transit,
		causeN: ie.CauseN, signals: ie.Signals, cause: ie.Cause, final: ie.Final}
	if ie.Group != -1 {
		if err := inRange(ie.Group, len(l.groups), "group"); err != nil {
			return err
		}
		e.group = l.groups[ie.Group]
	}
	if f := e.final; f != nil {
		// gob leaves empty lists out; the contract renders them as [].
		f.Transitions = nonNil(f.Transitions)
		f.Signals = nonNil(f.Signals)
		f.Origins = nonNil(f.Origins)
		f.AffectedPeers = nonNil(f.AffectedPeers)
		f.SamplePrefixes = nonNil(f.SamplePrefixes)
		return nil // resolved: the final snapshot is all it reports
	}
	if e.group == nil && e.kind != route.KindPeerDown {
		return fmt.Errorf("event %d: open %s without a group", i, e.kind)
	}
	if ie.Hijack != 0 {
		if ie.Hijack < 0 || ie.Hijack > len(hijackKinds) {
			return fmt.Errorf("event %d: hijack kind %d", i, ie.Hijack)
		}
		e.hijack = e.group.hijack(ie.Hijack - 1)
		e.origins, e.carriers = map[uint32]int{}, map[uint32]int{}
		for _, c := range ie.Origins {
			e.origins[c.ASN] = int(c.N)
		}
		for _, c := range ie.Carriers {
			e.carriers[c.ASN] = int(c.N)
		}
		copy(e.rov[:], ie.ROV)
	}
	e.base = make(map[*slot]*baseState, len(ie.Base))
	for _, ib := range ie.Base {
		if err := inRange(ib.Slot, len(l.slots), "slot"); err != nil {
			return err
		}
		at, err := l.attr(ib.Attrs)
		if err != nil {
			return err
		}
		e.base[l.slots[ib.Slot]] = &baseState{present: ib.Present, attrs: at, dev: ib.Dev, unjudged: ib.Unjudged}
	}
	e.prefixes = make(map[netip.Prefix]struct{}, len(ie.Prefixes))
	for _, p := range ie.Prefixes {
		e.prefixes[p] = struct{}{}
	}
	e.peers = make(map[route.Peer]int, len(ie.Peers))
	for _, pc := range ie.Peers {
		e.peers[pc.Peer] = pc.N
	}
	e.trans = make(map[transKey]map[netip.Prefix]struct{}, len(ie.Trans))
	for _, it := range ie.Trans {
		m := make(map[netip.Prefix]struct{}, len(it.Prefixes))
		for _, p := range it.Prefixes {
			m[p] = struct{}{}
		}
		e.trans[transKey{from: it.From, to: it.To}] = m
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// lists restores the open, pending and suspect lists and the kept origins.
func (l *loader) lists(a *Analyzer) error {
	img := l.img
	for _, ei := range img.Open {
		e, err := l.event(ei)
		if err != nil || e == nil {
			return fmt.Errorf("open event %d: %v", ei, err)
		}
		if e.final != nil || slices.Contains(a.open, e) {
			return fmt.Errorf("open event %d resolved or listed twice", ei)
		}
		a.open = append(a.open, e)
	}
	for _, gi := range img.Pending {
		if err := inRange(gi, len(l.groups), "group"); err != nil {
			return err
		}
		a.pending = append(a.pending, l.groups[gi])
	}
	for _, pi := range img.Suspects {
		if err := inRange(pi, len(l.peers), "peer"); err != nil {
			return err
		}
		a.suspects = append(a.suspects, l.peers[pi])
	}
	for _, m := range img.SuspectLog {
		a.suspectLog = append(a.suspectLog, suspectMark{asn: m.ASN, t: m.T})
	}
	for _, k := range img.Kept {
		a.keptOrigins[k.Prefix] = k.Origins
	}
	return nil
}
