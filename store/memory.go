package store

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gaissmai/bart"

	"routewatch/route"
)

// MemoryConfig configures the embedded store.
type MemoryConfig struct {
	Retention `yaml:",inline"`
}

// Memory is the embedded, bounded, in-process Store: the default when no
// Redis is configured. All methods are safe for concurrent use.
type Memory struct {
	ret Retention

	mu       sync.RWMutex
	prefixes map[netip.Prefix]*memPrefix
	// active holds prefixes with at least one path, for covering/covered
	// lookups.
	active bart.Table[*memPrefix]
	// byASN counts, per ASN, the paths of each prefix containing it.
	byASN map[uint32]map[netip.Prefix]int
	peers map[netip.Addr]*peerRec
	// sessions holds applied session changes per peer, oldest first.
	sessions map[netip.Addr][]route.PeerState
	groups   map[route.Group]*memGroup

	events map[string]route.Event
	// evIndex holds, per facet (as the Redis backend's lex indexes: "all",
	// "k:<kind>", "p:<provider>", "r:<region>", "pr:<provider>\t<region>",
	// "s:open"/"s:resolved"), the sorted "start|id" members, so a filtered
	// page is a binary search plus the page instead of a sort of everything.
	evIndex    map[string][]string
	evResolved int

	deliveries map[string]*memDelivery
	finished   map[string]Outcome
	finOrder   []string

	// Versions (PrefixRoutes.Version): inst tells instances apart, verSeq
	// numbers prefix changes store-wide (a prefix deleted and re-created
	// never repeats a number), peerGen counts session changes.
	inst    string
	verSeq  uint64
	peerGen uint64
	evGen   uint64 // bumped by PutEvents
}

type memPrefix struct {
	prefix netip.Prefix
	tags   []route.Tag
	routes map[routeKey]*memRoute
	hist   []histRec // oldest first
	seq    uint64
	ver    uint64 // Memory.verSeq at the last change of tags or paths
	// horizon is the newest time of a dropped history entry: RoutesAt
	// cannot reconstruct anything before it.
	horizon    time.Time
	hasHorizon bool
}

type memRoute struct {
	attrs route.Attrs
	since time.Time
	epoch uint64
}

type memGroup struct {
	members map[netip.Prefix]struct{}
	buckets map[int64]int64
	last    time.Time
}

type memDelivery struct {
	d          Delivery
	leaseUntil time.Time
}

// NewMemory returns an empty embedded store.
func NewMemory(cfg MemoryConfig) *Memory {
	return &Memory{
		ret:        cfg.Retention.withDefaults(),
		prefixes:   map[netip.Prefix]*memPrefix{},
		byASN:      map[uint32]map[netip.Prefix]int{},
		peers:      map[netip.Addr]*peerRec{},
		sessions:   map[netip.Addr][]route.PeerState{},
		groups:     map[route.Group]*memGroup{},
		events:     map[string]route.Event{},
		evIndex:    map[string][]string{},
		deliveries: map[string]*memDelivery{},
		finished:   map[string]Outcome{},
		inst:       newToken(),
	}
}

var _ Store = (*Memory)(nil)

// ApplyUpdates implements Store.
func (m *Memory) ApplyUpdates(ctx context.Context, ups []route.Update) error {
	for i := range ups {
		if err := validUpdate(&ups[i]); err != nil {
			return fmt.Errorf("store: apply updates: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: apply updates: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range ups {
		m.applyLocked(&ups[i])
	}
	return nil
}

func (m *Memory) peerLocked(p route.Peer) *peerRec {
	pr := m.peers[p.Addr]
	if pr == nil {
		pr = &peerRec{Peer: p}
		m.peers[p.Addr] = pr
	}
	if p.ASN != 0 {
		pr.Peer.ASN = p.ASN
	}
	return pr
}

// bumpLocked gives mp a new version.
func (m *Memory) bumpLocked(mp *memPrefix) {
	m.verSeq++
	mp.ver = m.verSeq
}

// versionLocked is mp's PrefixRoutes.Version.
func (m *Memory) versionLocked(mp *memPrefix) string {
	b := make([]byte, 0, len(m.inst)+42)
	b = append(b, m.inst...)
	b = append(b, ':')
	b = strconv.AppendUint(b, mp.ver, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, m.peerGen, 10)
	return string(b)
}

func (m *Memory) applyLocked(u *route.Update) {
	pfx := u.Prefix.Masked()
	mp := m.prefixes[pfx]
	if mp == nil {
		mp = &memPrefix{prefix: pfx, routes: map[routeKey]*memRoute{}}
		m.prefixes[pfx] = mp
	}
	if len(u.Tags) > 0 && !slices.Equal(mp.tags, u.Tags) {
		for _, g := range tagGroups(mp.tags) {
			if mg := m.groups[g]; mg != nil {
				delete(mg.members, pfx)
			}
		}
		mp.tags = slices.Clone(u.Tags)
		for _, g := range tagGroups(mp.tags) {
			m.groupLocked(g).members[pfx] = struct{}{}
		}
		m.bumpLocked(mp)
	}
	pr := m.peerLocked(u.Peer)
	if u.Source != "" {
		pr.Source = u.Source
	}
	if u.Time.After(pr.LastUpdate) {
		pr.LastUpdate = u.Time
	}
	k := routeKey{Peer: u.Peer, PathID: u.PathID}
	cur := mp.routes[k]
	var old, nw *route.Attrs
	if u.Withdraw {
		if cur == nil {
			return
		}
		a := cur.attrs
		old = &a
		delete(mp.routes, k)
		m.indexASNs(pfx, cur.attrs.ASPath, -1)
		pr.Prefixes--
		if len(mp.routes) == 0 {
			m.active.Delete(pfx)
		}
	} else {
		if cur != nil && cur.attrs.Equal(u.Attrs) {
			// Re-announcement: not a change, but it confirms the path in
			// the peer's current session.
			if cur.epoch != pr.Epoch {
				cur.epoch = pr.Epoch
				m.bumpLocked(mp)
			}
			return
		}
		a := cloneAttrs(u.Attrs)
		nw = &a
		if cur != nil {
			o := cur.attrs
			old = &o
			m.indexASNs(pfx, cur.attrs.ASPath, -1)
		} else {
			pr.Prefixes++
		}
		mp.routes[k] = &memRoute{attrs: cloneAttrs(u.Attrs), since: u.Time, epoch: pr.Epoch}
		m.indexASNs(pfx, u.Attrs.ASPath, +1)
		if len(mp.routes) == 1 {
			m.active.Insert(pfx, mp)
		}
	}
	m.bumpLocked(mp)
	mp.seq++
	mp.hist = append(mp.hist, histRec{Seq: mp.seq, Entry: HistoryEntry{
		Time: u.Time, Prefix: pfx, Peer: u.Peer, PathID: u.PathID, Old: old, New: nw,
	}})
	m.trimLocked(mp, u.Time)
	for _, g := range tagGroups(mp.tags) {
		mg := m.groupLocked(g)
		mg.buckets[minuteOf(u.Time)]++
		if u.Time.After(mg.last) {
			mg.last = u.Time
		}
		lm := minuteOf(mg.last)
		for b := range mg.buckets {
			if b <= lm-changeWindowMinutes {
				delete(mg.buckets, b)
			}
		}
	}
}

// trimLocked applies the count bound, then the age bound relative to the
// change just recorded: the same algorithm as the Redis script.
func (m *Memory) trimLocked(mp *memPrefix, now time.Time) {
	drop := 0
	if n := len(mp.hist) - m.ret.HistoryCount; n > 0 {
		drop = n
	}
	cut := now.Add(-m.ret.HistoryAge)
	for drop < len(mp.hist) && mp.hist[drop].Entry.Time.Before(cut) {
		drop++
	}
	for _, h := range mp.hist[:drop] {
		if !mp.hasHorizon || h.Entry.Time.After(mp.horizon) {
			mp.horizon, mp.hasHorizon = h.Entry.Time, true
		}
	}
	if drop > 0 {
		mp.hist = slices.Delete(mp.hist, 0, drop)
	}
}

func (m *Memory) groupLocked(g route.Group) *memGroup {
	mg := m.groups[g]
	if mg == nil {
		mg = &memGroup{members: map[netip.Prefix]struct{}{}, buckets: map[int64]int64{}}
		m.groups[g] = mg
	}
	return mg
}

func (m *Memory) indexASNs(p netip.Prefix, path route.ASPath, d int) {
	for _, a := range pathASNs(path) {
		set := m.byASN[a]
		if set == nil {
			set = map[netip.Prefix]int{}
			m.byASN[a] = set
		}
		set[p] += d
		if set[p] <= 0 {
			delete(set, p)
			if len(set) == 0 {
				delete(m.byASN, a)
			}
		}
	}
}

func cloneAttrs(a *route.Attrs) route.Attrs {
	c := *a
	if a.ASPath != nil {
		c.ASPath = make(route.ASPath, len(a.ASPath))
		for i, s := range a.ASPath {
			c.ASPath[i] = route.Segment{Type: s.Type, ASNs: slices.Clone(s.ASNs)}
		}
	}
	if a.Aggregator != nil {
		ag := *a.Aggregator
		c.Aggregator = &ag
	}
	c.Communities = slices.Clone(a.Communities)
	c.LargeCommunities = slices.Clone(a.LargeCommunities)
	return c
}

// ApplyPeerStates implements Store.
func (m *Memory) ApplyPeerStates(ctx context.Context, states []route.PeerState) error {
	for _, s := range states {
		if !s.Peer.Addr.IsValid() {
			return fmt.Errorf("store: apply peer states: %w peer address", ErrInvalid)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range states {
		if m.peerLocked(s.Peer).applyState(s) {
			m.peerGen++
			h := append(m.sessions[s.Peer.Addr], s)
			if len(h) > SessionHistoryLen {
				h = slices.Delete(h, 0, len(h)-SessionHistoryLen)
			}
			m.sessions[s.Peer.Addr] = h
		}
	}
	return nil
}

// EventsVersion implements Store.
func (m *Memory) EventsVersion(ctx context.Context) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.inst + ":e" + strconv.FormatUint(m.evGen, 10), nil
}

// SessionHistory implements Store.
func (m *Memory) SessionHistory(ctx context.Context, addr netip.Addr, limit int) ([]route.PeerState, error) {
	limit = clampLimit(limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	h := m.sessions[addr]
	out := make([]route.PeerState, 0, min(limit, len(h)))
	for i := len(h) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, h[i])
	}
	return out, nil
}

func (m *Memory) prefixRoutesLocked(mp *memPrefix) PrefixRoutes {
	out := PrefixRoutes{Prefix: mp.prefix, Tags: slices.Clone(mp.tags), Routes: make([]Route, 0, len(mp.routes)),
		Version: m.versionLocked(mp)}
	for k, r := range mp.routes {
		st := peerStatus{}
		if pr := m.peers[k.Peer.Addr]; pr != nil {
			st = pr.status()
		}
		out.Routes = append(out.Routes, Route{
			Peer: k.Peer, PathID: k.PathID, Attrs: cloneAttrs(&r.attrs), Since: r.since, Stale: st.stale(r.epoch),
		})
	}
	sortRoutes(out.Routes)
	return out
}

// Routes implements Store.
func (m *Memory) Routes(ctx context.Context, p netip.Prefix, match Match) ([]PrefixRoutes, error) {
	if !p.IsValid() {
		return nil, fmt.Errorf("store: routes: %w prefix", ErrInvalid)
	}
	p = p.Masked()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var found []*memPrefix
	switch match {
	case MatchExact:
		if mp, ok := m.active.Get(p); ok {
			found = append(found, mp)
		}
	case MatchCovering:
		for _, mp := range m.active.Supernets(p) {
			found = append(found, mp)
		}
	case MatchCovered:
		for _, mp := range m.active.Subnets(p) {
			found = append(found, mp)
		}
	default:
		return nil, fmt.Errorf("store: routes: unknown match %d", match)
	}
	out := make([]PrefixRoutes, 0, len(found))
	for _, mp := range found {
		out = append(out, m.prefixRoutesLocked(mp))
	}
	sort.Slice(out, func(i, j int) bool { return prefixKey(out[i].Prefix) < prefixKey(out[j].Prefix) })
	return out, nil
}

// RoutesAt implements Store.
func (m *Memory) RoutesAt(ctx context.Context, p netip.Prefix, at time.Time) (PrefixRoutes, error) {
	if !p.IsValid() {
		return PrefixRoutes{}, fmt.Errorf("store: routes at: %w prefix", ErrInvalid)
	}
	p = p.Masked()
	m.mu.RLock()
	defer m.mu.RUnlock()
	mp := m.prefixes[p]
	if mp == nil || (mp.hasHorizon && mp.horizon.After(at)) {
		return PrefixRoutes{}, ErrNotFound
	}
	cur := m.prefixRoutesLocked(mp)
	hist := make([]histRec, len(mp.hist))
	for i, h := range mp.hist {
		hist[len(hist)-1-i] = h
	}
	return reconstruct(p, cur.Tags, cur.Routes, hist, at), nil
}

// History implements Store.
func (m *Memory) History(ctx context.Context, p netip.Prefix, pg Page) ([]HistoryEntry, string, error) {
	if !p.IsValid() {
		return nil, "", fmt.Errorf("store: history: %w prefix", ErrInvalid)
	}
	before := uint64(0) // 0: from the newest
	if pg.Cursor != "" {
		pos, err := decodeCursor("h1", pg.Cursor)
		if err != nil {
			return nil, "", err
		}
		if before, err = strconv.ParseUint(pos, 10, 64); err != nil || before == 0 {
			return nil, "", ErrBadCursor
		}
	}
	limit := clampLimit(pg.Limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	mp := m.prefixes[p.Masked()]
	if mp == nil {
		return []HistoryEntry{}, "", nil
	}
	out := []HistoryEntry{}
	next := ""
	for i := len(mp.hist) - 1; i >= 0; i-- {
		h := mp.hist[i]
		if before != 0 && h.Seq >= before {
			continue
		}
		if len(out) == limit {
			next = encodeCursor("h1", strconv.FormatUint(mp.hist[i+1].Seq, 10))
			break
		}
		out = append(out, cloneEntry(h.Entry))
	}
	return out, next, nil
}

func cloneEntry(e HistoryEntry) HistoryEntry {
	if e.Old != nil {
		a := cloneAttrs(e.Old)
		e.Old = &a
	}
	if e.New != nil {
		a := cloneAttrs(e.New)
		e.New = &a
	}
	return e
}

// PrefixesByASN implements Store.
func (m *Memory) PrefixesByASN(ctx context.Context, asn uint32, pg Page) ([]netip.Prefix, string, error) {
	after := ""
	if pg.Cursor != "" {
		pos, err := decodeCursor("a1", pg.Cursor)
		if err != nil {
			return nil, "", err
		}
		if _, err := parsePrefixKey(pos); err != nil {
			return nil, "", ErrBadCursor
		}
		after = pos
	}
	limit := clampLimit(pg.Limit)
	m.mu.RLock()
	keys := make([]string, 0, len(m.byASN[asn]))
	for p := range m.byASN[asn] {
		if k := prefixKey(p); k > after {
			keys = append(keys, k)
		}
	}
	m.mu.RUnlock()
	sort.Strings(keys)
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = encodeCursor("a1", keys[limit-1])
	}
	out := make([]netip.Prefix, 0, len(keys))
	for _, k := range keys {
		p, _ := parsePrefixKey(k)
		out = append(out, p)
	}
	return out, next, nil
}

// PutEvents implements Store.
func (m *Memory) PutEvents(ctx context.Context, evs []route.Event) error {
	for _, e := range evs {
		if e.ID == "" {
			return fmt.Errorf("store: put events: %w: empty id", ErrInvalid)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evGen++
	for _, e := range evs {
		if old, ok := m.events[e.ID]; ok {
			m.unindexEventLocked(&old)
		}
		c := cloneEvent(e)
		m.events[e.ID] = c
		m.indexEventLocked(&c)
	}
	// Retention: the oldest resolved events (by start, then id) go first.
	if extra := m.evResolved - m.ret.ResolvedEvents; extra > 0 {
		for _, mem := range slices.Clone(m.evIndex["s:resolved"][:extra]) {
			_, id, _ := cutMember(mem)
			e := m.events[id]
			m.unindexEventLocked(&e)
			delete(m.events, id)
		}
	}
	return nil
}

func memEventFacets(e *route.Event) []string {
	st := "s:open"
	if !e.Open() {
		st = "s:resolved"
	}
	return []string{"all", "k:" + string(e.Kind), "p:" + e.Provider, "r:" + e.Region, "pr:" + e.Provider + "\t" + e.Region, st}
}

func (m *Memory) indexEventLocked(e *route.Event) {
	mem := eventMember(e.Start, e.ID)
	for _, f := range memEventFacets(e) {
		ix := m.evIndex[f]
		i, found := slices.BinarySearch(ix, mem)
		if !found {
			m.evIndex[f] = slices.Insert(ix, i, mem)
		}
	}
	if !e.Open() {
		m.evResolved++
	}
}

func (m *Memory) unindexEventLocked(e *route.Event) {
	mem := eventMember(e.Start, e.ID)
	for _, f := range memEventFacets(e) {
		ix := m.evIndex[f]
		if i, found := slices.BinarySearch(ix, mem); found {
			ix = slices.Delete(ix, i, i+1)
			if len(ix) == 0 {
				delete(m.evIndex, f)
			} else {
				m.evIndex[f] = ix
			}
		}
	}
	if !e.Open() {
		m.evResolved--
	}
}

func cutMember(mem string) (string, string, bool) {
	if len(mem) < 22 || mem[20] != '|' {
		return "", "", false
	}
	return mem[:20], mem[21:], true
}

func cloneEvent(e route.Event) route.Event {
	if e.End != nil {
		t := *e.End
		e.End = &t
	}
	e.Transitions = slices.Clone(e.Transitions)
	e.AffectedPeers = slices.Clone(e.AffectedPeers)
	e.SamplePrefixes = slices.Clone(e.SamplePrefixes)
	return e
}

// Event implements Store.
func (m *Memory) Event(ctx context.Context, id string) (route.Event, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.events[id]
	if !ok {
		return route.Event{}, ErrNotFound
	}
	return cloneEvent(e), nil
}

// Events implements Store: it walks the smallest facet index that applies,
// from the cursor or From (binary search) until To, and filters the rest.
func (m *Memory) Events(ctx context.Context, f EventFilter) ([]route.Event, string, error) {
	after := ""
	if f.Page.Cursor != "" {
		pos, err := decodeCursor("e1", f.Page.Cursor)
		if err != nil {
			return nil, "", err
		}
		if !validEventMember(pos) {
			return nil, "", ErrBadCursor
		}
		after = pos
	}
	limit := clampLimit(f.Page.Limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	ix := m.evIndex["all"]
	pick := func(name string) {
		if cand := m.evIndex[name]; len(cand) < len(ix) {
			ix = cand
		}
	}
	switch {
	case f.Provider != "" && f.Region != "":
		pick("pr:" + f.Provider + "\t" + f.Region)
	case f.Provider != "":
		pick("p:" + f.Provider)
	case f.Region != "":
		pick("r:" + f.Region)
	}
	if f.Kind != "" {
		pick("k:" + string(f.Kind))
	}
	switch f.Status {
	case StatusOpen:
		pick("s:open")
	case StatusResolved:
		pick("s:resolved")
	}
	start := 0
	if !f.From.IsZero() {
		start, _ = slices.BinarySearch(ix, startKey(f.From))
	}
	if after != "" {
		i, found := slices.BinarySearch(ix, after)
		if found {
			i++
		}
		start = max(start, i)
	}
	// Members are fixed-width "start|id": once the start key passes To's,
	// every later member starts after To.
	toKey := ""
	if !f.To.IsZero() {
		toKey = startKey(f.To)
	}
	out := []route.Event{}
	next := ""
	for i := start; i < len(ix); i++ {
		mem := ix[i]
		if toKey != "" && mem[:20] > toKey {
			break
		}
		_, id, _ := cutMember(mem)
		e, ok := m.events[id]
		if !ok || !eventMatches(&e, &f) {
			continue
		}
		if len(out) == limit {
			next = encodeCursor("e1", eventMember(out[limit-1].Start, out[limit-1].ID))
			break
		}
		out = append(out, cloneEvent(e))
	}
	return out, next, nil
}

// Peers implements Store.
func (m *Memory) Peers(ctx context.Context) ([]PeerInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]PeerInfo, 0, len(m.peers))
	for _, p := range m.peers {
		out = append(out, p.info())
	}
	sortPeers(out)
	return out, nil
}

func sortPeers(ps []PeerInfo) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Peer.Addr.Less(ps[j].Peer.Addr) })
}

func (m *Memory) summaryLocked(g route.Group, mg *memGroup) GroupSummary {
	s := GroupSummary{Provider: g.Provider, Region: g.Region, LastChange: mg.last}
	for p := range mg.members {
		mp := m.prefixes[p]
		if mp == nil || len(mp.routes) == 0 {
			continue
		}
		s.Prefixes++
		s.PeerPaths += len(mp.routes)
		for k, r := range mp.routes {
			st := peerStatus{}
			if pr := m.peers[k.Peer.Addr]; pr != nil {
				st = pr.status()
			}
			if !st.stale(r.epoch) {
				s.Visible++
				break
			}
		}
	}
	if !mg.last.IsZero() {
		s.Changes = countWindow(mg.buckets, mg.last)
	}
	return s
}

// Groups implements Store.
func (m *Memory) Groups(ctx context.Context) ([]GroupSummary, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []GroupSummary{}
	for g, mg := range m.groups {
		if len(mg.members) == 0 {
			continue
		}
		out = append(out, m.summaryLocked(g, mg))
	}
	sortGroups(out)
	return out, nil
}

// Group implements Store.
func (m *Memory) Group(ctx context.Context, provider, region string) (GroupSummary, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g := route.Group{Provider: provider, Region: region}
	mg := m.groups[g]
	if mg == nil || len(mg.members) == 0 {
		return GroupSummary{}, ErrNotFound
	}
	return m.summaryLocked(g, mg), nil
}

// Enqueue implements Store.
func (m *Memory) Enqueue(ctx context.Context, ds []Delivery) error {
	for _, d := range ds {
		if d.ID == "" {
			return fmt.Errorf("store: enqueue: %w: empty id", ErrInvalid)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		if _, ok := m.deliveries[d.ID]; ok {
			continue
		}
		if _, ok := m.finished[d.ID]; ok {
			continue
		}
		d.Payload = slices.Clone(d.Payload)
		m.deliveries[d.ID] = &memDelivery{d: d}
	}
	return nil
}

func (md *memDelivery) dueAt() time.Time {
	if md.leaseUntil.After(md.d.NextAttempt) {
		return md.leaseUntil
	}
	return md.d.NextAttempt
}

// Due implements Store.
func (m *Memory) Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	if limit <= 0 {
		return []Delivery{}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*memDelivery
	for _, md := range m.deliveries {
		if !md.dueAt().After(now) {
			due = append(due, md)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		a, b := due[i].dueAt(), due[j].dueAt()
		if !a.Equal(b) {
			return a.Before(b)
		}
		return due[i].d.ID < due[j].d.ID
	})
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]Delivery, len(due))
	for i, md := range due {
		md.leaseUntil = now.Add(lease)
		out[i] = md.d
		out[i].Payload = slices.Clone(md.d.Payload)
	}
	return out, nil
}

// Reschedule implements Store.
func (m *Memory) Reschedule(ctx context.Context, d Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	md := m.deliveries[d.ID]
	if md == nil {
		return ErrNotFound
	}
	md.d.Attempts = d.Attempts
	md.d.NextAttempt = d.NextAttempt
	md.d.LastError = d.LastError
	md.leaseUntil = time.Time{}
	return nil
}

// Finish implements Store.
func (m *Memory) Finish(ctx context.Context, id string, o Outcome, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.deliveries[id]; !ok {
		if _, done := m.finished[id]; done {
			return nil
		}
		return ErrNotFound
	}
	delete(m.deliveries, id)
	m.finished[id] = o
	m.finOrder = append(m.finOrder, id)
	if extra := len(m.finOrder) - m.ret.FinishedDeliveries; extra > 0 {
		for _, old := range m.finOrder[:extra] {
			delete(m.finished, old)
		}
		m.finOrder = slices.Delete(m.finOrder, 0, extra)
	}
	return nil
}

// Ping implements Store.
func (m *Memory) Ping(ctx context.Context) error { return nil }

// Close implements Store.
func (m *Memory) Close() error { return nil }

// RoutesPage implements Store. A covered page seeks into the prefix tree
// (coveredAfter), so it costs the tree depth plus the page.
func (m *Memory) RoutesPage(ctx context.Context, p netip.Prefix, match Match, pg Page) ([]PrefixRoutes, string, error) {
	out, next, q, err := routesPage(ctx, m.Routes, p, match, pg)
	if err != nil || !q.covered {
		return out, next, err
	}
	p, after, limit := q.prefix, q.after, q.limit
	roots := []netip.Prefix{p}
	if after.IsValid() {
		roots = coveredAfter(p, after)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out = []PrefixRoutes{}
walk:
	for _, root := range roots {
		for sub, mp := range m.active.Subnets(root) {
			if sub == after {
				continue
			}
			if len(out) == limit {
				next = routesCursor(out[limit-1].Prefix)
				break walk
			}
			out = append(out, m.prefixRoutesLocked(mp))
		}
	}
	return out, next, nil
}

// GroupPrefixes implements Store.
func (m *Memory) GroupPrefixes(ctx context.Context, provider, region string, pg Page) ([]PrefixVisibility, string, error) {
	after, err := parseGroupCursor(pg.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := clampLimit(pg.Limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	mg := m.groups[route.Group{Provider: provider, Region: region}]
	if mg == nil {
		return []PrefixVisibility{}, "", nil
	}
	keys := make([]string, 0, len(mg.members))
	for p := range mg.members {
		if mp := m.prefixes[p]; mp != nil && len(mp.routes) > 0 {
			if k := prefixKey(p); k > after {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = groupCursor(keys[limit-1])
	}
	out := make([]PrefixVisibility, 0, len(keys))
	for _, k := range keys {
		p, _ := parsePrefixKey(k)
		mp := m.prefixes[p]
		peers := make([]netip.Addr, 0, len(mp.routes))
		stale := make([]bool, 0, len(mp.routes))
		for rk, r := range mp.routes {
			st := peerStatus{}
			if pr := m.peers[rk.Peer.Addr]; pr != nil {
				st = pr.status()
			}
			peers = append(peers, rk.Peer.Addr)
			stale = append(stale, st.stale(r.epoch))
		}
		out = append(out, visibility(p, peers, func(i int) bool { return stale[i] }))
	}
	return out, next, nil
}
