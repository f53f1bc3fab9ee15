package ranges

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/gaissmai/bart"

	"routewatch/route"
)

// Set is an immutable, concurrency-safe collection of published ranges.
// A nil *Set matches nothing.
type Set struct {
	table   bart.Fast[*node]
	roots   children               // published ranges inside no other published range
	watch   map[uint32][]route.Tag // origin ASN -> shared MatchOriginASN tags
	sources []Source
	entries int

	// cache remembers covering answers for prefixes that are not
	// published themselves (aggregates): replay asks for the same prefix
	// once per peer. It is emptied when it reaches maxCached entries.
	mu    sync.RWMutex
	cache map[netip.Prefix][]route.Tag
}

// maxCached bounds the covering cache (~100 B per entry plus its tags).
const maxCached = 1 << 16

// node is one distinct published prefix. Its tags live in one backing
// array laid out as [own as Equal | ancestors as Covered | own as Covered]
// so that both common answers are contiguous sub-slices:
//
//	equal   = buf[:nOwn+nAnc]  (p is exactly this range)
//	covered = buf[nOwn:]       (p is a more-specific inside this range)
//
// "ancestors" are the tags of every less-specific published range around
// this one, minus tags this range already carries itself.
type node struct {
	buf        []route.Tag
	nOwn, nAnc int32
	bits       int32 // prefix length: tells equal from covered without LPM's prefix
	// br is nil for the ~95 % of ranges with no published range inside:
	// keeping its fields out of node keeps the set small.
	br *branch
}

// branch is what a range with published ranges inside it carries.
type branch struct {
	kids children
	// below: own and all descendants' tags as Covering, deduplicated — what
	// an aggregate over this range gets from it.
	below []route.Tag
	// cover: the answer when p is exactly this range (equal plus the
	// descendants' tags as Covering).
	cover []route.Tag
}

// children are the next more-specific published ranges inside one range
// (or the roots), sorted by first address. They are disjoint, so the ones
// inside a prefix form one run found by binary search.
type children struct {
	addrs []netip.Addr
	nodes []*node
}

func (c *children) add(a netip.Addr, n *node) {
	c.addrs = append(c.addrs, a)
	c.nodes = append(c.nodes, n)
}

// sort orders the children by address, and clips the slices.
func (c *children) sort() {
	idx := make([]int, len(c.addrs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int { return c.addrs[i].Compare(c.addrs[j]) })
	addrs, nodes := make([]netip.Addr, len(idx)), make([]*node, len(idx))
	for k, i := range idx {
		addrs[k], nodes[k] = c.addrs[i], c.nodes[i]
	}
	c.addrs, c.nodes = addrs, nodes
}

// inside returns the index range of the children that start inside p. For
// children of p's longest strict supernet (or roots when p has none), no
// child contains p, so these are exactly the ranges strictly inside p.
func (c *children) inside(p netip.Prefix) (from, to int) {
	from, _ = slices.BinarySearchFunc(c.addrs, p.Addr(), netip.Addr.Compare)
	to = from
	for to < len(c.addrs) && p.Contains(c.addrs[to]) {
		to++
	}
	return from, to
}

func (n *node) equal() []route.Tag {
	k := n.nOwn + n.nAnc
	return n.buf[:k:k] // capped: an append by a caller must not write into buf
}

func (n *node) covered() []route.Tag { return n.buf[n.nOwn:] }

func (n *node) own() []route.Tag { return n.buf[:n.nOwn] }

// identity is a tag without its match kind.
func identity(t route.Tag) route.Tag {
	t.Match = 0
	return t
}

// NewSet builds a set from entries. watch maps provider names to origin
// ASNs whose announcements are tagged when no range matches (nil: none).
// Duplicate (prefix, tag) entries collapse; different tags on one prefix
// merge.
func NewSet(entries []Entry, watch map[string][]uint32) *Set {
	s := &Set{entries: len(entries)}

	byPrefix := make(map[netip.Prefix][]route.Tag, len(entries))
	for _, e := range entries {
		p := e.Prefix.Masked()
		if !p.IsValid() {
			continue
		}
		t := identity(e.Tag)
		if !slices.Contains(byPrefix[p], t) {
			byPrefix[p] = append(byPrefix[p], t)
		}
	}

	// Parents before children: then the longest published supernet of a
	// prefix is already in the table when the prefix is added.
	prefixes := slices.SortedFunc(maps.Keys(byPrefix), func(a, b netip.Prefix) int {
		if c := cmp.Compare(a.Bits(), b.Bits()); c != 0 {
			return c
		}
		return a.Addr().Compare(b.Addr())
	})
	nodes := make([]*node, 0, len(prefixes))
	for _, p := range prefixes {
		own := dropShadowed(byPrefix[p])
		slices.SortFunc(own, compareTags)
		n := &node{bits: int32(p.Bits())}
		var anc []route.Tag
		if _, parent, ok := s.table.LookupPrefixLPM(p); ok {
			if parent.br == nil {
				parent.br = &branch{}
			}
			parent.br.kids.add(p.Addr(), n)
			for _, t := range parent.covered() {
				if !slices.Contains(own, identity(t)) {
					anc = append(anc, t)
				}
			}
		} else {
			s.roots.add(p.Addr(), n)
		}
		n.nOwn, n.nAnc = int32(len(own)), int32(len(anc))
		n.buf = make([]route.Tag, 0, 2*len(own)+len(anc))
		for _, t := range own {
			t.Match = route.MatchEqual
			n.buf = append(n.buf, t)
		}
		n.buf = append(n.buf, anc...)
		for _, t := range own {
			t.Match = route.MatchCovered
			n.buf = append(n.buf, t)
		}
		s.table.Insert(p, n)
		nodes = append(nodes, n)
	}
	s.roots.sort()
	// Children before parents: a node's below is built from its kids'.
	for _, n := range slices.Backward(nodes) {
		if n.br == nil {
			continue
		}
		br := n.br
		br.kids.sort()
		var u tagUnion
		for _, t := range n.own() {
			t.Match = route.MatchCovering
			u.add([]route.Tag{t})
		}
		for _, k := range br.kids.nodes {
			u.addBelow(k)
		}
		br.below = slices.Clip(u.tags)
		u = tagUnion{tags: slices.Clone(n.equal())}
		u.add(br.below)
		br.cover = slices.Clip(u.tags)
	}

	s.watch = watchTags(watch)
	return s
}

// tagUnion collects tags once per identity; the first kind seen wins
// (callers add the closest relation first).
type tagUnion struct {
	tags []route.Tag
	seen map[route.Tag]struct{} // once the union grows past a linear scan
}

func (u *tagUnion) has(id route.Tag) bool {
	if u.seen != nil {
		_, ok := u.seen[id]
		return ok
	}
	for _, t := range u.tags {
		if identity(t) == id {
			return true
		}
	}
	return false
}

func (u *tagUnion) add(tags []route.Tag) {
	for _, t := range tags {
		id := identity(t)
		if u.has(id) {
			continue
		}
		u.tags = append(u.tags, t)
		if u.seen != nil {
			u.seen[id] = struct{}{}
		} else if len(u.tags) > 32 {
			u.seen = make(map[route.Tag]struct{}, 2*len(u.tags))
			for _, o := range u.tags {
				u.seen[identity(o)] = struct{}{}
			}
		}
	}
}

// addBelow adds what an aggregate over n gets from it: n.below, or for a
// leaf its own tags as Covering.
func (u *tagUnion) addBelow(n *node) {
	if n.br != nil {
		u.add(n.br.below)
		return
	}
	for _, t := range n.own() {
		t.Match = route.MatchCovering
		u.add([]route.Tag{t})
	}
}

// dropShadowed removes a region-less tag when the same provider and service
// also tag this prefix with a region. Azure lists every prefix both under
// a global tag (AzureCloud, Storage, ...) and its regional one; the global
// copy adds nothing and would count the prefix twice per provider.
func dropShadowed(tags []route.Tag) []route.Tag {
	out := tags[:0:0]
	for _, t := range tags {
		if t.Region == "" && slices.ContainsFunc(tags, func(o route.Tag) bool {
			return o.Region != "" && o.Provider == t.Provider && o.Service == t.Service
		}) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func compareTags(a, b route.Tag) int {
	return cmp.Or(
		cmp.Compare(a.Provider, b.Provider),
		cmp.Compare(a.Region, b.Region),
		cmp.Compare(a.Service, b.Service),
		cmp.Compare(a.BorderGroup, b.BorderGroup),
		cmp.Compare(a.Match, b.Match),
	)
}

func watchTags(watch map[string][]uint32) map[uint32][]route.Tag {
	if len(watch) == 0 {
		return nil
	}
	out := map[uint32][]route.Tag{}
	for _, provider := range slices.Sorted(maps.Keys(watch)) {
		for _, asn := range watch[provider] {
			t := route.Tag{Provider: provider, Match: route.MatchOriginASN}
			if !slices.Contains(out[asn], t) {
				out[asn] = append(out[asn], t)
			}
		}
	}
	for asn, tags := range out {
		out[asn] = slices.Clip(tags)
	}
	return out
}

// Match returns the tags of every published range that p equals, covers or
// is covered by, with Tag.Match saying which. A tag reached several ways
// is reported once, by the closest relation: equal, then covered, then
// covering. IPv4 and IPv6 alike; host bits in p are ignored.
//
// The result is nil when nothing matches (no allocation); otherwise it is
// a shared slice: read it, never modify it.
func (s *Set) Match(p netip.Prefix) []route.Tag {
	if s == nil || !p.IsValid() {
		return nil
	}
	// One trie walk answers the common case: nothing overlaps p.
	if !s.table.OverlapsPrefix(p) {
		return nil
	}
	p = p.Masked()
	n, ok := s.table.LookupPrefix(p)
	switch {
	case !ok: // p only covers ranges: an aggregate
		return s.cached(p, nil, &s.roots)
	case int(n.bits) == p.Bits():
		if n.br != nil {
			return n.br.cover
		}
		return n.equal()
	case n.br == nil:
		return n.covered()
	default: // p is inside n, and may cover some of n's kids
		from, to := n.br.kids.inside(p)
		if from == to {
			return n.covered()
		}
		return s.cached(p, n.covered(), &n.br.kids)
	}
}

// cached returns base plus, as Covering, the tags of the ranges in c that
// lie inside p, remembering the answer.
func (s *Set) cached(p netip.Prefix, base []route.Tag, c *children) []route.Tag {
	s.mu.RLock()
	tags, ok := s.cache[p]
	s.mu.RUnlock()
	if ok {
		return tags
	}
	u := tagUnion{tags: slices.Clone(base)}
	from, to := c.inside(p)
	for _, k := range c.nodes[from:to] {
		u.addBelow(k)
	}
	tags = slices.Clip(u.tags)
	s.mu.Lock()
	if s.cache == nil || len(s.cache) >= maxCached {
		// Start over rather than stop caching: a RIB lists one prefix's
		// routes together, so recent prefixes are the ones asked again.
		s.cache = make(map[netip.Prefix][]route.Tag, 1024)
	}
	s.cache[p] = tags
	s.mu.Unlock()
	return tags
}

// Tag sets u.Tags: the Match of u.Prefix, or, when no range matches and
// the announcement's origin AS is on a provider's watch list, that
// provider with region "" and route.MatchOriginASN. Otherwise u.Tags is
// nil. Withdrawals carry no attributes, so only ranges can tag them; the
// analyzer carries tags forward from the slot's previous announcement.
// The slice stored in u.Tags is shared: never modify it.
func (s *Set) Tag(u *route.Update) {
	if s == nil {
		u.Tags = nil
		return
	}
	tags := s.Match(u.Prefix)
	if tags == nil && s.watch != nil && u.Attrs != nil {
		if asn, ok := u.Attrs.ASPath.Origin(); ok {
			tags = s.watch[asn]
		}
	}
	u.Tags = tags
}

// Len is the number of distinct published prefixes.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.table.Size()
}

// Entries is the number of (prefix, tag) entries the set was built from,
// before duplicates merged.
func (s *Set) Entries() int {
	if s == nil {
		return 0
	}
	return s.entries
}

// Sources describes where the set's entries came from (empty for sets made
// with NewSet directly).
func (s *Set) Sources() []Source {
	if s == nil {
		return nil
	}
	return slices.Clone(s.sources)
}

// Source describes one loaded spec.
type Source struct {
	Spec     string `json:"spec"`
	Format   Format `json:"format"`
	Provider string `json:"provider"`
	Entries  int    `json:"entries"`
	V4       int    `json:"v4"`
	V6       int    `json:"v6"`
	// ETag and LastModified are the HTTP validators of the last fetch, or
	// "" for files.
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// Roots returns the published ranges that lie inside no other published
// range, sorted by address: what a feed subscription must cover.
func (s *Set) Roots() []netip.Prefix {
	if s == nil {
		return nil
	}
	out := make([]netip.Prefix, len(s.roots.addrs))
	for i, a := range s.roots.addrs {
		out[i] = netip.PrefixFrom(a, int(s.roots.nodes[i].bits))
	}
	return out
}

// WatchedASNs returns the origin ASNs on the watch list, sorted.
func (s *Set) WatchedASNs() []uint32 {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.watch))
}
