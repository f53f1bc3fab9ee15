// Package scenario builds deterministic synthetic BGP scenarios as seen
// from a route collector: several vantage points (distinct ASNs, a mix of
// direct and transit paths to a cloud provider), the provider's regional
// prefixes, background noise of random flaps, and one or more regional
// events (TE shift, outage, peer session reset). A scenario is a
// time-ordered stream of route.Update and route.PeerState plus the events
// a correct analyzer must report; Write renders it as an MRT file
// (TABLE_DUMP_V2 initial table, then BGP4MP updates and state changes).
//
// The same seed always gives the same scenario.
package scenario

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"routewatch/mrtdata"
	"routewatch/route"
)

// Region is one provider/region group and its prefixes.
type Region struct {
	Provider string
	Region   string
	Prefixes []netip.Prefix
	// Origin is the provider's origin AS (default 16509).
	Origin uint32
	// Upstreams are the transit ASes the provider announces the region
	// through; the first is the one a TE shift moves away from (default
	// 3356, 2914, 1299, 174).
	Upstreams []uint32
}

// Options shape a scenario. The zero value is a usable default.
type Options struct {
	Seed int64
	// Start is when the initial table is taken (default
	// 2021-12-15T14:30:00Z); Duration is how long the scenario runs
	// (default 2h).
	Start    time.Time
	Duration time.Duration
	// Peers is the number of vantage points (default 12), each with its own
	// ASN.
	Peers int
	// DirectShare is the share of vantage points that peer with the
	// provider directly (default 0.25).
	DirectShare float64
	// Regions default to three synthetic AWS regions (us-west-2, us-west-1,
	// eu-west-1) in 198.18.0.0/15, or in 2001:db8::/32 with IPv6.
	Regions []Region
	// IPv6 gives the vantage points IPv6 addresses (and default regions
	// IPv6 prefixes).
	IPv6 bool
	// Noise is the rate of random single-route flaps per minute over the
	// whole scenario (default 4; negative for none).
	Noise float64
	// BusyPeer makes one vantage point change paths of random prefixes
	// continuously (one busy peer must not look like a provider event).
	BusyPeer bool
	// InitialAsUpdates sends the initial table as ordinary BGP4MP
	// announcements during the first minute instead of a TABLE_DUMP_V2 RIB.
	InitialAsUpdates bool
}

// Expected is an event the scenario contains.
type Expected struct {
	Kind     route.EventKind
	Provider string
	Region   string
	// Peer is the vantage point of a peer_down event.
	Peer  route.Peer
	Start time.Time
	End   time.Time
}

// Scenario is a built scenario.
type Scenario struct {
	Name       string
	Start, End time.Time
	Peers      []route.Peer
	Regions    []Region
	// Updates are time ordered; the initial table comes first (TableDump
	// set unless InitialAsUpdates).
	Updates []route.Update
	States  []route.PeerState
	// Expected lists the events in the scenario, ordered by start.
	Expected []Expected

	tags map[netip.Prefix][]route.Tag
}

// Item is one element of the merged stream: exactly one field is set.
type Item struct {
	Update *route.Update
	State  *route.PeerState
}

// Items returns updates and state changes merged in time order (a state
// change before updates of the same second).
func (s *Scenario) Items() []Item {
	out := make([]Item, 0, len(s.Updates)+len(s.States))
	i, j := 0, 0
	for i < len(s.Updates) || j < len(s.States) {
		if j < len(s.States) && (i == len(s.Updates) || !s.States[j].Time.After(s.Updates[i].Time)) {
			out = append(out, Item{State: &s.States[j]})
			j++
			continue
		}
		out = append(out, Item{Update: &s.Updates[i]})
		i++
	}
	return out
}

// Tag fills u.Tags from the scenario's regions (a tagger for tests that
// run without range files): the region of an equal prefix, or, for a
// more-specific of a region prefix, that region with route.MatchCovered.
func (s *Scenario) Tag(u *route.Update) {
	if tags, ok := s.tags[u.Prefix]; ok {
		u.Tags = tags
		return
	}
	u.Tags = nil
	for _, r := range s.Regions {
		for _, p := range r.Prefixes {
			if p.Bits() < u.Prefix.Bits() && p.Contains(u.Prefix.Addr()) {
				u.Tags = append(u.Tags, route.Tag{Provider: r.Provider, Region: r.Region, Match: route.MatchCovered})
			}
		}
	}
}

// Write renders the scenario as MRT: the initial table as TABLE_DUMP_V2
// (PEER_INDEX_TABLE and RIB records), then BGP4MP updates and state
// changes in time order.
func (s *Scenario) Write(w io.Writer) error {
	mw := mrtdata.NewWriter(w)
	items := s.Items()
	i := 0
	if len(items) > 0 && items[0].Update != nil && items[0].Update.TableDump {
		idx := make(map[route.Peer]uint16, len(s.Peers))
		for n, p := range s.Peers {
			idx[p] = uint16(n)
		}
		if err := mw.WritePeerIndexTable(s.Start, netip.MustParseAddr("192.0.2.254"), "", s.Peers); err != nil {
			return fmt.Errorf("scenario: write peer index: %w", err)
		}
		byPrefix := map[netip.Prefix][]mrtdata.RIBEntry{}
		var order []netip.Prefix
		for ; i < len(items) && items[i].Update != nil && items[i].Update.TableDump; i++ {
			u := items[i].Update
			if _, ok := byPrefix[u.Prefix]; !ok {
				order = append(order, u.Prefix)
			}
			byPrefix[u.Prefix] = append(byPrefix[u.Prefix], mrtdata.RIBEntry{PeerIndex: idx[u.Peer], Originated: u.Time, Attrs: u.Attrs})
		}
		for seq, p := range order {
			if err := mw.WriteRIB(s.Start, uint32(seq), p, byPrefix[p], false); err != nil {
				return fmt.Errorf("scenario: write rib: %w", err)
			}
		}
	}
	for ; i < len(items); i++ {
		var err error
		if it := items[i]; it.State != nil {
			err = mw.WritePeerState(*it.State)
		} else {
			err = mw.WriteUpdate(*it.Update)
		}
		if err != nil {
			return fmt.Errorf("scenario: write: %w", err)
		}
	}
	return nil
}

// WriteRanges writes the scenario's regions as an AWS ip-ranges.json
// document (service "EC2"), so that `routewatch replay --ranges` and the
// serve demo tag the scenario's prefixes with its regions. The provider
// of every region is therefore "aws".
func (s *Scenario) WriteRanges(w io.Writer) error {
	type v4 struct {
		IPPrefix string `json:"ip_prefix"`
		Region   string `json:"region"`
		Service  string `json:"service"`
		NBG      string `json:"network_border_group"`
	}
	type v6 struct {
		IPv6Prefix string `json:"ipv6_prefix"`
		Region     string `json:"region"`
		Service    string `json:"service"`
		NBG        string `json:"network_border_group"`
	}
	doc := struct {
		SyncToken  string `json:"syncToken"`
		CreateDate string `json:"createDate"`
		Prefixes   []v4   `json:"prefixes"`
		IPv6       []v6   `json:"ipv6_prefixes"`
	}{SyncToken: fmt.Sprint(s.Start.Unix()), CreateDate: s.Start.Format("2006-01-02-15-04-05"), Prefixes: []v4{}, IPv6: []v6{}}
	for _, r := range s.Regions {
		for _, p := range r.Prefixes {
			if p.Addr().Is4() {
				doc.Prefixes = append(doc.Prefixes, v4{p.String(), r.Region, "EC2", r.Region})
			} else {
				doc.IPv6 = append(doc.IPv6, v6{p.String(), r.Region, "EC2", r.Region})
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("scenario: write ranges: %w", err)
	}
	return nil
}

// vantage is one vantage point and how it reaches the provider.
type vantage struct {
	peer    route.Peer
	direct  bool
	primary int    // index into the region's upstreams
	mid     uint32 // intermediate AS between the peer and the upstream, 0 none
}

type slotKey struct {
	peer   int
	prefix netip.Prefix
}

type opKind uint8

const (
	opSet       opKind = iota // event: intended route changes (attrs nil = withdrawn)
	opNoiseDown               // noise: withdraw the route for a while
	opNoisePath               // noise: a different path for a while
	opRestore                 // noise over: back to the intended route
	opPeerDown                // session down (state change, or table withdrawn)
	opPeerUp
)

type op struct {
	t      time.Time
	seq    int
	kind   opKind
	key    slotKey
	attrs  *route.Attrs
	noTime bool // peer ops: no state change records
}

type builder struct {
	o       Options
	rng     *rand.Rand
	vps     []vantage
	regions []Region
	ops     []op
	// intended is the provider-side truth; the vantage point may show
	// noise on top.
	intended map[slotKey]*route.Attrs
	rib      map[slotKey]*route.Attrs
	s        *Scenario
}

var defaultPeerASNs = []uint32{3333, 6939, 1299, 3257, 6762, 6830, 9002, 7018, 6453, 3491, 13030, 8220, 20912, 34549, 47692, 57866, 37100, 4637, 31500, 25091}

func newBuilder(name string, o Options) *builder {
	if o.Start.IsZero() {
		o.Start = time.Date(2021, 12, 15, 14, 30, 0, 0, time.UTC)
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Hour
	}
	if o.Peers <= 0 {
		o.Peers = 12
	}
	if o.DirectShare == 0 {
		o.DirectShare = 0.25
	}
	if o.Noise == 0 {
		o.Noise = 4
	}
	if len(o.Regions) == 0 {
		o.Regions = defaultRegions(o.IPv6)
	}
	b := &builder{
		o:        o,
		rng:      rand.New(rand.NewPCG(uint64(o.Seed), 0x726f75746577)),
		intended: map[slotKey]*route.Attrs{},
		rib:      map[slotKey]*route.Attrs{},
		s:        &Scenario{Name: name, Start: o.Start, End: o.Start.Add(o.Duration), tags: map[netip.Prefix][]route.Tag{}},
	}
	for _, r := range o.Regions {
		if r.Origin == 0 {
			r.Origin = 16509
		}
		if len(r.Upstreams) == 0 {
			r.Upstreams = []uint32{3356, 2914, 1299, 174}
		}
		b.regions = append(b.regions, r)
		for _, p := range r.Prefixes {
			b.s.tags[p] = append(b.s.tags[p], route.Tag{Provider: r.Provider, Region: r.Region, Match: route.MatchEqual})
		}
	}
	b.s.Regions = b.regions
	nDirect := int(float64(o.Peers)*o.DirectShare + 0.5)
	for i := range o.Peers {
		asn := uint32(64600 + i)
		if i < len(defaultPeerASNs) {
			asn = defaultPeerASNs[i]
		}
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		if o.IPv6 {
			addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 14: byte(i >> 8), 15: byte(i + 1)})
		}
		v := vantage{peer: route.Peer{Addr: addr, ASN: asn}, direct: i < nDirect}
		// Half of the transit vantage points reach the provider through
		// its first upstream, the rest through the others.
		if t := i - nDirect; t >= 0 && t%2 == 1 {
			v.primary = 1 + b.rng.IntN(3)
		}
		if b.rng.IntN(3) == 0 {
			v.mid = uint32(64700 + b.rng.IntN(50))
		}
		b.vps = append(b.vps, v)
		b.s.Peers = append(b.s.Peers, v.peer)
	}
	b.initialTable()
	b.noise()
	return b
}

func defaultRegions(v6 bool) []Region {
	names := []string{"us-west-2", "us-west-1", "eu-west-1"}
	sizes := []int{80, 60, 80}
	var out []Region
	n := 0
	for i, name := range names {
		r := Region{Provider: "aws", Region: name}
		for range sizes[i] {
			if v6 {
				r.Prefixes = append(r.Prefixes, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i + 1), byte(n)}), 48))
			} else {
				r.Prefixes = append(r.Prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + byte(n>>8), byte(n), 0}), 24))
			}
			n++
		}
		out = append(out, r)
	}
	return out
}

// path builds the AS path a vantage point sees for a region prefix when
// the provider announces it through upstream index up (-1: the vantage
// point's own choice). prepends is the origin's prepending.
func (b *builder) path(v vantage, r Region, up int, prepends int) route.ASPath {
	seq := []uint32{v.peer.ASN}
	if !v.direct || up >= 0 {
		if up < 0 {
			up = v.primary
		}
		if v.mid != 0 {
			seq = append(seq, v.mid)
		}
		if r.Upstreams[up] != v.peer.ASN {
			seq = append(seq, r.Upstreams[up])
		}
	}
	for range prepends + 1 {
		seq = append(seq, r.Origin)
	}
	return route.ASPath{{Type: route.ASSequence, ASNs: seq}}
}

func (b *builder) attrs(v vantage, path route.ASPath) *route.Attrs {
	return &route.Attrs{
		ASPath:      path,
		Origin:      route.OriginIGP,
		NextHop:     v.peer.Addr,
		Communities: []route.Community{route.Community(v.peer.ASN<<16 | 100)},
	}
}

// prefixPrepends gives some prefixes origin prepending (TE by prefix).
func prefixPrepends(i int) int {
	if i%7 == 3 {
		return 2
	}
	return 0
}

func (b *builder) initialTable() {
	for vi, v := range b.vps {
		for _, r := range b.regions {
			for pi, p := range r.Prefixes {
				a := b.attrs(v, b.path(v, r, -1, prefixPrepends(pi)))
				k := slotKey{peer: vi, prefix: p}
				b.intended[k] = a
				b.rib[k] = a
				u := route.Update{Time: b.o.Start, Source: b.s.Name, Peer: v.peer, Prefix: p, Attrs: a, TableDump: true}
				if b.o.InitialAsUpdates {
					u.TableDump = false
					u.Time = b.o.Start.Add(time.Duration(b.rng.IntN(60)) * time.Second)
				}
				b.s.Updates = append(b.s.Updates, u)
			}
		}
	}
	slices.SortStableFunc(b.s.Updates, func(x, y route.Update) int { return x.Time.Compare(y.Time) })
}

func (b *builder) at(d time.Duration) time.Time { return b.o.Start.Add(d).Truncate(time.Second) }

func (b *builder) add(o op) {
	o.seq = len(b.ops)
	b.ops = append(b.ops, o)
}

// noise schedules random flaps of single routes at single vantage points,
// uniformly over the scenario, and optionally one busy peer.
func (b *builder) noise() {
	if b.o.Noise < 0 {
		return
	}
	minutes := b.o.Duration.Minutes()
	n := int(b.o.Noise * minutes)
	for range n {
		t := b.at(time.Duration(b.rng.Float64() * float64(b.o.Duration)))
		k := b.randomSlot()
		dur := time.Duration(10+b.rng.IntN(170)) * time.Second
		if b.rng.IntN(2) == 0 {
			b.add(op{t: t, kind: opNoiseDown, key: k})
		} else {
			b.add(op{t: t, kind: opNoisePath, key: k})
		}
		b.add(op{t: t.Add(dur), kind: opRestore, key: k})
	}
	if b.o.BusyPeer {
		vi := len(b.vps) - 1
		for t := time.Minute; t < b.o.Duration; t += 3 * time.Second {
			r := b.regions[b.rng.IntN(len(b.regions))]
			k := slotKey{peer: vi, prefix: r.Prefixes[b.rng.IntN(len(r.Prefixes))]}
			b.add(op{t: b.at(t), kind: opNoisePath, key: k})
			b.add(op{t: b.at(t + time.Duration(20+b.rng.IntN(100))*time.Second), kind: opRestore, key: k})
		}
	}
}

func (b *builder) randomSlot() slotKey {
	r := b.regions[b.rng.IntN(len(b.regions))]
	return slotKey{peer: b.rng.IntN(len(b.vps)), prefix: r.Prefixes[b.rng.IntN(len(r.Prefixes))]}
}

// teShift: at d the provider stops announcing share of the region's
// prefixes through its first upstream. Vantage points that used it move to
// the second upstream within two minutes (with extra prepending on every
// third prefix); a few prefixes are withdrawn where no other path is
// known. After dur the old announcements return. Returns the time of the
// last restoring change.
func (b *builder) teShift(ri int, d, dur time.Duration, share float64) (start, end time.Time) {
	r := b.regions[ri%len(b.regions)]
	n := int(float64(len(r.Prefixes))*share + 0.5)
	start, end = b.at(d), b.at(d)
	for pi, p := range r.Prefixes[:n] {
		for vi, v := range b.vps {
			if v.direct || v.primary != 0 {
				continue
			}
			k := slotKey{peer: vi, prefix: p}
			old := b.intended[k]
			t1 := b.at(d + time.Duration(b.rng.IntN(120))*time.Second)
			var next *route.Attrs
			if pi%10 != 9 || vi%2 == 0 {
				pre := prefixPrepends(pi)
				if pi%3 == 0 {
					pre++
				}
				next = b.attrs(v, b.path(v, r, 1, pre))
			}
			b.add(op{t: t1, kind: opSet, key: k, attrs: next})
			t2 := b.at(d + dur + time.Duration(b.rng.IntN(120))*time.Second)
			b.add(op{t: t2, kind: opSet, key: k, attrs: old})
			start = minTime(start, t1)
			end = maxTime(end, t2)
		}
	}
	b.s.Expected = append(b.s.Expected, Expected{Kind: route.KindPathShift, Provider: r.Provider, Region: r.Region, Start: start, End: end})
	return start, end
}

// outage: share of the region's prefixes disappear at every vantage point
// within 90 s (some vantage points first hunt through a longer path), and
// come back after dur.
func (b *builder) outage(ri int, d, dur time.Duration, share float64) {
	r := b.regions[ri%len(b.regions)]
	n := int(float64(len(r.Prefixes))*share + 0.5)
	start, end := b.at(d), b.at(d)
	for _, p := range r.Prefixes[:n] {
		for vi, v := range b.vps {
			k := slotKey{peer: vi, prefix: p}
			old := b.intended[k]
			t1 := b.at(d + time.Duration(b.rng.IntN(60))*time.Second)
			if vi%4 == 1 {
				// Path hunting: a longer, stale path before the withdrawal.
				up := (v.primary + 1) % len(r.Upstreams)
				b.add(op{t: t1, kind: opSet, key: k, attrs: b.attrs(v, b.path(v, r, up, 1))})
				t1 = t1.Add(time.Duration(5+b.rng.IntN(25)) * time.Second)
			}
			b.add(op{t: t1, kind: opSet, key: k})
			t2 := b.at(d + dur + time.Duration(b.rng.IntN(60))*time.Second)
			b.add(op{t: t2, kind: opSet, key: k, attrs: old})
			start = minTime(start, b.at(d))
			end = maxTime(end, t2)
		}
	}
	b.s.Expected = append(b.s.Expected, Expected{Kind: route.KindWithdrawal, Provider: r.Provider, Region: r.Region, Start: start, End: end})
}

// peerReset: vantage point vi goes away at d and comes back after dur,
// re-announcing its table. withState writes BGP4MP STATE_CHANGE records;
// without them the peer withdraws its whole table within 20 s.
func (b *builder) peerReset(vi int, d, dur time.Duration, withState bool) {
	start, end := b.at(d), b.at(d+dur)
	b.add(op{t: start, kind: opPeerDown, key: slotKey{peer: vi}, noTime: !withState})
	b.add(op{t: end, kind: opPeerUp, key: slotKey{peer: vi}, noTime: !withState})
	b.s.Expected = append(b.s.Expected, Expected{Kind: route.KindPeerDown, Peer: b.vps[vi].peer, Start: start, End: end})
}

// build turns the scheduled operations into updates.
func (b *builder) build() *Scenario {
	slices.SortStableFunc(b.ops, func(x, y op) int {
		if c := x.t.Compare(y.t); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	actual := maps(b.rib)
	intended := maps(b.rib)
	down := map[int]bool{}
	var ups []route.Update
	emit := func(t time.Time, k slotKey, a *route.Attrs) {
		if actual[k] == a {
			return
		}
		actual[k] = a
		u := route.Update{Time: t, Source: b.s.Name, Peer: b.vps[k.peer].peer, Prefix: k.prefix, Attrs: a, Withdraw: a == nil}
		ups = append(ups, u)
	}
	for _, o := range b.ops {
		k := o.key
		switch o.kind {
		case opSet:
			intended[k] = o.attrs
			if !down[k.peer] {
				emit(o.t, k, o.attrs)
			}
		case opNoiseDown:
			if !down[k.peer] && actual[k] != nil {
				emit(o.t, k, nil)
			}
		case opNoisePath:
			if cur := actual[k]; !down[k.peer] && cur != nil {
				v := b.vps[k.peer]
				// A different AS next to the origin (the vantage point's
				// own best path moved), or a longer transit path.
				seq := slices.Clone(cur.ASPath[0].ASNs)
				if len(seq) > 2 && b.rng.IntN(2) == 0 {
					seq[len(seq)-2] = uint32(64800 + b.rng.IntN(100))
				} else {
					seq = slices.Insert(seq, 1, uint32(64800+b.rng.IntN(100)))
				}
				emit(o.t, k, b.attrs(v, route.ASPath{{Type: route.ASSequence, ASNs: seq}}))
			}
		case opRestore:
			if !down[k.peer] {
				emit(o.t, k, intended[k])
			}
		case opPeerDown:
			down[k.peer] = true
			p := b.vps[k.peer].peer
			if !o.noTime {
				b.s.States = append(b.s.States, route.PeerState{Time: o.t, Source: b.s.Name, Peer: p, Old: route.StateEstablished, New: route.StateIdle, Reason: "hold timer expired"})
				for key := range actual {
					if key.peer == k.peer {
						actual[key] = nil // gone with the session, no withdrawals on the wire
					}
				}
				continue
			}
			for _, key := range b.slotsOf(k.peer) {
				if actual[key] != nil {
					t := o.t.Add(time.Duration(b.rng.IntN(20)) * time.Second)
					actual[key] = nil
					ups = append(ups, route.Update{Time: t, Source: b.s.Name, Peer: p, Prefix: key.prefix, Withdraw: true})
				}
			}
		case opPeerUp:
			down[k.peer] = false
			p := b.vps[k.peer].peer
			if !o.noTime {
				b.s.States = append(b.s.States,
					route.PeerState{Time: o.t, Source: b.s.Name, Peer: p, Old: route.StateIdle, New: route.StateActive},
					route.PeerState{Time: o.t, Source: b.s.Name, Peer: p, Old: route.StateOpenConfirm, New: route.StateEstablished})
			}
			for _, key := range b.slotsOf(k.peer) {
				if a := intended[key]; a != nil {
					emit(o.t.Add(time.Duration(b.rng.IntN(30))*time.Second), key, a)
				}
			}
		}
	}
	slices.SortStableFunc(ups, func(x, y route.Update) int { return x.Time.Compare(y.Time) })
	b.s.Updates = append(b.s.Updates, ups...)
	slices.SortStableFunc(b.s.Expected, func(x, y Expected) int { return x.Start.Compare(y.Start) })
	return b.s
}

// slotsOf lists a vantage point's slots in a fixed order.
func (b *builder) slotsOf(vi int) []slotKey {
	var out []slotKey
	for _, r := range b.regions {
		for _, p := range r.Prefixes {
			out = append(out, slotKey{peer: vi, prefix: p})
		}
	}
	return out
}

func maps(m map[slotKey]*route.Attrs) map[slotKey]*route.Attrs {
	out := make(map[slotKey]*route.Attrs, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Noise is background churn only: random flaps and one busy peer. No
// provider event is expected.
func Noise(o Options) *Scenario {
	o.BusyPeer = true
	if o.Noise == 0 {
		o.Noise = 10
	}
	return newBuilder("noise", o).build()
}

// TEShift is the model case: 30 minutes in, 70% of the first region's
// prefixes move from the provider's first upstream to its second (some
// with extra prepending, a few withdrawn at some vantage points); 40
// minutes later the old paths come back.
func TEShift(o Options) *Scenario {
	b := newBuilder("te_shift", o)
	b.teShift(0, 30*time.Minute, 40*time.Minute, 0.7)
	return b.build()
}

// Outage: 30 minutes in, 80% of the first region's prefixes are withdrawn
// at every vantage point for 20 minutes.
func Outage(o Options) *Scenario {
	b := newBuilder("outage", o)
	b.outage(0, 30*time.Minute, 20*time.Minute, 0.8)
	return b.build()
}

// PeerReset: 30 minutes in, one vantage point's session drops (BGP4MP
// STATE_CHANGE) for 5 minutes and it re-announces the same table.
func PeerReset(o Options) *Scenario {
	b := newBuilder("peer_reset", o)
	b.peerReset(len(b.vps)/2, 30*time.Minute, 5*time.Minute, true)
	return b.build()
}

// TableLoss: 30 minutes in, one vantage point withdraws its whole table
// (no state change record) and re-announces it 5 minutes later.
func TableLoss(o Options) *Scenario {
	b := newBuilder("table_loss", o)
	b.peerReset(len(b.vps)/2, 30*time.Minute, 5*time.Minute, false)
	return b.build()
}

// Overlap: a TE shift of the first region and, 3 minutes later, an outage
// of the second region (when there is one), overlapping in time.
func Overlap(o Options) *Scenario {
	b := newBuilder("overlap", o)
	b.teShift(0, 30*time.Minute, 40*time.Minute, 0.7)
	if len(b.regions) > 1 {
		b.outage(1, 33*time.Minute, 20*time.Minute, 0.8)
	}
	return b.build()
}

// IPv6Shift is TEShift over IPv6 sessions and IPv6 prefixes.
func IPv6Shift(o Options) *Scenario {
	o.IPv6 = true
	b := newBuilder("ipv6_shift", o)
	b.teShift(0, 30*time.Minute, 40*time.Minute, 0.7)
	return b.build()
}

// Build returns the named scenario (see Names).
func Build(name string, o Options) (*Scenario, error) {
	f, ok := map[string]func(Options) *Scenario{
		"te_shift": TEShift, "outage": Outage, "peer_reset": PeerReset, "table_loss": TableLoss,
		"noise": Noise, "overlap": Overlap, "ipv6_shift": IPv6Shift,
		"route53": Route53, "origin_hijack": OriginHijack, "deaggregation": Deaggregation,
		"route_leak": RouteLeak, "origin_prepend": OriginPrepend, "lone_foreign_origin": LoneForeignOrigin,
		"transit_failure": TransitFailure,
	}[name]
	if !ok {
		return nil, fmt.Errorf("scenario: build: unknown scenario %q", name)
	}
	return f(o), nil
}

// Names lists the scenarios Build knows whose regions are all of one
// provider (WriteRanges publishes every region as AWS's); see
// MultiProvider for the others.
func Names() []string {
	return []string{"te_shift", "outage", "peer_reset", "table_loss", "noise", "overlap", "ipv6_shift",
		"route53", "origin_hijack", "deaggregation", "route_leak", "origin_prepend", "lone_foreign_origin"}
}

// MultiProvider lists the scenarios whose regions belong to several
// providers (transit_failure: AWS, Azure and Google behind one transit
// AS). Tag them with Scenario.Tag: WriteRanges would label every region
// AWS's.
func MultiProvider() []string { return []string{"transit_failure"} }
