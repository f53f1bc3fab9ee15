package mrtdata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"routewatch/route"
)

// The decoder reads BGP path attributes itself rather than through GoBGP's
// pkg/packet/bgp: it closes the gaps measured in GoBGP's MRT support
// (BGP4MP_ET, add-path, 2-byte-AS messages with AS4_PATH, TABLE_DUMP v1) and
// avoids GoBGP's per-attribute allocations on the hot path. GoBGP stays the
// reference in the differential test (gobgp_test.go).

var errShort = errors.New("record too short")

type decoder struct {
	source string
	peers  []route.Peer // TABLE_DUMP_V2 PEER_INDEX_TABLE
	// warn counts recoverable defects (e.g. a truncated NLRI tail, which
	// bgpdump silently drops as well) without failing the record.
	warn  map[string]int64
	skip  map[string]int64 // NLRI of address families routewatch does not use
	pa    pathAttrs
	cache ribCache
	// classicOnly: the legacy BGP type reads the classic NLRI fields
	// only; MP_REACH / MP_UNREACH are ignored, as bgpdump does.
	classicOnly bool
}

// ribAttrs decodes the attributes of one RIB entry, through the cache.
func (d *decoder) ribAttrs(raw []byte, asLen int) (*route.Attrs, error) {
	slot, a := d.cache.get(raw, asLen)
	if a != nil {
		return a, nil
	}
	if err := d.pa.parse(raw, asLen); err != nil {
		return nil, err
	}
	a = d.pa.buildRIB()
	slot.put(raw, asLen, a)
	return a, nil
}

func (d *decoder) skipped(kind string) {
	if d.skip != nil {
		d.skip[kind]++
	}
}

func (d *decoder) warnf(kind string) {
	if d.warn != nil {
		d.warn[kind]++
	}
}

func (d *decoder) record(rec *Record, b []byte) error {
	switch rec.Type {
	case TypeTableDumpV2:
		return d.tableDumpV2(rec, b)
	case TypeBGP4MP, TypeBGP4MPET:
		if rec.Type == TypeBGP4MPET {
			if len(b) < 4 {
				return errShort
			}
			rec.usec = binary.BigEndian.Uint32(b)
			if rec.usec >= 1000000 {
				return fmt.Errorf("BGP4MP_ET microseconds %d out of range", rec.usec)
			}
			rec.Time = rec.Time.Add(time.Duration(rec.usec) * time.Microsecond)
			b = b[4:]
		}
		return d.bgp4mp(rec, b)
	case TypeTableDump:
		return d.tableDump(rec, b)
	case TypeBGP:
		return d.legacyBGP(rec, b)
	}
	return skipError(typeName(rec.Type))
}

func typeName(t uint16) string {
	switch t {
	case 11:
		return "OSPFv2"
	case 32, 33:
		return "ISIS"
	case 48, 49:
		return "OSPFv3"
	}
	return "type " + strconv.Itoa(int(t))
}

// readAddr reads an IPv4 (afi 1) or IPv6 (afi 2) address.
func readAddr(b []byte, afi uint16) (netip.Addr, []byte, error) {
	switch afi {
	case afiIPv4:
		if len(b) < 4 {
			return netip.Addr{}, nil, errShort
		}
		return netip.AddrFrom4([4]byte(b[:4])), b[4:], nil
	case afiIPv6:
		if len(b) < 16 {
			return netip.Addr{}, nil, errShort
		}
		return netip.AddrFrom16([16]byte(b[:16])), b[16:], nil
	}
	return netip.Addr{}, nil, fmt.Errorf("unknown address family %d", afi)
}

func (d *decoder) bgp4mp(rec *Record, b []byte) error {
	sub := rec.Subtype
	as4, local := false, false
	switch sub {
	case SubStateChange, SubStateChangeAS4:
		as4 = sub == SubStateChangeAS4
	case SubMessage, SubMessageLocal, SubMessageAddPath, SubMessageLocalAddPath:
	case SubMessageAS4, SubMessageAS4Local, SubMessageAS4AddPath, SubMessageAS4LocalAddPath:
		as4 = true
	default:
		return skipError("BGP4MP/subtype " + strconv.Itoa(int(sub)))
	}
	switch sub {
	case SubMessageLocal, SubMessageAS4Local, SubMessageLocalAddPath, SubMessageAS4LocalAddPath:
		local = true
	}
	switch sub {
	case SubMessageAddPath, SubMessageAS4AddPath, SubMessageLocalAddPath, SubMessageAS4LocalAddPath:
		rec.addPath = true
	}
	rec.Local = local
	asLen := 2
	if as4 {
		asLen = 4
	}
	if len(b) < 2*asLen+4 {
		return errShort
	}
	var peer route.Peer
	if as4 {
		peer.ASN = binary.BigEndian.Uint32(b)
	} else {
		peer.ASN = uint32(binary.BigEndian.Uint16(b))
	}
	b = b[2*asLen:]
	afi := binary.BigEndian.Uint16(b[2:])
	b = b[4:]
	var err error
	if peer.Addr, b, err = readAddr(b, afi); err != nil {
		return err
	}
	if _, b, err = readAddr(b, afi); err != nil {
		return err
	}
	if sub == SubStateChange || sub == SubStateChangeAS4 {
		if len(b) < 4 {
			return errShort
		}
		rec.States = append(rec.States, route.PeerState{
			Time: rec.Time, Source: d.source, Peer: peer,
			Old: route.SessionState(binary.BigEndian.Uint16(b)),
			New: route.SessionState(binary.BigEndian.Uint16(b[2:])),
		})
		return nil
	}
	// BGP message: marker, length, type.
	if len(b) < 19 {
		return errShort
	}
	for _, c := range b[:16] {
		if c != 0xff {
			return errors.New("bad BGP marker")
		}
	}
	mlen := int(binary.BigEndian.Uint16(b[16:]))
	if mlen < 19 {
		return fmt.Errorf("BGP message length %d below 19", mlen)
	}
	if mlen > len(b) {
		return fmt.Errorf("BGP message length %d beyond the record (%d bytes)", mlen, len(b))
	}
	mtype := b[18]
	body := b[19:mlen]
	switch mtype {
	case 2:
	case 1:
		return skipError("BGP4MP/OPEN")
	case 3:
		return skipError("BGP4MP/NOTIFICATION")
	case 4:
		return skipError("BGP4MP/KEEPALIVE")
	case 5:
		return skipError("BGP4MP/ROUTE_REFRESH")
	default:
		return fmt.Errorf("unknown BGP message type %d", mtype)
	}
	return d.update(rec, body, peer, asLen)
}

// update decodes a BGP UPDATE body into rec.Updates in bgpdump's order:
// withdrawals (classic, then MP_UNREACH), then announcements (classic, then
// MP_REACH).
func (d *decoder) update(rec *Record, b []byte, peer route.Peer, asLen int) error {
	if len(b) < 2 {
		return errShort
	}
	wl := int(binary.BigEndian.Uint16(b))
	if 2+wl+2 > len(b) {
		return fmt.Errorf("withdrawn routes length %d beyond the message", wl)
	}
	withdrawn := b[2 : 2+wl]
	b = b[2+wl:]
	al := int(binary.BigEndian.Uint16(b))
	if 2+al > len(b) {
		return fmt.Errorf("path attribute length %d beyond the message", al)
	}
	attrBytes := b[2 : 2+al]
	nlri := b[2+al:]
	pa := &d.pa
	if err := pa.parse(attrBytes, asLen); err != nil {
		return err
	}
	base := route.Update{Time: rec.Time, Source: d.source, Peer: peer}
	ap := rec.addPath
	var err error
	w := base
	w.Withdraw = true
	if rec.Updates, err = d.appendNLRI(rec.Updates, withdrawn, afiIPv4, ap, w); err != nil {
		return err
	}
	for _, mp := range pa.mpUnreach {
		if d.classicOnly {
			break
		}
		if len(mp) < 3 {
			return errors.New("MP_UNREACH_NLRI too short")
		}
		afi, safi := binary.BigEndian.Uint16(mp), mp[2]
		if (afi != afiIPv4 && afi != afiIPv6) || safi < 1 || safi > 3 {
			d.skipped("MP_NLRI/other AFI-SAFI")
			continue
		}
		if rec.Updates, err = d.appendNLRI(rec.Updates, mp[3:], afi, ap, w); err != nil {
			return err
		}
	}
	for len(rec.signed) < len(rec.Updates) {
		rec.signed = append(rec.signed, false)
	}
	if len(nlri) == 0 && (len(pa.mpReach) == 0 || d.classicOnly) {
		return nil
	}
	if !pa.seen(attrASPath) && !pa.seen(attrOrigin) && len(pa.mpReach) == 0 && len(nlri) > 0 {
		// Announcements without attributes: keep them (bgpdump prints
		// them with empty fields) but note the defect.
		d.warnf("missing_attributes")
	}
	a := base
	if len(nlri) > 0 {
		attrs := pa.build()
		if pa.seen(attrNextHop) {
			attrs.NextHop = pa.nextHop
		}
		a.Attrs = attrs
		if rec.Updates, err = d.appendNLRI(rec.Updates, nlri, afiIPv4, ap, a); err != nil {
			return err
		}
		for len(rec.signed) < len(rec.Updates) {
			rec.signed = append(rec.signed, false)
		}
	}
	for _, mp := range pa.mpReach {
		if d.classicOnly {
			break
		}
		afi, safi, nh, rest, err := parseMPReach(mp)
		if err != nil {
			return err
		}
		if (afi != afiIPv4 && afi != afiIPv6) || safi < 1 || safi > 3 {
			d.skipped("MP_NLRI/other AFI-SAFI")
			continue
		}
		attrs := pa.build()
		attrs.NextHop = nh
		a.Attrs = attrs
		if rec.Updates, err = d.appendNLRI(rec.Updates, rest, afi, ap, a); err != nil {
			return err
		}
		for len(rec.signed) < len(rec.Updates) {
			rec.signed = append(rec.signed, afi == afiIPv4)
		}
	}
	return nil
}

// parseMPReach splits a full MP_REACH_NLRI value into AFI, SAFI, next hop
// (the global address when a link-local one follows) and NLRI bytes.
func parseMPReach(mp []byte) (afi uint16, safi uint8, nh netip.Addr, nlri []byte, err error) {
	if len(mp) < 5 {
		return 0, 0, nh, nil, errors.New("MP_REACH_NLRI too short")
	}
	afi, safi = binary.BigEndian.Uint16(mp), mp[2]
	nhl := int(mp[3])
	if 4+nhl+1 > len(mp) {
		return 0, 0, nh, nil, errors.New("MP_REACH_NLRI next hop beyond the attribute")
	}
	nh = nextHop(mp[4 : 4+nhl])
	rest := mp[4+nhl:]
	snpa := int(rest[0])
	rest = rest[1:]
	for range snpa {
		if len(rest) < 1 || 1+int(rest[0]) > len(rest) {
			return 0, 0, nh, nil, errors.New("MP_REACH_NLRI SNPA beyond the attribute")
		}
		rest = rest[1+int(rest[0]):]
	}
	return afi, safi, nh, rest, nil
}

func nextHop(b []byte) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16, 32:
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	return netip.Addr{}
}

// appendNLRI appends one update per prefix in b (RFC 4271 / RFC 7911
// encoding). Host bits beyond the prefix length are cleared, as bgpdump
// does. A prefix cut short by the end of the field ends the list (bgpdump
// drops it the same way) and is counted as a warning.
func (d *decoder) appendNLRI(dst []route.Update, b []byte, afi uint16, addPath bool, tmpl route.Update) ([]route.Update, error) {
	maxBits := 32
	if afi == afiIPv6 {
		maxBits = 128
	}
	for len(b) > 0 {
		var pathID uint32
		if addPath {
			if len(b) < 4 {
				d.warnf("truncated_nlri")
				return dst, nil
			}
			pathID = binary.BigEndian.Uint32(b)
			b = b[4:]
			if len(b) == 0 {
				d.warnf("truncated_nlri")
				return dst, nil
			}
		}
		bits := int(b[0])
		if bits > maxBits {
			return dst, fmt.Errorf("prefix length %d for address family %d", bits, afi)
		}
		n := (bits + 7) / 8
		if 1+n > len(b) {
			d.warnf("truncated_nlri")
			return dst, nil
		}
		u := tmpl
		u.PathID = pathID
		u.Prefix = makePrefix(b[1:1+n], bits, afi)
		dst = append(dst, u)
		b = b[1+n:]
	}
	return dst, nil
}

func makePrefix(raw []byte, bits int, afi uint16) netip.Prefix {
	if afi == afiIPv4 {
		var a [4]byte
		copy(a[:], raw)
		p, _ := netip.AddrFrom4(a).Prefix(bits)
		return p
	}
	var a [16]byte
	copy(a[:], raw)
	p, _ := netip.AddrFrom16(a).Prefix(bits)
	return p
}

func (d *decoder) tableDumpV2(rec *Record, b []byte) error {
	var afi uint16
	switch rec.Subtype {
	case SubPeerIndexTable:
		return d.peerIndex(b)
	case SubRIBIPv4Unicast, SubRIBIPv4Multicast:
		afi = afiIPv4
	case SubRIBIPv6Unicast, SubRIBIPv6Multicast:
		afi = afiIPv6
	case SubRIBIPv4UnicastAP, SubRIBIPv4MulticastAP:
		afi, rec.addPath = afiIPv4, true
	case SubRIBIPv6UnicastAP, SubRIBIPv6MulticastAP:
		afi, rec.addPath = afiIPv6, true
	case SubRIBGeneric, SubRIBGenericAP:
		return skipError("TABLE_DUMP_V2/RIB_GENERIC")
	default:
		return skipError("TABLE_DUMP_V2/subtype " + strconv.Itoa(int(rec.Subtype)))
	}
	if len(b) < 5 {
		return errShort
	}
	b = b[4:] // sequence number
	bits := int(b[0])
	maxBits := 32
	if afi == afiIPv6 {
		maxBits = 128
	}
	if bits > maxBits {
		return fmt.Errorf("prefix length %d", bits)
	}
	n := (bits + 7) / 8
	if 1+n+2 > len(b) {
		return errShort
	}
	prefix := makePrefix(b[1:1+n], bits, afi)
	b = b[1+n:]
	count := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	for i := range count {
		hl := 8
		if rec.addPath {
			hl = 12
		}
		if len(b) < hl {
			return fmt.Errorf("RIB entry %d of %d: %w", i, count, errShort)
		}
		idx := int(binary.BigEndian.Uint16(b))
		// b[2:6] is the originated time; like bgpdump's default (-t dump)
		// routes carry the dump time.
		var pathID uint32
		if rec.addPath {
			pathID = binary.BigEndian.Uint32(b[6:])
		}
		al := int(binary.BigEndian.Uint16(b[hl-2:]))
		b = b[hl:]
		if al > len(b) {
			return fmt.Errorf("RIB entry %d: attribute length %d beyond the record", i, al)
		}
		if idx >= len(d.peers) {
			return fmt.Errorf("RIB entry %d: peer index %d not in the peer index table (%d peers)", i, idx, len(d.peers))
		}
		attrs, err := d.ribAttrs(b[:al], 4)
		if err != nil {
			return fmt.Errorf("RIB entry %d: %w", i, err)
		}
		b = b[al:]
		rec.Updates = append(rec.Updates, route.Update{
			Time: rec.Time, Source: d.source, Peer: d.peers[idx], Prefix: prefix,
			PathID: pathID, TableDump: true, Attrs: attrs,
		})
		rec.signed = append(rec.signed, false)
	}
	return nil
}

func (d *decoder) peerIndex(b []byte) error {
	if len(b) < 6 {
		return errShort
	}
	vl := int(binary.BigEndian.Uint16(b[4:]))
	b = b[6:]
	if vl+2 > len(b) {
		return errShort
	}
	b = b[vl:]
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	peers := d.peers[:0]
	for i := range n {
		if len(b) < 1 {
			return fmt.Errorf("peer %d of %d: %w", i, n, errShort)
		}
		typ := b[0]
		b = b[1:]
		need := 4 + 4 + 2
		if typ&1 != 0 {
			need += 12
		}
		if typ&2 != 0 {
			need += 2
		}
		if len(b) < need {
			return fmt.Errorf("peer %d of %d: %w", i, n, errShort)
		}
		b = b[4:] // BGP ID
		var p route.Peer
		if typ&1 != 0 {
			p.Addr = netip.AddrFrom16([16]byte(b[:16]))
			b = b[16:]
		} else {
			p.Addr = netip.AddrFrom4([4]byte(b[:4]))
			b = b[4:]
		}
		if typ&2 != 0 {
			p.ASN = binary.BigEndian.Uint32(b)
			b = b[4:]
		} else {
			p.ASN = uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		peers = append(peers, p)
	}
	d.peers = peers
	return nil
}

// tableDump decodes a TABLE_DUMP (v1) record: one route per record.
// Subtypes 1/2 are AFI IPv4/IPv6 with 2-byte ASNs; 3/4 are bgpdump's
// 4-byte-ASN variants.
func (d *decoder) tableDump(rec *Record, b []byte) error {
	var afi uint16
	asLen := 2
	switch rec.Subtype {
	case 1:
		afi = afiIPv4
	case 2:
		afi = afiIPv6
	case 3:
		afi, asLen = afiIPv4, 4
	case 4:
		afi, asLen = afiIPv6, 4
	default:
		return skipError("TABLE_DUMP/subtype " + strconv.Itoa(int(rec.Subtype)))
	}
	if len(b) < 4 {
		return errShort
	}
	b = b[4:] // view, sequence
	raw := b
	_, b, err := readAddr(b, afi)
	if err != nil {
		return err
	}
	if len(b) < 6 {
		return errShort
	}
	bits := int(b[0])
	if (afi == afiIPv4 && bits > 32) || bits > 128 {
		return fmt.Errorf("prefix length %d", bits)
	}
	prefix := makePrefix(raw[:(bits+7)/8], bits, afi)
	b = b[6:] // mask, status, originated time
	var peer route.Peer
	if peer.Addr, b, err = readAddr(b, afi); err != nil {
		return err
	}
	if len(b) < asLen+2 {
		return errShort
	}
	if asLen == 4 {
		peer.ASN = binary.BigEndian.Uint32(b)
	} else {
		peer.ASN = uint32(binary.BigEndian.Uint16(b))
	}
	b = b[asLen:]
	al := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if al > len(b) {
		return fmt.Errorf("attribute length %d beyond the record", al)
	}
	attrs, err := d.ribAttrs(b[:al], asLen)
	if err != nil {
		return err
	}
	rec.Updates = append(rec.Updates, route.Update{
		Time: rec.Time, Source: d.source, Peer: peer, Prefix: prefix,
		TableDump: true, Attrs: attrs,
	})
	rec.signed = append(rec.signed, false)
	return nil
}
