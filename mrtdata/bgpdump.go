package mrtdata

import (
	"net/netip"
	"strconv"

	"routewatch/route"
)

// BgpdumpFormatter renders records the way `bgpdump -m` (bgpdump 1.6.2)
// does, one line per route or state change. It caches the attribute part
// of the line per *route.Attrs, so the prefixes of one UPDATE or the
// entries sharing attributes cost one formatting. Not safe for concurrent
// use.
type BgpdumpFormatter struct {
	suffixes suffixCache
	head     []byte
	// peers caches "addr|asn|" per peer; lastPrefix / prefix the
	// rendering of the previous prefix (all entries of a RIB record share
	// it).
	peers      map[route.Peer][]byte
	lastPrefix netip.Prefix
	prefix     []byte
}

// maxCachedPeers bounds the peer cache; real collectors have a few hundred.
const maxCachedPeers = 4096

func (f *BgpdumpFormatter) peer(p route.Peer) []byte {
	if b, ok := f.peers[p]; ok {
		return b
	}
	if f.peers == nil || len(f.peers) >= maxCachedPeers {
		f.peers = make(map[route.Peer][]byte)
	}
	b := appendAddr(nil, p.Addr)
	b = append(b, '|')
	b = strconv.AppendUint(b, uint64(p.ASN), 10)
	b = append(b, '|')
	f.peers[p] = b
	return b
}

// Append appends the bgpdump -m lines of rec to dst.
func (f *BgpdumpFormatter) Append(dst []byte, rec *Record) []byte {
	var kind string
	switch rec.Type {
	case TypeBGP:
		return f.appendLegacy(dst, rec)
	case TypeBGP4MP, TypeBGP4MPET:
		if len(rec.States) > 0 {
			return f.appendStates(dst, rec)
		}
		kind = bgp4mpName(rec)
	case TypeTableDumpV2:
		switch rec.Subtype {
		case SubRIBIPv4Unicast, SubRIBIPv6Unicast:
			kind = "TABLE_DUMP2"
		case SubRIBIPv4UnicastAP, SubRIBIPv6UnicastAP:
			kind = "TABLE_DUMP2_AP"
		default:
			// bgpdump 1.6.2 does not print multicast or generic RIBs.
			return dst
		}
	case TypeTableDump:
		if rec.Subtype < 1 || rec.Subtype > 4 {
			return dst
		}
		kind = "TABLE_DUMP"
	default:
		return dst
	}
	// Line head up to and including the time and the type letter's bar.
	h := append(f.head[:0], kind...)
	h = append(h, '|')
	h = appendTime(h, rec)
	f.head = h
	for i := range rec.Updates {
		u := &rec.Updates[i]
		dst = append(dst, h...)
		switch {
		case u.Withdraw:
			dst = append(dst, "|W|"...)
		case u.TableDump:
			dst = append(dst, "|B|"...)
		default:
			dst = append(dst, "|A|"...)
		}
		if rec.Type == TypeTableDump && rec.Subtype == 4 {
			// bgpdump prints the IPv6 addresses of its 4-byte-AS IPv6
			// TABLE_DUMP variant with inet_ntoa: their first 4 bytes.
			dst = appendAddr(dst, netip.AddrFrom4([4]byte(u.Peer.Addr.AsSlice()[:4])))
			dst = append(dst, '|')
			dst = strconv.AppendUint(dst, uint64(u.Peer.ASN), 10)
			dst = append(dst, '|')
			dst = appendAddr(dst, netip.AddrFrom4([4]byte(u.Prefix.Addr().AsSlice()[:4])))
			dst = append(dst, '/')
			dst = strconv.AppendUint(dst, uint64(u.Prefix.Bits()), 10)
			dst = append(dst, '|')
			dst = append(dst, appendAttrsSuffix(nil, u.Attrs, false)...)
			continue
		}
		if rec.Local && u.Withdraw && u.Peer.Addr.Is4() && u.Prefix.Addr().Is6() {
			// bgpdump renders an IPv4 peer of a *_LOCAL IPv6 withdrawal
			// as an IPv6 address: its 4 bytes, then zeros.
			var a [16]byte
			copy(a[:], u.Peer.Addr.AsSlice())
			dst = appendAddr(dst, netip.AddrFrom16(a))
			dst = append(dst, '|')
			dst = strconv.AppendUint(dst, uint64(u.Peer.ASN), 10)
			dst = append(dst, '|')
		} else {
			dst = append(dst, f.peer(u.Peer)...)
		}
		if u.Prefix != f.lastPrefix || len(f.prefix) == 0 {
			f.prefix = appendAddr(f.prefix[:0], u.Prefix.Addr())
			f.prefix = append(f.prefix, '/')
			f.prefix = strconv.AppendUint(f.prefix, uint64(u.Prefix.Bits()), 10)
			f.lastPrefix = u.Prefix
		}
		dst = append(dst, f.prefix...)
		if u.Withdraw {
			if rec.addPath {
				dst = append(dst, '|')
				dst = strconv.AppendUint(dst, uint64(u.PathID), 10)
			}
			dst = append(dst, '\n')
			continue
		}
		dst = append(dst, '|')
		if rec.addPath {
			dst = strconv.AppendUint(dst, uint64(u.PathID), 10)
			dst = append(dst, '|')
		}
		signed := i < len(rec.signed) && rec.signed[i]
		dst = append(dst, f.suffixes.get(u.Attrs, signed)...)
	}
	return dst
}

func (f *BgpdumpFormatter) appendStates(dst []byte, rec *Record) []byte {
	for _, s := range rec.States {
		if rec.Type == TypeBGP4MPET {
			dst = append(dst, "BGP4MP_ET|"...)
		} else {
			dst = append(dst, "BGP4MP|"...)
		}
		dst = appendTime(dst, rec)
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
	return dst
}

func bgp4mpName(rec *Record) string {
	et := rec.Type == TypeBGP4MPET
	switch {
	case et && rec.Local && rec.addPath:
		return "BGP4MP_ET_LOCAL_AP"
	case et && rec.Local:
		return "BGP4MP_ET_LOCAL"
	case et && rec.addPath:
		return "BGP4MP_ET_AP"
	case et:
		return "BGP4MP_ET"
	case rec.Local && rec.addPath:
		return "BGP4MP_LOCAL_AP"
	case rec.Local:
		return "BGP4MP_LOCAL"
	case rec.addPath:
		return "BGP4MP_AP"
	}
	return "BGP4MP"
}

func appendTime(dst []byte, rec *Record) []byte {
	dst = strconv.AppendInt(dst, rec.Time.Unix(), 10)
	if rec.Type == TypeBGP4MPET {
		dst = append(dst, '.')
		u := rec.usec
		for d := uint32(100000); d > 0; d /= 10 {
			dst = append(dst, byte('0'+u/d%10))
		}
	}
	return dst
}

// appendAttrsSuffix renders "aspath|origin|nexthop|localpref|med|communities|AG|aggregator|\n".
func appendAttrsSuffix(dst []byte, a *route.Attrs, signed bool) []byte {
	if a == nil {
		a = &route.Attrs{Origin: originMissing}
	}
	dst = appendASPathBgpdump(dst, a.ASPath)
	dst = append(dst, '|')
	switch a.Origin {
	case route.OriginIGP:
		dst = append(dst, "IGP|"...)
	case route.OriginEGP:
		dst = append(dst, "EGP|"...)
	default:
		dst = append(dst, "INCOMPLETE|"...)
	}
	if a.NextHop.IsValid() {
		dst = appendAddr(dst, a.NextHop)
	} else {
		// bgpdump's "no next hop" is INADDR_NONE.
		dst = append(dst, "255.255.255.255"...)
	}
	dst = append(dst, '|')
	var lp, med uint32
	if a.HasLocalPref {
		lp = a.LocalPref
	}
	if a.HasMED {
		med = a.MED
	}
	if signed {
		// bgpdump prints these with %d for IPv4 routes in MP_REACH_NLRI.
		dst = strconv.AppendInt(dst, int64(int32(lp)), 10)
		dst = append(dst, '|')
		dst = strconv.AppendInt(dst, int64(int32(med)), 10)
	} else {
		dst = strconv.AppendUint(dst, uint64(lp), 10)
		dst = append(dst, '|')
		dst = strconv.AppendUint(dst, uint64(med), 10)
	}
	dst = append(dst, '|')
	for i, c := range a.Communities {
		if i > 0 {
			dst = append(dst, ' ')
		}
		switch c {
		case 0xFFFFFF01:
			dst = append(dst, "no-export"...)
		case 0xFFFFFF02:
			dst = append(dst, "no-advertise"...)
		case 0xFFFFFF03:
			dst = append(dst, "local-AS"...)
		default:
			dst = strconv.AppendUint(dst, uint64(c>>16), 10)
			dst = append(dst, ':')
			dst = strconv.AppendUint(dst, uint64(c&0xffff), 10)
		}
	}
	// bgpdump 1.6.2 -m leaves large communities out.
	if a.AtomicAggregate {
		dst = append(dst, "|AG|"...)
	} else {
		dst = append(dst, "|NAG|"...)
	}
	if ag := a.Aggregator; ag != nil && ag.Addr != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		dst = strconv.AppendUint(dst, uint64(ag.ASN), 10)
		dst = append(dst, ' ')
		dst = appendAddr(dst, ag.Addr)
	}
	return append(dst, "|\n"...)
}

// appendASPathBgpdump formats like bgpdump: sequences space separated,
// {sets}, (confed sequences), [confed sets]; bgpdump cuts paths longer
// than its 8000-byte buffer with "...".
func appendASPathBgpdump(dst []byte, p route.ASPath) []byte {
	start := len(dst)
	const limit = 8000 - 100
	for i, s := range p {
		if i > 0 {
			dst = append(dst, ' ')
		}
		var open, sep, closing byte
		switch s.Type {
		case route.ASSet:
			open, sep, closing = '{', ',', '}'
		case route.ASConfedSequence:
			open, sep, closing = '(', ' ', ')'
		case route.ASConfedSet:
			open, sep, closing = '[', ',', ']'
		default:
			sep = ' '
		}
		if open != 0 {
			dst = append(dst, open)
		}
		for j, a := range s.ASNs {
			if j > 0 {
				dst = append(dst, sep)
			}
			dst = strconv.AppendUint(dst, uint64(a), 10)
			if len(dst)-start > limit {
				return append(dst, "..."...)
			}
		}
		if closing != 0 {
			dst = append(dst, closing)
		}
	}
	return dst
}

// appendAddr formats IPv4 like inet_ntoa and IPv6 like bgpdump's fmt_ipv6,
// which differs from RFC 5952 (and Go): it compresses the longest zero run
// even when it is a single group, and prints IPv4-compatible addresses
// (::a.b.c.d) in dotted form.
func appendAddr(dst []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		dst = append(dst, octets[b[0]]...)
		dst = append(dst, '.')
		dst = append(dst, octets[b[1]]...)
		dst = append(dst, '.')
		dst = append(dst, octets[b[2]]...)
		dst = append(dst, '.')
		return append(dst, octets[b[3]]...)
	}
	b := a.As16()
	var zero12 = true
	for _, o := range b[:10] {
		if o != 0 {
			zero12 = false
		}
	}
	if zero12 && ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0 && (b[12]|b[13]|b[14]) != 0) || (b[10] == 0 && b[11] == 0 && b[15] > 1)) {
		if b[10] == 0xff {
			dst = append(dst, "::ffff:"...)
		} else {
			dst = append(dst, "::"...)
		}
		return appendAddr(dst, netip.AddrFrom4([4]byte(b[12:])))
	}
	var g [8]uint16
	for i := range g {
		g[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	// Longest run of zero groups (first one on ties), any length >= 1.
	best, bestLen := -1, 0
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	for i := 0; i < 8; i++ {
		if i == best {
			if i == 0 {
				dst = append(dst, ':')
			}
			dst = append(dst, ':')
			i += bestLen - 1
			continue
		}
		dst = strconv.AppendUint(dst, uint64(g[i]), 16)
		if i != 7 {
			dst = append(dst, ':')
		}
	}
	return dst
}

// octets holds the decimal renderings of 0..255.
var octets = func() (t [256]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()
