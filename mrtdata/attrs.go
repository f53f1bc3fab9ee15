package mrtdata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"routewatch/route"
)

// pathAttrs holds the raw path attributes of one UPDATE or RIB entry. It is
// reused between records; build() copies what it keeps into a fresh
// route.Attrs.
type pathAttrs struct {
	seenBits  uint64
	asLen     int
	origin    byte
	asPath    []byte
	as4Path   []byte
	nextHop   netip.Addr
	med, lp   uint32
	aggr      []byte
	as4Aggr   []byte
	comms     []byte
	large     []byte
	mpReach   [][]byte
	mpUnreach [][]byte
	mpAbbrev  []byte // TABLE_DUMP_V2 abbreviated MP_REACH: next hop length + next hop
	mem       *slab
}

func (pa *pathAttrs) seen(t int) bool { return pa.seenBits&(1<<uint(t)) != 0 }

var errAttrShort = errors.New("path attribute header beyond the attribute field")

// parse splits b into attributes. asLen is the ASN size of AS_PATH (2 for
// BGP4MP MESSAGE and TABLE_DUMP, 4 otherwise).
func (pa *pathAttrs) parse(b []byte, asLen int) error {
	*pa = pathAttrs{asLen: asLen, mpReach: pa.mpReach[:0], mpUnreach: pa.mpUnreach[:0], mem: pa.mem}
	for len(b) > 0 {
		if len(b) < 3 {
			return errAttrShort
		}
		flags, typ := b[0], int(b[1])
		var l int
		if flags&flagExtLen != 0 {
			if len(b) < 4 {
				return errAttrShort
			}
			l = int(binary.BigEndian.Uint16(b[2:]))
			b = b[4:]
		} else {
			l = int(b[2])
			b = b[3:]
		}
		if l > len(b) {
			return fmt.Errorf("path attribute %d length %d beyond the attribute field (%d bytes left)", typ, l, len(b))
		}
		v := b[:l]
		b = b[l:]
		if typ < 64 {
			pa.seenBits |= 1 << uint(typ)
		}
		switch typ {
		case attrOrigin:
			if l != 1 {
				return fmt.Errorf("ORIGIN length %d", l)
			}
			pa.origin = v[0]
		case attrASPath:
			if err := validASPath(v, asLen); err != nil {
				return err
			}
			pa.asPath = v
		case attrAS4Path:
			if err := validASPath(v, 4); err != nil {
				return fmt.Errorf("AS4_PATH: %w", err)
			}
			pa.as4Path = v
		case attrNextHop:
			if l != 4 {
				return fmt.Errorf("NEXT_HOP length %d", l)
			}
			pa.nextHop = netip.AddrFrom4([4]byte(v))
		case attrMED:
			if l != 4 {
				return fmt.Errorf("MULTI_EXIT_DISC length %d", l)
			}
			pa.med = binary.BigEndian.Uint32(v)
		case attrLocalPref:
			if l != 4 {
				return fmt.Errorf("LOCAL_PREF length %d", l)
			}
			pa.lp = binary.BigEndian.Uint32(v)
		case attrAggregator:
			if l != 6 && l != 8 {
				return fmt.Errorf("AGGREGATOR length %d", l)
			}
			pa.aggr = v
		case attrAS4Aggregator:
			if l != 8 {
				return fmt.Errorf("AS4_AGGREGATOR length %d", l)
			}
			pa.as4Aggr = v
		case attrCommunities:
			if l%4 != 0 {
				return fmt.Errorf("COMMUNITIES length %d", l)
			}
			pa.comms = v
		case attrLargeCommunity:
			if l%12 != 0 {
				return fmt.Errorf("LARGE_COMMUNITY length %d", l)
			}
			pa.large = v
		case attrMPReach:
			// RFC 6396 4.3.4: RIB entries carry an abbreviated MP_REACH_NLRI
			// (next hop length and next hop only); a full one starts with
			// the AFI, whose first byte is 0. bgpdump tells them apart the
			// same way.
			if l > 0 && v[0] != 0 {
				if 1+int(v[0]) > l {
					return fmt.Errorf("MP_REACH_NLRI next hop length %d beyond the attribute", v[0])
				}
				pa.mpAbbrev = v
			} else {
				pa.mpReach = append(pa.mpReach, v)
			}
		case attrMPUnreach:
			pa.mpUnreach = append(pa.mpUnreach, v)
		}
	}
	return nil
}

// build returns a fresh route.Attrs (NextHop left for the caller).
func (pa *pathAttrs) build() *route.Attrs {
	if pa.mem == nil {
		pa.mem = &slab{}
	}
	a := pa.mem.newAttrs()
	if pa.seen(attrOrigin) {
		a.Origin = route.Origin(pa.origin)
	} else {
		a.Origin = originMissing
	}
	a.MED, a.HasMED = pa.med, pa.seen(attrMED)
	a.LocalPref, a.HasLocalPref = pa.lp, pa.seen(attrLocalPref)
	a.AtomicAggregate = pa.seen(attrAtomicAggregate)
	useAS4Path := pa.asLen == 2 && pa.as4Path != nil
	if pa.aggr != nil {
		ag := &route.Aggregator{}
		if len(pa.aggr) == 8 {
			ag.ASN = binary.BigEndian.Uint32(pa.aggr)
			ag.Addr = netip.AddrFrom4([4]byte(pa.aggr[4:]))
		} else {
			ag.ASN = uint32(binary.BigEndian.Uint16(pa.aggr))
			ag.Addr = netip.AddrFrom4([4]byte(pa.aggr[2:]))
		}
		// RFC 6793 4.2.3: an AGGREGATOR from a 2-byte speaker that is not
		// AS_TRANS means a 4-byte-unaware AS aggregated: AS4_AGGREGATOR and
		// AS4_PATH are then ignored.
		if pa.asLen == 2 && len(pa.aggr) == 6 && pa.as4Aggr != nil {
			if ag.ASN == asTrans {
				ag.ASN = binary.BigEndian.Uint32(pa.as4Aggr)
				ag.Addr = netip.AddrFrom4([4]byte(pa.as4Aggr[4:]))
			} else {
				useAS4Path = false
			}
		}
		a.Aggregator = ag
	}
	if pa.asPath != nil {
		if useAS4Path {
			a.ASPath = mergeAS4(decodeASPath(pa.asPath, 2, nil), decodeASPath(pa.as4Path, 4, nil))
		} else {
			a.ASPath = decodeASPath(pa.asPath, pa.asLen, pa.mem)
		}
	}
	if n := len(pa.comms) / 4; n > 0 {
		a.Communities = pa.mem.communities(n)
		for i := range n {
			a.Communities[i] = route.Community(binary.BigEndian.Uint32(pa.comms[4*i:]))
		}
	}
	if n := len(pa.large) / 12; n > 0 {
		a.LargeCommunities = make([]route.LargeCommunity, n)
		for i := range n {
			v := pa.large[12*i:]
			a.LargeCommunities[i] = route.LargeCommunity{
				Global: binary.BigEndian.Uint32(v), Local1: binary.BigEndian.Uint32(v[4:]), Local2: binary.BigEndian.Uint32(v[8:]),
			}
		}
	}
	return a
}

// buildRIB builds the attributes of a TABLE_DUMP / TABLE_DUMP_V2 entry: the
// next hop is the MP_REACH_NLRI IPv6 next hop when there is one, else
// NEXT_HOP (bgpdump's rule).
func (pa *pathAttrs) buildRIB() *route.Attrs {
	a := pa.build()
	switch {
	case pa.mpAbbrev != nil:
		a.NextHop = nextHop(pa.mpAbbrev[1 : 1+int(pa.mpAbbrev[0])])
	case len(pa.mpReach) > 0:
		if afi, safi, nh, _, err := parseMPReach(pa.mpReach[0]); err == nil && afi == afiIPv6 && safi == 1 {
			a.NextHop = nh
		} else if pa.seen(attrNextHop) {
			a.NextHop = pa.nextHop
		}
	case pa.seen(attrNextHop):
		a.NextHop = pa.nextHop
	}
	return a
}

// originMissing marks attributes without ORIGIN (bgpdump prints INCOMPLETE).
const originMissing route.Origin = 255

// validASPath checks segment types and lengths before decodeASPath.
func validASPath(b []byte, asLen int) error {
	for len(b) > 0 {
		if len(b) < 2 {
			return errors.New("AS_PATH segment header cut short")
		}
		t, n := b[0], int(b[1])
		if t < 1 || t > 4 {
			return fmt.Errorf("AS_PATH segment type %d", t)
		}
		if 2+n*asLen > len(b) {
			return errors.New("AS_PATH segment beyond the attribute")
		}
		b = b[2+n*asLen:]
	}
	return nil
}

// decodeASPath decodes a validated AS_PATH into segments sharing one
// backing array, taken from mem when it is not nil.
func decodeASPath(b []byte, asLen int, mem *slab) route.ASPath {
	nseg, nasn := 0, 0
	for p := b; len(p) >= 2; {
		n := int(p[1])
		nseg++
		nasn += n
		if 2+n*asLen > len(p) {
			break
		}
		p = p[2+n*asLen:]
	}
	var segs route.ASPath
	var asns []uint32
	if mem != nil {
		segs, asns = mem.segments(nseg), mem.uint32s(nasn)
	} else {
		segs, asns = make(route.ASPath, 0, nseg), make([]uint32, nasn)
	}
	off := 0
	for len(b) >= 2 {
		t, n := route.SegmentType(b[0]), int(b[1])
		if 2+n*asLen > len(b) {
			break
		}
		s := asns[off : off+n : off+n]
		for i := range n {
			if asLen == 4 {
				s[i] = binary.BigEndian.Uint32(b[2+4*i:])
			} else {
				s[i] = uint32(binary.BigEndian.Uint16(b[2+2*i:]))
			}
		}
		// Speakers split sequences longer than 255 ASNs into adjacent
		// AS_SEQUENCE segments; join them so equal paths compare equal.
		if k := len(segs) - 1; t == route.ASSequence && k >= 0 && segs[k].Type == route.ASSequence && n > 0 && len(segs[k].ASNs) > 0 {
			start := off - len(segs[k].ASNs)
			segs[k].ASNs = asns[start : off+n : off+n]
		} else {
			segs = append(segs, route.Segment{Type: t, ASNs: s})
		}
		off += n
		b = b[2+n*asLen:]
	}
	return segs
}

// pathCount counts a path as RFC 4271 9.1.2.2 does: one per sequence ASN,
// one per AS_SET, none for confederation segments.
func pathCount(p route.ASPath) int {
	return p.Len()
}

// mergeAS4 reconstructs the 4-byte path of a 2-byte speaker (RFC 6793
// 4.2.3): the leading ASNs of AS_PATH that AS4_PATH does not cover, then
// AS4_PATH. AS4_PATH longer than AS_PATH is ignored.
func mergeAS4(path, path4 route.ASPath) route.ASPath {
	n, n4 := pathCount(path), pathCount(path4)
	if n < n4 {
		return path
	}
	need := n - n4
	out := make(route.ASPath, 0, len(path)+len(path4))
	for _, s := range path {
		if need <= 0 {
			break
		}
		switch s.Type {
		case route.ASSequence:
			k := min(need, len(s.ASNs))
			out = append(out, route.Segment{Type: s.Type, ASNs: s.ASNs[:k:k]})
			need -= k
		case route.ASSet:
			out = append(out, s)
			need--
		default:
			out = append(out, s)
		}
	}
	// Join a cut sequence with a leading AS4_PATH sequence, as if the
	// path had been 4-byte all along.
	if len(out) > 0 && len(path4) > 0 && out[len(out)-1].Type == route.ASSequence && path4[0].Type == route.ASSequence {
		last := out[len(out)-1]
		joined := make([]uint32, 0, len(last.ASNs)+len(path4[0].ASNs))
		joined = append(append(joined, last.ASNs...), path4[0].ASNs...)
		out[len(out)-1] = route.Segment{Type: route.ASSequence, ASNs: joined}
		return append(out, path4[1:]...)
	}
	return append(out, path4...)
}
