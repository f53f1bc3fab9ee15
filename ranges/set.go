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
	watch   map[uint32][]route.Tag // origin ASN -> shared MatchOriginASN tags
	sources []Source
	entries int

	// cache remembers covering results. Computing one walks every range
	// inside p (an Azure /16 aggregate covers hundreds), and replay asks
	// for the same prefix once per peer. Bounded by maxCached.
	mu    sync.RWMutex
	cache map[netip.Prefix][]route.Tag
}

// maxCached bounds the covering cache: ~100 B per entry plus its tags.
const maxCached = 1 << 16

// node is one distinct published prefix. Its tags live in one backing
// array laid out as [own as Equal | ancestors as Covered | own as Covered]
// so that both precomputed answers are contiguous sub-slices:
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
	// kids are the first addresses of the next more-specific published
	// ranges inside this one, sorted. They are disjoint, so one binary
	// search tells whether a prefix inside this range covers any range.
	kids []netip.Addr
}

// kidIn reports whether a published range lies strictly inside p, given
// that this node is p's longest strict supernet: no kid then contains p,
// so a kid overlaps p exactly when it starts inside p.
func (n *node) kidIn(p netip.Prefix) bool {
	i, _ := slices.BinarySearchFunc(n.kids, p.Addr(), netip.Addr.Compare)
	return i < len(n.kids) && p.Contains(n.kids[i])
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
		var anc []route.Tag
		if _, parent, ok := s.table.LookupPrefixLPM(p); ok {
			parent.kids = append(parent.kids, p.Addr())
			for _, t := range parent.covered() {
				if !slices.Contains(own, identity(t)) {
					anc = append(anc, t)
				}
			}
		}
		n := &node{nOwn: int32(len(own)), nAnc: int32(len(anc)), bits: int32(p.Bits())}
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
	for _, n := range nodes {
		slices.SortFunc(n.kids, netip.Addr.Compare)
		n.kids = slices.Clip(n.kids)
	}

	s.watch = watchTags(watch)
	return s
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
// usually a shared slice: read it, never modify it.
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
	var base []route.Tag
	if ok {
		if int(n.bits) == p.Bits() {
			base = n.equal()
			if len(n.kids) == 0 {
				return base
			}
		} else {
			base = n.covered()
			if !n.kidIn(p) {
				return base
			}
		}
	}
	s.mu.RLock()
	tags, ok := s.cache[p]
	s.mu.RUnlock()
	if ok {
		return tags
	}
	tags = s.covering(p, base)
	s.mu.Lock()
	if len(s.cache) < maxCached {
		if s.cache == nil {
			s.cache = map[netip.Prefix][]route.Tag{}
		}
		s.cache[p] = slices.Clip(tags)
	}
	s.mu.Unlock()
	return tags
}

// covering appends, as MatchCovering, the tags of the ranges strictly
// inside p that base does not already carry. It allocates only when it
// adds something.
func (s *Set) covering(p netip.Prefix, base []route.Tag) []route.Tag {
	out := base
	grown := false
	var seen map[route.Tag]struct{} // for big results (a /8 over thousands of ranges)
	has := func(t route.Tag) bool {
		if seen != nil {
			_, ok := seen[t]
			return ok
		}
		for _, o := range out {
			if identity(o) == t {
				return true
			}
		}
		return false
	}
	for sub, n := range s.table.Subnets(p) {
		if sub.Bits() == p.Bits() {
			continue
		}
		for _, t := range n.own() {
			id := identity(t)
			if has(id) {
				continue
			}
			if !grown {
				out = append(make([]route.Tag, 0, len(base)+4), base...)
				grown = true
			}
			t.Match = route.MatchCovering
			out = append(out, t)
			if seen != nil {
				seen[id] = struct{}{}
			} else if len(out) > 32 {
				seen = make(map[route.Tag]struct{}, 2*len(out))
				for _, o := range out {
					seen[identity(o)] = struct{}{}
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
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
