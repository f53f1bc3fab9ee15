package analyzer

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"routewatch/route"
)

// Hijack kinds: a watched prefix (equal to a published range, or tagged by
// its origin ASN) announced by an origin outside the provider's
// legitimate origins is an origin_change; a more-specific of a published
// range announced so is a more_specific. Legitimate origins of a prefix
// are the provider's configured ASNs (Config.ProviderASNs) and the origins
// seen for it in the baseline: in a table dump or in the first window
// after start. A more-specific is also legitimate when its origin is one
// of a covering watched prefix's baseline origins (a provider's or a
// customer's own de-aggregation).
//
// A route is "bogus" while it is present with an illegitimate origin.
// Each group counts its bogus routes per kind; an event opens once they
// are seen at HijackMinPeers distinct peer ASNs (no share-of-group gate:
// 15 hijacked prefixes of a 300-prefix region are an event) and resolves
// when no vantage point has a bogus route any more.

// maxBaseOrigins bounds the origins remembered per prefix (MOAS prefixes
// have two or three).
const maxBaseOrigins = 8

// hijackIndex maps a prefix's match kind to its hijack kind: 0
// origin_change, 1 more_specific, -1 none (a covering aggregate).
func hijackIndex(m route.MatchKind) int {
	switch m {
	case route.MatchEqual, route.MatchOriginASN:
		return 0
	case route.MatchCovered:
		return 1
	}
	return -1
}

var hijackKinds = [2]route.EventKind{route.KindOriginChange, route.KindMoreSpecific}

// hijackState is one group's bogus routes of one hijack kind.
type hijackState struct {
	kind     route.EventKind
	slots    map[*slot]time.Time // bogus routes now, since when
	asns     map[uint32]int      // peer ASN → bogus routes
	prefixes map[*pfxState]int   // prefix → bogus routes
	event    *event
}

func (g *group) hijack(i int) *hijackState {
	if g.hij[i] == nil {
		g.hij[i] = &hijackState{
			kind:     hijackKinds[i],
			slots:    make(map[*slot]time.Time),
			asns:     make(map[uint32]int),
			prefixes: make(map[*pfxState]int),
		}
	}
	return g.hij[i]
}

// learnOrigin adds origin to pf's baseline origins.
func learnOrigin(pf *pfxState, origin uint32) {
	if !slices.Contains(pf.origins, origin) && len(pf.origins) < maxBaseOrigins {
		pf.origins = append(pf.origins, origin)
	}
}

// judge re-evaluates whether present slot s carries a bogus route, after
// its attributes were set by an announcement.
func (a *Analyzer) judge(s *slot, u *route.Update) {
	pf := s.pfx
	if hijackIndex(pf.match) < 0 {
		return
	}
	s.rov = rovIndexOf(u.RPKI)
	origin, ok := s.attrs.ASPath.Origin()
	switch {
	case !ok:
		// An AS_SET origin names no one: nothing to judge.
		a.unbogus(s)
	case u.TableDump || a.now.Before(a.startAt.Add(a.cfg.Window)):
		// The baseline: what the table shows at start.
		learnOrigin(pf, origin)
		a.unbogus(s)
	case a.legitimate(pf, origin), a.cfg.SuppressRPKIValid && u.RPKI == route.ROVValid:
		a.unbogus(s)
	default:
		a.bogus(s, origin)
	}
}

// legitimate reports whether origin may announce pf.
func (a *Analyzer) legitimate(pf *pfxState, origin uint32) bool {
	if slices.Contains(pf.origins, origin) {
		return true
	}
	if a.providerOrigin(pf, origin) {
		return true
	}
	if pf.match != route.MatchCovered {
		return false
	}
	addr := pf.prefix.Addr()
	for bits := pf.prefix.Bits() - 1; bits >= 0; bits-- {
		q, _ := addr.Prefix(bits)
		if qf := a.prefixes.get(q); qf != nil && slices.Contains(qf.origins, origin) {
			return true
		}
	}
	return false
}

// providerOrigin reports whether origin is a configured ASN of one of
// pf's providers.
func (a *Analyzer) providerOrigin(pf *pfxState, origin uint32) bool {
	for _, g := range pf.groups {
		if slices.Contains(a.providerASNs[g.g.Provider], origin) {
			return true
		}
	}
	return false
}

// bogus marks s as carrying a bogus route from origin in each of its
// groups and opens or grows their hijack events (changes go to a.queued).
func (a *Analyzer) bogus(s *slot, origin uint32) {
	i := hijackIndex(s.pfx.match)
	for _, g := range s.pfx.groups {
		h := g.hijack(i)
		if !s.bogus {
			h.slots[s] = a.now
			h.asns[s.peer.peer.ASN]++
			h.prefixes[s.pfx]++
		}
		if e := h.event; e != nil {
			e.involveHijack(s, origin)
			e.lastActive = a.now
			continue
		}
		if len(h.asns) >= a.cfg.HijackMinPeers && len(h.prefixes) >= a.cfg.HijackMinPrefixes {
			a.queued = append(a.queued, a.openHijack(g, h))
		}
	}
	s.bogus = true
}

// unbogus clears s's bogus mark (its route was withdrawn, went stale or
// returned to a legitimate origin) and resolves the hijack events that
// have no bogus route left (changes go to a.queued).
func (a *Analyzer) unbogus(s *slot) {
	if !s.bogus {
		return
	}
	s.bogus = false
	for _, g := range s.pfx.groups {
		h := g.hij[hijackIndex(s.pfx.match)]
		if h == nil {
			continue
		}
		delete(h.slots, s)
		if h.asns[s.peer.peer.ASN]--; h.asns[s.peer.peer.ASN] <= 0 {
			delete(h.asns, s.peer.peer.ASN)
		}
		if h.prefixes[s.pfx]--; h.prefixes[s.pfx] <= 0 {
			delete(h.prefixes, s.pfx)
		}
		if e := h.event; e != nil && len(h.slots) == 0 {
			a.queued = a.resolve(e, a.now, a.queued)
		}
	}
}

func (a *Analyzer) openHijack(g *group, h *hijackState) route.EventChange {
	e := &event{
		kind:     h.kind,
		group:    g,
		hijack:   h,
		detected: a.now,
		prefixes: make(map[netip.Prefix]struct{}),
		peers:    make(map[route.Peer]int),
		origins:  make(map[uint32]int),
		carriers: make(map[uint32]int),
	}
	for s, since := range h.slots {
		if e.start.IsZero() || since.Before(e.start) {
			e.start = since
		}
		origin, _ := s.attrs.ASPath.Origin()
		e.involveHijack(s, origin)
	}
	e.lastActive = a.now
	e.id = eventID(e.kind, g.g, route.Peer{}, e.start, g.ids.next(e.kind, e.start))
	e.lastEmit = a.now
	h.event = e
	a.events = append(a.events, e)
	a.open = append(a.open, e)
	return route.EventChange{Change: route.EventOpened, Event: a.snapshot(e)}
}

// involveHijack adds bogus route s from origin to hijack event e.
func (e *event) involveHijack(s *slot, origin uint32) {
	n, np := len(e.prefixes), len(e.peers)
	e.prefixes[s.pfx.prefix] = struct{}{}
	e.peers[s.peer.peer]++
	e.origins[origin]++
	e.rov[s.rov]++
	if up, ok := s.attrs.ASPath.Upstream(); ok {
		e.carriers[up]++
	}
	if len(e.prefixes) != n || len(e.peers) != np {
		e.dirty = true
	}
}

func isHijack(k route.EventKind) bool {
	return k == route.KindOriginChange || k == route.KindMoreSpecific
}

// renderHijack fills the hijack-specific parts of ev.
func (a *Analyzer) renderHijack(e *event, ev *route.Event) {
	for p := range e.peers {
		ev.AffectedPeers = append(ev.AffectedPeers, p)
	}
	sortPeers(ev.AffectedPeers)
	ev.Peers, ev.Sessions = countPeers(ev.AffectedPeers), len(ev.AffectedPeers)
	prefixes := make([]netip.Prefix, 0, len(e.prefixes))
	for p := range e.prefixes {
		prefixes = append(prefixes, p)
	}
	slices.SortFunc(prefixes, comparePrefix)
	ev.Prefixes = len(prefixes)
	ev.SamplePrefixes = prefixes[:min(len(prefixes), a.cfg.SamplePrefixes)]
	for o := range e.origins {
		ev.Origins = append(ev.Origins, o)
	}
	slices.Sort(ev.Origins)
	if c := (route.ROVCounts{Valid: e.rov[rovValid], Invalid: e.rov[rovInvalid], NotFound: e.rov[rovNotFound]}); c.Total() > 0 {
		ev.RPKI = &c
	}
	carriers := topCounts(e.carriers, 3)
	ev.Cause = route.Cause{Side: route.SideUnknown, ASN: ev.Origins[0], Reason: fmt.Sprintf(
		"announced by %s, not a legitimate origin of %s (neither configured nor seen in the baseline)",
		asList(ev.Origins), ev.Provider)}
	var b strings.Builder
	b.WriteString(ev.Provider)
	if ev.Region != "" {
		b.WriteString(" " + ev.Region)
	}
	what := "watched prefixes"
	if e.kind == route.KindMoreSpecific {
		what = "more-specifics of watched ranges"
	}
	fmt.Fprintf(&b, ": %d %s announced by %s at %s", ev.Prefixes, what, asList(ev.Origins), peersPhrase(ev))
	if len(carriers) > 0 {
		b.WriteString("; carried by")
		for i, c := range carriers {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " AS%d (%d routes)", c.asn, c.n)
		}
	}
	if ev.End != nil {
		b.WriteString("; gone after " + ev.End.Sub(ev.Start).String())
	}
	ev.Summary = b.String()
}

// topCounts returns the n largest counts, ties by ASN.
func topCounts(m map[uint32]int, n int) []asnCount {
	out := make([]asnCount, 0, len(m))
	for asn, c := range m {
		out = append(out, asnCount{asn: asn, n: int32(c)})
	}
	slices.SortFunc(out, func(x, y asnCount) int {
		if c := cmp.Compare(y.n, x.n); c != 0 {
			return c
		}
		return cmp.Compare(x.asn, y.asn)
	})
	return out[:min(len(out), n)]
}

func asList(asns []uint32) string {
	parts := make([]string, len(asns))
	for i, a := range asns {
		parts[i] = fmt.Sprintf("AS%d", a)
	}
	return strings.Join(parts, ", ")
}

// rovIndex is a route.ROVState in one byte (slots are many).
type rovIndex uint8

const (
	rovNone rovIndex = iota
	rovValid
	rovInvalid
	rovNotFound
	rovStates
)

func rovIndexOf(s route.ROVState) rovIndex {
	switch s {
	case route.ROVValid:
		return rovValid
	case route.ROVInvalid:
		return rovInvalid
	case route.ROVNotFound:
		return rovNotFound
	}
	return rovNone
}
