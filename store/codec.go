package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"routewatch/route"
)

// A compact, canonical binary encoding of route attributes (stored path
// values in Redis, where equal attributes must give equal bytes so the
// apply script can compare them) and of update batches (stream entries).

// ErrCorrupt is returned when stored or streamed bytes cannot be decoded.
var ErrCorrupt = errors.New("store: corrupt encoding")

// Batch formats: version 1 ("RWB1") wrote a peer as its address and ASN;
// version 2 ("RWB2") adds the vantage point fields (collector, router,
// distinguisher, view); version 3 ("RWB3", written now) a session
// change's BMP sysDescr. All decode: stream entries and session histories
// written before an upgrade still read.
const (
	attrsVersion = 1
	batchMagicV1 = "RWB1"
	batchMagicV2 = "RWB2"
	batchMagic   = "RWB3"
)

// Batch is what flows through the Redis Stream between a collector process
// and an analyzer process: the pipeline's one batch type.
type Batch = route.Batch

type enc struct{ b []byte }

func (e *enc) u8(v uint8)     { e.b = append(e.b, v) }
func (e *enc) uv(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) u32(v uint32)   { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) str(s string)   { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(s []byte) { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *enc) addr(a netip.Addr) {
	switch {
	case !a.IsValid():
		e.u8(0)
	case a.Is4():
		v := a.As4()
		e.u8(4)
		e.b = append(e.b, v[:]...)
	default:
		v := a.As16()
		e.u8(16)
		e.b = append(e.b, v[:]...)
	}
}
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.u8(0)
		return
	}
	e.u8(1)
	e.b = binary.AppendVarint(e.b, t.UnixNano())
}

type dec struct {
	b   []byte
	err error
	v2  bool // batch format version ≥ 2: peers carry vantage point fields
	v3  bool // batch format version 3: session changes carry sysDescr
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}

func (d *dec) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8(what string) uint8 {
	v := d.take(1, what)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *dec) uv(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) u32v(what string) uint32 {
	v := d.uv(what)
	if v > math.MaxUint32 {
		d.fail(what)
	}
	return uint32(v)
}

func (d *dec) u32(what string) uint32 {
	v := d.take(4, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

// count reads a collection length, refusing lengths the remaining input
// cannot possibly hold (each element takes at least min bytes).
func (d *dec) count(min int, what string) int {
	n := d.uv(what)
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail(what + " count")
		return 0
	}
	return int(n)
}

func (d *dec) str(what string) string {
	n := d.count(1, what)
	return string(d.take(n, what))
}

func (d *dec) boolean(what string) bool {
	switch d.u8(what) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(what)
	return false
}

func (d *dec) addr(what string) netip.Addr {
	switch d.u8(what) {
	case 0:
		return netip.Addr{}
	case 4:
		v := d.take(4, what)
		if v == nil {
			return netip.Addr{}
		}
		return netip.AddrFrom4([4]byte(v))
	case 16:
		v := d.take(16, what)
		if v == nil {
			return netip.Addr{}
		}
		return netip.AddrFrom16([16]byte(v))
	}
	d.fail(what)
	return netip.Addr{}
}

func (d *dec) time(what string) time.Time {
	switch d.u8(what) {
	case 0:
		return time.Time{}
	case 1:
		v, n := binary.Varint(d.b)
		if n <= 0 {
			d.fail(what)
			return time.Time{}
		}
		d.b = d.b[n:]
		return time.Unix(0, v).UTC()
	}
	d.fail(what)
	return time.Time{}
}

// appendAttrs appends the canonical encoding of a.
func appendAttrs(b []byte, a *route.Attrs) []byte {
	e := enc{b: b}
	e.u8(attrsVersion)
	e.u8(uint8(a.Origin))
	var flags uint8
	if a.HasMED {
		flags |= 1
	}
	if a.HasLocalPref {
		flags |= 2
	}
	if a.AtomicAggregate {
		flags |= 4
	}
	if a.Aggregator != nil {
		flags |= 8
	}
	e.u8(flags)
	e.addr(a.NextHop)
	if a.HasMED {
		e.u32(a.MED)
	}
	if a.HasLocalPref {
		e.u32(a.LocalPref)
	}
	if a.Aggregator != nil {
		e.uv(uint64(a.Aggregator.ASN))
		e.addr(a.Aggregator.Addr)
	}
	e.uv(uint64(len(a.ASPath)))
	for _, s := range a.ASPath {
		e.u8(uint8(s.Type))
		e.uv(uint64(len(s.ASNs)))
		for _, asn := range s.ASNs {
			e.uv(uint64(asn))
		}
	}
	e.uv(uint64(len(a.Communities)))
	for _, c := range a.Communities {
		e.u32(uint32(c))
	}
	e.uv(uint64(len(a.LargeCommunities)))
	for _, c := range a.LargeCommunities {
		e.u32(c.Global)
		e.u32(c.Local1)
		e.u32(c.Local2)
	}
	return e.b
}

func encodeAttrs(a *route.Attrs) []byte { return appendAttrs(nil, a) }

func decodeAttrs(b []byte) (route.Attrs, error) {
	d := &dec{b: b}
	a := d.attrs()
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return route.Attrs{}, d.err
	}
	return a, nil
}

func (d *dec) attrs() route.Attrs {
	var a route.Attrs
	if v := d.u8("attrs version"); d.err == nil && v != attrsVersion {
		d.fail("attrs version")
	}
	a.Origin = route.Origin(d.u8("origin"))
	flags := d.u8("flags")
	if flags&^15 != 0 {
		d.fail("flags")
	}
	a.NextHop = d.addr("next hop")
	if flags&1 != 0 {
		a.HasMED, a.MED = true, d.u32("med")
	}
	if flags&2 != 0 {
		a.HasLocalPref, a.LocalPref = true, d.u32("local pref")
	}
	a.AtomicAggregate = flags&4 != 0
	if flags&8 != 0 {
		a.Aggregator = &route.Aggregator{ASN: d.u32v("aggregator asn"), Addr: d.addr("aggregator addr")}
	}
	if n := d.count(2, "as path"); n > 0 {
		a.ASPath = make(route.ASPath, n)
		for i := range a.ASPath {
			a.ASPath[i].Type = route.SegmentType(d.u8("segment type"))
			if m := d.count(1, "segment"); m > 0 {
				a.ASPath[i].ASNs = make([]uint32, m)
				for j := range a.ASPath[i].ASNs {
					a.ASPath[i].ASNs[j] = d.u32v("asn")
				}
			}
		}
	}
	if n := d.count(4, "communities"); n > 0 {
		a.Communities = make([]route.Community, n)
		for i := range a.Communities {
			a.Communities[i] = route.Community(d.u32("community"))
		}
	}
	if n := d.count(12, "large communities"); n > 0 {
		a.LargeCommunities = make([]route.LargeCommunity, n)
		for i := range a.LargeCommunities {
			a.LargeCommunities[i] = route.LargeCommunity{Global: d.u32("lc"), Local1: d.u32("lc"), Local2: d.u32("lc")}
		}
	}
	return a
}

// EncodeBatch encodes a batch for the stream.
func EncodeBatch(b Batch) []byte {
	e := &enc{b: make([]byte, 0, 64+80*len(b.Updates))}
	e.b = append(e.b, batchMagic...)
	e.uv(uint64(len(b.Updates)))
	for i := range b.Updates {
		e.update(&b.Updates[i])
	}
	e.uv(uint64(len(b.States)))
	for i := range b.States {
		s := &b.States[i]
		e.time(s.Time)
		e.str(s.Source)
		e.peer(&s.Peer)
		e.u8(uint8(s.Old))
		e.u8(uint8(s.New))
		e.boolean(s.EndOfRIB)
		e.str(s.Reason)
		e.str(s.SysDescr)
	}
	return e.b
}

// peer writes a peer in format version 2 and 3.
func (e *enc) peer(p *route.Peer) {
	e.addr(p.Addr)
	e.uv(uint64(p.ASN))
	e.str(p.Collector)
	e.str(p.Router)
	e.uv(p.Distinguisher)
	e.u8(uint8(p.View))
}

func (e *enc) update(u *route.Update) {
	e.time(u.Time)
	e.str(u.Source)
	e.peer(&u.Peer)
	e.addr(u.Prefix.Addr())
	e.u8(uint8(u.Prefix.Bits()))
	e.uv(uint64(u.PathID))
	var flags uint8
	if u.Withdraw {
		flags |= 1
	}
	if u.TableDump {
		flags |= 2
	}
	if u.Attrs != nil {
		flags |= 4
	}
	e.u8(flags)
	if u.Attrs != nil {
		e.bytes(encodeAttrs(u.Attrs))
	}
	e.uv(uint64(len(u.Tags)))
	for _, t := range u.Tags {
		e.str(t.Provider)
		e.str(t.Region)
		e.str(t.Service)
		e.str(t.BorderGroup)
		e.u8(uint8(t.Match))
	}
}

// DecodeBatch decodes a stream entry; corrupt input is an error wrapping
// ErrCorrupt, never a panic.
func DecodeBatch(b []byte) (Batch, error) {
	if len(b) < len(batchMagic) {
		return Batch{}, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	d := &dec{b: b[len(batchMagic):]}
	switch string(b[:len(batchMagic)]) {
	case batchMagic:
		d.v2, d.v3 = true, true
	case batchMagicV2:
		d.v2 = true
	case batchMagicV1:
	default:
		return Batch{}, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	var out Batch
	if n := d.count(8, "updates"); n > 0 {
		out.Updates = make([]route.Update, n)
		for i := range out.Updates {
			d.update(&out.Updates[i])
		}
	}
	if n := d.count(8, "states"); n > 0 {
		out.States = make([]route.PeerState, n)
		for i := range out.States {
			s := &out.States[i]
			s.Time = d.time("time")
			s.Source = d.str("source")
			d.peer(&s.Peer)
			s.Old = route.SessionState(d.u8("old"))
			s.New = route.SessionState(d.u8("new"))
			s.EndOfRIB = d.boolean("eor")
			s.Reason = d.str("reason")
			if d.v3 {
				s.SysDescr = d.str("sys descr")
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Batch{}, d.err
	}
	return out, nil
}

// peer reads a peer in the batch's format version.
func (d *dec) peer(p *route.Peer) {
	p.Addr = d.addr("peer")
	p.ASN = d.u32v("peer asn")
	if !d.v2 {
		return
	}
	p.Collector = d.str("collector")
	p.Router = d.str("router")
	p.Distinguisher = d.uv("distinguisher")
	p.View = route.View(d.u8("view"))
}

func (d *dec) update(u *route.Update) {
	u.Time = d.time("time")
	u.Source = d.str("source")
	d.peer(&u.Peer)
	pa := d.addr("prefix")
	bits := int(d.u8("prefix bits"))
	if d.err == nil {
		// Unmasked prefixes are kept as sent; the store masks on apply.
		u.Prefix = netip.PrefixFrom(pa, bits)
		if !u.Prefix.IsValid() {
			d.fail("prefix")
		}
	}
	u.PathID = d.u32v("path id")
	flags := d.u8("flags")
	if flags&^7 != 0 {
		d.fail("update flags")
	}
	u.Withdraw = flags&1 != 0
	u.TableDump = flags&2 != 0
	if flags&4 != 0 {
		n := d.count(1, "attrs")
		sub := &dec{b: d.take(n, "attrs")}
		if d.err == nil {
			a := sub.attrs()
			if sub.err == nil && len(sub.b) != 0 {
				sub.fail("attrs trailing bytes")
			}
			if sub.err != nil {
				d.err = sub.err
			}
			u.Attrs = &a
		}
	}
	if n := d.count(5, "tags"); n > 0 {
		u.Tags = make([]route.Tag, n)
		for i := range u.Tags {
			u.Tags[i] = route.Tag{Provider: d.str("provider"), Region: d.str("region"), Service: d.str("service"),
				BorderGroup: d.str("border group"), Match: route.MatchKind(d.u8("match"))}
		}
	}
}

// encodeTags is the canonical per-prefix tag value in Redis ("" = none).
func encodeTags(tags []route.Tag) string {
	if len(tags) == 0 {
		return ""
	}
	e := &enc{}
	e.uv(uint64(len(tags)))
	for _, t := range tags {
		e.str(t.Provider)
		e.str(t.Region)
		e.str(t.Service)
		e.str(t.BorderGroup)
		e.u8(uint8(t.Match))
	}
	return string(e.b)
}

func decodeTags(s string) ([]route.Tag, error) {
	if s == "" {
		return nil, nil
	}
	d := &dec{b: []byte(s)}
	n := d.count(5, "tags")
	out := make([]route.Tag, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, route.Tag{Provider: d.str("provider"), Region: d.str("region"), Service: d.str("service"),
			BorderGroup: d.str("border group"), Match: route.MatchKind(d.u8("match"))})
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}
