package mrtdata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"routewatch/route"
)

// Writer writes MRT records for test fixtures and benchmarks. It is not
// safe for concurrent use.
type Writer struct {
	w   io.Writer
	buf []byte

	// LocalAddr and LocalASN fill the collector side of BGP4MP records.
	// The zero LocalAddr is written as 0.0.0.0 (or :: for IPv6 peers).
	LocalAddr netip.Addr
	LocalASN  uint32
	// TwoByteAS makes WriteUpdate emit BGP4MP MESSAGE / MESSAGE_ADDPATH
	// records with 2-byte ASNs: ASNs above 65535 become AS_TRANS (23456)
	// in AS_PATH and AGGREGATOR, and the real values go into AS4_PATH /
	// AS4_AGGREGATOR (RFC 6793), as an old 2-byte speaker would send them.
	TwoByteAS bool
}

// NewWriter returns a Writer that writes records to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// RIBEntry is one route of a TABLE_DUMP_V2 RIB record.
type RIBEntry struct {
	PeerIndex  uint16
	Originated time.Time
	PathID     uint32 // written only in *_ADDPATH records
	Attrs      *route.Attrs
}

// ErrWrite is wrapped by writer errors caused by values that cannot be
// encoded.
var ErrWrite = errors.New("mrtdata: cannot encode")

// header writes the common MRT header. For BGP4MP_ET the microseconds are
// part of the body length (RFC 6396 2.1).
func (w *Writer) record(t time.Time, typ, sub uint16, body []byte) error {
	var h [16]byte
	binary.BigEndian.PutUint32(h[0:], uint32(t.Unix()))
	binary.BigEndian.PutUint16(h[4:], typ)
	binary.BigEndian.PutUint16(h[6:], sub)
	n := 12
	l := len(body)
	if typ == TypeBGP4MPET {
		binary.BigEndian.PutUint32(h[12:], uint32(t.Nanosecond()/1000))
		n = 16
		l += 4
	}
	binary.BigEndian.PutUint32(h[8:], uint32(l))
	if _, err := w.w.Write(h[:n]); err != nil {
		return fmt.Errorf("mrtdata: write header: %w", err)
	}
	if _, err := w.w.Write(body); err != nil {
		return fmt.Errorf("mrtdata: write record: %w", err)
	}
	return nil
}

// bgp4mpType picks BGP4MP_ET when t has sub-second precision so that
// round trips keep microseconds.
func bgp4mpType(t time.Time) uint16 {
	if t.Nanosecond()/1000 != 0 {
		return TypeBGP4MPET
	}
	return TypeBGP4MP
}

// bgp4mpHeader appends peer AS, local AS, ifindex, AFI, peer IP, local IP.
func (w *Writer) bgp4mpHeader(b []byte, peer route.Peer, as4 bool) ([]byte, error) {
	if !peer.Addr.IsValid() {
		return b, fmt.Errorf("%w: peer address missing", ErrWrite)
	}
	peerAddr := peer.Addr.Unmap()
	local := w.LocalAddr.Unmap()
	if !local.IsValid() || local.Is4() != peerAddr.Is4() {
		if peerAddr.Is4() {
			local = netip.IPv4Unspecified()
		} else {
			local = netip.IPv6Unspecified()
		}
	}
	if as4 {
		b = binary.BigEndian.AppendUint32(b, peer.ASN)
		b = binary.BigEndian.AppendUint32(b, w.LocalASN)
	} else {
		b = binary.BigEndian.AppendUint16(b, as2(peer.ASN))
		b = binary.BigEndian.AppendUint16(b, as2(w.LocalASN))
	}
	b = binary.BigEndian.AppendUint16(b, 0) // interface index
	if peerAddr.Is4() {
		b = binary.BigEndian.AppendUint16(b, afiIPv4)
	} else {
		b = binary.BigEndian.AppendUint16(b, afiIPv6)
	}
	b = append(b, peerAddr.AsSlice()...)
	b = append(b, local.AsSlice()...)
	return b, nil
}

func as2(asn uint32) uint16 {
	if asn > 0xffff {
		return asTrans
	}
	return uint16(asn)
}

// WriteUpdate writes u as one BGP4MP MESSAGE_AS4 record (MESSAGE_AS4_ADDPATH
// when u.PathID != 0; MESSAGE / MESSAGE_ADDPATH with TwoByteAS). IPv4
// prefixes use the classic NLRI fields, IPv6 prefixes MP_REACH_NLRI /
// MP_UNREACH_NLRI.
func (w *Writer) WriteUpdate(u route.Update) error {
	return w.WriteUpdates([]route.Update{u})
}

// WriteUpdates writes updates that share peer, time, path-ID use and (for
// announcements) attributes as one BGP UPDATE message: withdrawals and
// announcements of both address families may be mixed. The attributes of
// the first announcement are used for all announcements.
func (w *Writer) WriteUpdates(us []route.Update) error {
	if len(us) == 0 {
		return nil
	}
	first := us[0]
	n, err := splitNLRI(us)
	if err != nil {
		return err
	}
	as4 := !w.TwoByteAS
	sub := SubMessageAS4
	switch {
	case !as4 && n.addPath:
		sub = SubMessageAddPath
	case !as4:
		sub = SubMessage
	case n.addPath:
		sub = SubMessageAS4AddPath
	}
	b, err := w.bgp4mpHeader(w.buf[:0], first.Peer, as4)
	if err != nil {
		return err
	}
	// BGP message header: marker, length (patched below), type UPDATE.
	msgStart := len(b)
	for range 16 {
		b = append(b, 0xff)
	}
	b = append(b, 0, 0, 2)
	b = binary.BigEndian.AppendUint16(b, uint16(len(n.w4)))
	b = append(b, n.w4...)
	attrLenAt := len(b)
	b = append(b, 0, 0)
	b = n.appendUpdateAttrs(b, as4)
	attrLen := len(b) - attrLenAt - 2
	binary.BigEndian.PutUint16(b[attrLenAt:], uint16(attrLen))
	b = append(b, n.a4...)
	msgLen := len(b) - msgStart
	if msgLen > 65535 {
		return fmt.Errorf("%w: BGP message of %d bytes", ErrWrite, msgLen)
	}
	binary.BigEndian.PutUint16(b[msgStart+16:], uint16(msgLen))
	w.buf = b
	t := first.Time
	return w.record(t, bgp4mpType(t), sub, b)
}

// updateNLRI is a message's NLRI by family and kind, with the attributes
// of its first announcement.
type updateNLRI struct {
	w4, a4, w6, a6 []byte
	attrs          *route.Attrs
	addPath        bool
}

// splitNLRI encodes the prefixes of us, checking that they can share a
// message.
func splitNLRI(us []route.Update) (updateNLRI, error) {
	var n updateNLRI
	for _, u := range us {
		if u.PathID != 0 {
			n.addPath = true
		}
	}
	for _, u := range us {
		if u.Peer != us[0].Peer {
			return n, fmt.Errorf("%w: updates of one message must share the peer", ErrWrite)
		}
		p := u.Prefix
		if !p.IsValid() {
			return n, fmt.Errorf("%w: invalid prefix", ErrWrite)
		}
		var dst *[]byte
		switch {
		case p.Addr().Is4() && u.Withdraw:
			dst = &n.w4
		case p.Addr().Is4():
			dst = &n.a4
		case u.Withdraw:
			dst = &n.w6
		default:
			dst = &n.a6
		}
		if !u.Withdraw {
			if u.Attrs == nil {
				return n, fmt.Errorf("%w: announcement of %s without attributes", ErrWrite, p)
			}
			if n.attrs == nil {
				n.attrs = u.Attrs
			}
		}
		*dst = appendNLRI(*dst, p, u.PathID, n.addPath)
	}
	return n, nil
}

// appendUpdateAttrs appends the path attributes, with MP_REACH_NLRI /
// MP_UNREACH_NLRI for the IPv6 prefixes.
func (n *updateNLRI) appendUpdateAttrs(b []byte, as4 bool) []byte {
	if n.attrs != nil {
		b = appendAttrs(b, n.attrs, as4, len(n.a4) > 0)
		if len(n.a6) > 0 {
			nh := n.attrs.NextHop
			if !nh.IsValid() || nh.Is4() {
				nh = netip.IPv6Unspecified()
			}
			mp := make([]byte, 0, 5+16+len(n.a6))
			mp = binary.BigEndian.AppendUint16(mp, afiIPv6)
			mp = append(mp, 1, 16)
			nh16 := nh.As16()
			mp = append(mp, nh16[:]...)
			mp = append(mp, 0) // SNPA count
			mp = append(mp, n.a6...)
			b = appendAttr(b, flagOptional, attrMPReach, mp)
		}
	}
	if len(n.w6) > 0 {
		mp := make([]byte, 0, 3+len(n.w6))
		mp = binary.BigEndian.AppendUint16(mp, afiIPv6)
		mp = append(mp, 1)
		mp = append(mp, n.w6...)
		b = appendAttr(b, flagOptional, attrMPUnreach, mp)
	}
	return b
}

// WritePeerState writes s as a BGP4MP STATE_CHANGE_AS4 record.
func (w *Writer) WritePeerState(s route.PeerState) error {
	b, err := w.bgp4mpHeader(w.buf[:0], s.Peer, true)
	if err != nil {
		return err
	}
	b = binary.BigEndian.AppendUint16(b, uint16(s.Old))
	b = binary.BigEndian.AppendUint16(b, uint16(s.New))
	w.buf = b
	return w.record(s.Time, bgp4mpType(s.Time), SubStateChangeAS4, b)
}

// WritePeerIndexTable writes a TABLE_DUMP_V2 PEER_INDEX_TABLE. RIB entries
// written afterwards refer to peers by their index in peers. Every peer is
// written with a 4-byte ASN.
func (w *Writer) WritePeerIndexTable(t time.Time, collectorID netip.Addr, view string, peers []route.Peer) error {
	if len(peers) > 65535 {
		return fmt.Errorf("%w: %d peers", ErrWrite, len(peers))
	}
	b := w.buf[:0]
	id := collectorID.Unmap()
	if !id.Is4() {
		id = netip.IPv4Unspecified()
	}
	b = append(b, id.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(view)))
	b = append(b, view...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(peers)))
	for _, p := range peers {
		a := p.Addr.Unmap()
		typ := byte(0x02) // 4-byte AS
		if !a.Is4() {
			typ |= 0x01
		}
		b = append(b, typ)
		// Peer BGP ID: the IPv4 address when there is one.
		if a.Is4() {
			b = append(b, a.AsSlice()...)
		} else {
			b = append(b, 0, 0, 0, 0)
		}
		if !a.IsValid() {
			return fmt.Errorf("%w: peer address missing", ErrWrite)
		}
		b = append(b, a.AsSlice()...)
		b = binary.BigEndian.AppendUint32(b, p.ASN)
	}
	w.buf = b
	return w.record(t, TypeTableDumpV2, SubPeerIndexTable, b)
}

// WriteRIB writes one TABLE_DUMP_V2 RIB_IPV4_UNICAST / RIB_IPV6_UNICAST
// record (the *_ADDPATH subtype when addPath is set) for prefix.
func (w *Writer) WriteRIB(t time.Time, seq uint32, prefix netip.Prefix, entries []RIBEntry, addPath bool) error {
	if !prefix.IsValid() {
		return fmt.Errorf("%w: invalid prefix", ErrWrite)
	}
	if len(entries) > 65535 {
		return fmt.Errorf("%w: %d RIB entries", ErrWrite, len(entries))
	}
	v4 := prefix.Addr().Is4()
	var sub uint16
	switch {
	case v4 && addPath:
		sub = SubRIBIPv4UnicastAP
	case v4:
		sub = SubRIBIPv4Unicast
	case addPath:
		sub = SubRIBIPv6UnicastAP
	default:
		sub = SubRIBIPv6Unicast
	}
	b := binary.BigEndian.AppendUint32(w.buf[:0], seq)
	b = appendNLRI(b, prefix, 0, false)
	b = binary.BigEndian.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		if e.Attrs == nil {
			return fmt.Errorf("%w: RIB entry without attributes", ErrWrite)
		}
		b = binary.BigEndian.AppendUint16(b, e.PeerIndex)
		b = binary.BigEndian.AppendUint32(b, uint32(e.Originated.Unix()))
		if addPath {
			b = binary.BigEndian.AppendUint32(b, e.PathID)
		}
		at := len(b)
		b = append(b, 0, 0)
		b = appendAttrs(b, e.Attrs, true, v4)
		if !v4 {
			// RFC 6396 4.3.4: abbreviated MP_REACH_NLRI, next hop only.
			nh := e.Attrs.NextHop
			if !nh.IsValid() || nh.Is4() {
				nh = netip.IPv6Unspecified()
			}
			nh16 := nh.As16()
			b = appendAttr(b, flagOptional, attrMPReach, append([]byte{16}, nh16[:]...))
		}
		binary.BigEndian.PutUint16(b[at:], uint16(len(b)-at-2))
	}
	w.buf = b
	return w.record(t, TypeTableDumpV2, sub, b)
}

func appendNLRI(b []byte, p netip.Prefix, pathID uint32, addPath bool) []byte {
	if addPath {
		b = binary.BigEndian.AppendUint32(b, pathID)
	}
	bits := p.Bits()
	b = append(b, byte(bits))
	a := p.Addr().AsSlice()
	return append(b, a[:(bits+7)/8]...)
}

func appendAttr(b []byte, flags, typ byte, val []byte) []byte {
	if len(val) > 255 {
		b = append(b, flags|flagExtLen, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(len(val)))
	} else {
		b = append(b, flags, typ, byte(len(val)))
	}
	return append(b, val...)
}

// appendAttrs encodes the path attributes of a (except MP_REACH). nextHop4
// writes the NEXT_HOP attribute for classic IPv4 NLRI.
func appendAttrs(b []byte, a *route.Attrs, as4, nextHop4 bool) []byte {
	b = appendAttr(b, flagTransitive, attrOrigin, []byte{byte(a.Origin)})
	b = appendAttr(b, flagTransitive, attrASPath, encodeASPath(a.ASPath, as4))
	if nextHop4 {
		nh := a.NextHop.Unmap()
		if !nh.Is4() {
			nh = netip.IPv4Unspecified()
		}
		b = appendAttr(b, flagTransitive, attrNextHop, nh.AsSlice())
	}
	if a.HasMED {
		b = appendAttr(b, flagOptional, attrMED, binary.BigEndian.AppendUint32(nil, a.MED))
	}
	if a.HasLocalPref {
		b = appendAttr(b, flagTransitive, attrLocalPref, binary.BigEndian.AppendUint32(nil, a.LocalPref))
	}
	if a.AtomicAggregate {
		b = appendAttr(b, flagTransitive, attrAtomicAggregate, nil)
	}
	needAS4 := false
	if ag := a.Aggregator; ag != nil {
		var v []byte
		if as4 {
			v = binary.BigEndian.AppendUint32(v, ag.ASN)
		} else {
			v = binary.BigEndian.AppendUint16(v, as2(ag.ASN))
		}
		addr := ag.Addr.Unmap()
		if !addr.Is4() {
			addr = netip.IPv4Unspecified()
		}
		v = append(v, addr.AsSlice()...)
		b = appendAttr(b, flagOptional|flagTransitive, attrAggregator, v)
		if !as4 && ag.ASN > 0xffff {
			v4 := binary.BigEndian.AppendUint32(nil, ag.ASN)
			v4 = append(v4, addr.AsSlice()...)
			b = appendAttr(b, flagOptional|flagTransitive, attrAS4Aggregator, v4)
		}
	}
	if len(a.Communities) > 0 {
		v := make([]byte, 0, 4*len(a.Communities))
		for _, c := range a.Communities {
			v = binary.BigEndian.AppendUint32(v, uint32(c))
		}
		b = appendAttr(b, flagOptional|flagTransitive, attrCommunities, v)
	}
	if !as4 {
		for _, s := range a.ASPath {
			for _, asn := range s.ASNs {
				if asn > 0xffff {
					needAS4 = true
				}
			}
		}
		if needAS4 {
			b = appendAttr(b, flagOptional|flagTransitive, attrAS4Path, encodeASPath(a.ASPath, true))
		}
	}
	if len(a.LargeCommunities) > 0 {
		v := make([]byte, 0, 12*len(a.LargeCommunities))
		for _, c := range a.LargeCommunities {
			v = binary.BigEndian.AppendUint32(v, c.Global)
			v = binary.BigEndian.AppendUint32(v, c.Local1)
			v = binary.BigEndian.AppendUint32(v, c.Local2)
		}
		b = appendAttr(b, flagOptional|flagTransitive, attrLargeCommunity, v)
	}
	return b
}

// encodeASPath splits segments longer than 255 ASNs as BGP requires.
func encodeASPath(p route.ASPath, as4 bool) []byte {
	var v []byte
	for _, s := range p {
		asns := s.ASNs
		for len(asns) > 0 || len(s.ASNs) == 0 {
			n := min(len(asns), 255)
			v = append(v, byte(s.Type), byte(n))
			for _, asn := range asns[:n] {
				if as4 {
					v = binary.BigEndian.AppendUint32(v, asn)
				} else {
					v = binary.BigEndian.AppendUint16(v, as2(asn))
				}
			}
			asns = asns[n:]
			if len(s.ASNs) == 0 {
				break
			}
		}
	}
	return v
}
