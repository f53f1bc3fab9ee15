package mrtdata

import (
	"encoding/binary"
	"errors"
	"strconv"

	"routewatch/route"
)

// TypeBGP is the legacy MRT type 5 (BGP, RFC 6396 appendix B.2.1), used by
// RIPE RIS from 1999 to 2001 before BGP4MP: IPv4 only, 2-byte ASNs, the
// BGP UPDATE without its message header.
const TypeBGP uint16 = 5

// Legacy BGP (type 5) subtypes.
const (
	SubBGPNull        uint16 = 0
	SubBGPUpdate      uint16 = 1
	SubBGPPrefUpdate  uint16 = 2
	SubBGPStateChange uint16 = 3
	SubBGPSync        uint16 = 4
	SubBGPOpen        uint16 = 5
	SubBGPNotify      uint16 = 6
	SubBGPKeepalive   uint16 = 7
)

// legacyBGP decodes a type 5 record. BGP_UPDATE: peer AS (2), peer
// address (4), local AS (2), local address (4), then the UPDATE body
// (withdrawn routes, path attributes, NLRI). BGP_STATE_CHANGE: peer AS,
// peer address, old and new state (2 bytes each). Other subtypes carry no
// routes and are skipped.
func (d *decoder) legacyBGP(rec *Record, b []byte) error {
	switch rec.Subtype {
	case SubBGPUpdate:
		if len(b) < 12 {
			return errShort
		}
		peer := route.Peer{ASN: uint32(binary.BigEndian.Uint16(b))}
		peer.Addr, _, _ = readAddr(b[2:], afiIPv4)
		d.classicOnly = true
		err := d.update(rec, b[12:], peer, 2)
		d.classicOnly = false
		return err
	case SubBGPStateChange:
		if len(b) < 10 {
			return errShort
		}
		peer := route.Peer{ASN: uint32(binary.BigEndian.Uint16(b))}
		peer.Addr, _, _ = readAddr(b[2:], afiIPv4)
		rec.States = append(rec.States, route.PeerState{
			Time: rec.Time, Source: d.source, Peer: peer,
			Old: route.SessionState(binary.BigEndian.Uint16(b[6:])),
			New: route.SessionState(binary.BigEndian.Uint16(b[8:])),
		})
		return nil
	case SubBGPKeepalive:
		return skipError("BGP/KEEPALIVE")
	case SubBGPOpen:
		return skipError("BGP/OPEN")
	case SubBGPNotify:
		return skipError("BGP/NOTIFICATION")
	}
	return skipError("BGP/subtype " + strconv.Itoa(int(rec.Subtype)))
}

// appendLegacy renders a type 5 record like bgpdump 1.6.2 -m, whose
// legacy printer differs from its BGP4MP one: the line starts with "BGP",
// a withdrawal shows the peer's address in place of the prefix's (the
// prefix length is right), and an announcement has no field separator before the communities and
// none for their absence ("…|MED|NAG|" without communities,
// "…|MEDc1 c2|NAG|" with them).
func (f *BgpdumpFormatter) appendLegacy(dst []byte, rec *Record) []byte {
	for _, s := range rec.States {
		dst = append(dst, "BGP|"...)
		dst = strconv.AppendInt(dst, rec.Time.Unix(), 10)
		dst = append(dst, "|STATE|"...)
		dst = appendAddr(dst, s.Peer.Addr)
		dst = append(dst, '|')
		dst = strconv.AppendUint(dst, uint64(s.Peer.ASN), 10)
		dst = append(dst, '|')
		dst = strconv.AppendUint(dst, uint64(s.Old), 10)
		dst = append(dst, '|')
		dst = strconv.AppendUint(dst, uint64(s.New), 10)
		dst = append(dst, '\n')
	}
	for i := range rec.Updates {
		u := &rec.Updates[i]
		dst = append(dst, "BGP|"...)
		dst = strconv.AppendInt(dst, rec.Time.Unix(), 10)
		if u.Withdraw {
			dst = append(dst, "|W|"...)
		} else {
			dst = append(dst, "|A|"...)
		}
		dst = append(dst, f.peer(u.Peer)...)
		if u.Withdraw {
			// bgpdump formats the peer and the prefix of a withdrawal
			// with inet_ntoa in one printf: both show its static
			// buffer, the peer's address.
			dst = appendAddr(dst, u.Peer.Addr)
		} else {
			dst = appendAddr(dst, u.Prefix.Addr())
		}
		dst = append(dst, '/')
		dst = strconv.AppendUint(dst, uint64(u.Prefix.Bits()), 10)
		if u.Withdraw {
			dst = append(dst, '\n')
			continue
		}
		dst = append(dst, '|')
		dst = appendLegacySuffix(dst, u.Attrs)
	}
	return dst
}

func appendLegacySuffix(dst []byte, a *route.Attrs) []byte {
	// Render the BGP4MP suffix "path|origin|nh|lp|med|comms|AG|aggr|\n"
	// and drop the separator after the MED.
	full := appendAttrsSuffix(nil, a, false)
	bars := 0
	for i, c := range full {
		if c != '|' {
			continue
		}
		bars++
		if bars == 5 {
			dst = append(dst, full[:i]...)
			return append(dst, full[i+1:]...)
		}
	}
	return append(dst, full...) // not reached: the suffix has 8 bars
}

// WriteLegacyUpdate writes us (IPv4 prefixes of one peer, announcements
// sharing the attributes of the first) as one legacy BGP / BGP_UPDATE
// record (type 5, 2-byte ASNs, AS4_PATH for larger ones), as RIS wrote
// before 2001.
func (w *Writer) WriteLegacyUpdate(us []route.Update) error {
	if len(us) == 0 {
		return nil
	}
	var attrs *route.Attrs
	var wd, nlri []byte
	for _, u := range us {
		if u.Peer != us[0].Peer || !u.Prefix.Addr().Is4() || !u.Peer.Addr.Is4() {
			return errors.Join(ErrWrite, errors.New("legacy BGP records hold IPv4 routes of one IPv4 peer"))
		}
		if u.Withdraw {
			wd = appendNLRI(wd, u.Prefix, 0, false)
			continue
		}
		if u.Attrs == nil {
			return errors.Join(ErrWrite, errors.New("announcement without attributes"))
		}
		if attrs == nil {
			attrs = u.Attrs
		}
		nlri = appendNLRI(nlri, u.Prefix, 0, false)
	}
	b := w.legacyHeader(us[0].Peer)
	b = binary.BigEndian.AppendUint16(b, uint16(len(wd)))
	b = append(b, wd...)
	at := len(b)
	b = append(b, 0, 0)
	if attrs != nil {
		b = appendAttrs(b, attrs, false, true)
	}
	binary.BigEndian.PutUint16(b[at:], uint16(len(b)-at-2))
	b = append(b, nlri...)
	w.buf = b
	return w.record(us[0].Time, TypeBGP, SubBGPUpdate, b)
}

// WriteLegacyState writes s as a legacy BGP / BGP_STATE_CHANGE record.
func (w *Writer) WriteLegacyState(s route.PeerState) error {
	if !s.Peer.Addr.Is4() {
		return errors.Join(ErrWrite, errors.New("legacy BGP records hold IPv4 peers"))
	}
	b := binary.BigEndian.AppendUint16(w.buf[:0], as2(s.Peer.ASN))
	b = append(b, s.Peer.Addr.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, uint16(s.Old))
	b = binary.BigEndian.AppendUint16(b, uint16(s.New))
	w.buf = b
	return w.record(s.Time, TypeBGP, SubBGPStateChange, b)
}

// legacyHeader appends peer AS and address, local AS and address.
func (w *Writer) legacyHeader(p route.Peer) []byte {
	b := binary.BigEndian.AppendUint16(w.buf[:0], as2(p.ASN))
	b = append(b, p.Addr.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, as2(w.LocalASN))
	local := w.LocalAddr.Unmap()
	if !local.Is4() {
		b = append(b, 0, 0, 0, 0)
	} else {
		b = append(b, local.AsSlice()...)
	}
	return b
}
