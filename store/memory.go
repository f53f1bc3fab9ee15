package store

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gaissmai/bart"

	"routewatch/route"
)

// MemoryConfig configures the embedded store.
type MemoryConfig struct {
	Retention `yaml:",inline"`
	// StateFile, when set, is where the store keeps its whole state across
	// restarts (routes, history, events, peers, outbox, checkpoints):
	// loaded by OpenMemory, written every StateInterval while Run runs and
	// on Close, atomically (a temporary file renamed over it).
	StateFile string `yaml:"state_file"`
	// StateInterval is how often Run writes StateFile (default 1m).
	StateInterval time.Duration `yaml:"state_interval"`
}

// Memory is the embedded, bounded, in-process Store: the default when no
// Redis is configured. All methods are safe for concurrent use.
type Memory struct {
	cfg MemoryConfig
	ret Retention
	log *slog.Logger
	// saveMu serializes writes of the state file; closed: Close ran.
	saveMu sync.Mutex
	closed bool

	mu       sync.RWMutex
	prefixes map[netip.Prefix]*memPrefix
	// active holds prefixes with at least one path, for covering/covered
	// lookups.
	active bart.Table[*memPrefix]
	// byASN counts, per ASN, the paths of each prefix containing it.
	byASN map[uint32]map[netip.Prefix]int
	peers map[vantage]*peerRec
	// sessions holds applied session changes per peer, oldest first.
	sessions map[vantage][]route.PeerState
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
	changes    changeLog // the event change log (changelog.go)
	finOrder   []string

	// Versions (PrefixRoutes.Version): inst tells instances apart, verSeq
	// numbers prefix changes store-wide (a prefix deleted and re-created
	// never repeats a number), peerGen counts session changes.
	inst    string
	verSeq  uint64
	peerGen uint64
	evGen   uint64 // bumped by PutEvents

	checkpoints map[string]memCheckpoint
}

type memCheckpoint struct {
	data []byte
	at   time.Time
}

type memPrefix struct {
	prefix netip.Prefix
	tags   []route.Tag
	// tagsEnc is encodeTags(tags), as applyResult reports tags.
	tagsEnc string
	routes  map[routeKey]*memRoute
	hist    []histRec // oldest first
	seq     uint64
	ver     uint64 // Memory.verSeq at the last change of tags or paths
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

// NewMemory returns an empty embedded store. It neither reads nor writes
// cfg.StateFile: OpenMemory does.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.StateInterval <= 0 {
		cfg.StateInterval = DefaultStateInterval
	}
	return &Memory{
		cfg:         cfg,
		log:         slog.New(slog.DiscardHandler),
		checkpoints: map[string]memCheckpoint{},
		ret:         cfg.Retention.withDefaults(),
		prefixes:    map[netip.Prefix]*memPrefix{},
		byASN:       map[uint32]map[netip.Prefix]int{},
		peers:       map[vantage]*peerRec{},
		sessions:    map[vantage][]route.PeerState{},
		groups:      map[route.Group]*memGroup{},
		events:      map[string]route.Event{},
		evIndex:     map[string][]string{},
		deliveries:  map[string]*memDelivery{},
		finished:    map[string]Outcome{},
		inst:        newToken(),
	}
}

var _ Store = (*Memory)(nil)

// ApplyUpdates implements Store: each update goes through planPath, then
// the batch's index changes through planIndexes, as on Redis.
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
	res := make([]applyResult, len(ups))
	for i := range ups {
		res[i] = m.applyLocked(&ups[i])
	}
	pl := planIndexes(ups, res, false)
	m.applyPlanLocked(&pl)
	return nil
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

// applyLocked applies one update to its prefix (routes, history, the
// per-ASN and covered-lookup indexes, the peer's path count) and reports
// what it did, as applyScript does on Redis.
func (m *Memory) applyLocked(u *route.Update) applyResult {
	pfx := u.Prefix.Masked()
	mp := m.prefixes[pfx]
	if mp == nil {
		mp = &memPrefix{prefix: pfx, routes: map[routeKey]*memRoute{}}
		m.prefixes[pfx] = mp
	}
	res := applyResult{tags: mp.tagsEnc}
	if retag(mp.tags, u.Tags) {
		res.tagsChanged, res.oldTags = true, mp.tagsEnc
		mp.tags, mp.tagsEnc = slices.Clone(u.Tags), encodeTags(u.Tags)
		res.tags = mp.tagsEnc
		m.bumpLocked(mp)
	}
	pr := m.peerLocked(u.Peer)
	k := routeKey{Peer: u.Peer, PathID: u.PathID}
	cur := mp.routes[k]
	held := cur != nil
	act := planPath(u.Withdraw, held, held && !u.Withdraw && cur.attrs.Equal(u.Attrs), held && cur.epoch == pr.Epoch)
	res.changed, res.delta = act.changed(), act.delta()
	var old, nw *route.Attrs
	if held && act.changed() {
		o := cur.attrs
		old = &o
		m.indexASNs(pfx, cur.attrs.ASPath, -1)
	}
	switch act {
	case confirmPath:
		cur.epoch = pr.Epoch
		m.bumpLocked(mp)
	case removePath:
		delete(mp.routes, k)
		pr.Prefixes--
		if len(mp.routes) == 0 {
			m.active.Delete(pfx)
		}
	case addPath, replacePath:
		a := cloneAttrs(u.Attrs)
		nw = &a
		if act == addPath {
			pr.Prefixes++
		}
		mp.routes[k] = &memRoute{attrs: cloneAttrs(u.Attrs), since: u.Time, epoch: pr.Epoch}
		m.indexASNs(pfx, u.Attrs.ASPath, +1)
		if len(mp.routes) == 1 {
			m.active.Insert(pfx, mp)
		}
	}
	res.n = int64(len(mp.routes))
	if !act.changed() {
		return res
	}
	m.bumpLocked(mp)
	mp.seq++
	mp.hist = append(mp.hist, histRec{Seq: mp.seq, Entry: HistoryEntry{
		Time: u.Time, Prefix: pfx, Peer: u.Peer, PathID: u.PathID, Old: old, New: nw,
	}})
	m.trimLocked(mp, u.Time)
	return res
}

// applyPlanLocked applies a batch's group and peer changes (planIndexes;
// the per-prefix indexes were kept by applyLocked).
func (m *Memory) applyPlanLocked(pl *indexPlan) {
	for g, ms := range pl.members {
		for p, in := range ms {
			switch {
			case in:
				m.groupLocked(g).members[p] = struct{}{}
			case m.groups[g] != nil:
				delete(m.groups[g].members, p)
			}
		}
	}
	for g, gc := range pl.groups {
		mg := m.groupLocked(g)
		for b, c := range gc.buckets {
			mg.buckets[b] += c
		}
		if gc.last.After(mg.last) {
			mg.last = gc.last
		}
		lm := minuteOf(mg.last)
		for b := range mg.buckets {
			if b <= lm-changeWindowMinutes {
				delete(mg.buckets, b)
			}
		}
	}
	for a, pt := range pl.peers {
		pr := m.peers[a] // applyLocked created it
		if pt.asn != 0 {
			pr.Peer.ASN = pt.asn
		}
		if pt.source != "" {
			pr.Source = pt.source
		}
		if pt.last.After(pr.LastUpdate) {
			pr.LastUpdate = pt.last
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

// Ping implements Store.
func (m *Memory) Ping(ctx context.Context) error { return nil }
