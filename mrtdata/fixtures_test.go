package mrtdata

import (
	"bytes"
	"encoding/binary"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"routewatch/route"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/ from the installed bgpdump")

// Raw record builders for cases the Writer deliberately cannot produce
// (LOCAL messages, missing attributes, IPv4 in MP_REACH, TABLE_DUMP v1...).

func mrtRec(ts uint32, typ, sub uint16, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, ts)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, sub)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func addr(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func bgp4mpHdr(as4 bool, peerAS, localAS uint32, peer, local string) []byte {
	var b []byte
	if as4 {
		b = cat(u32(peerAS), u32(localAS))
	} else {
		b = cat(u16(uint16(peerAS)), u16(uint16(localAS)))
	}
	afi := uint16(afiIPv4)
	if !netip.MustParseAddr(peer).Is4() {
		afi = afiIPv6
	}
	return cat(b, u16(0), u16(afi), addr(peer), addr(local))
}

func bgpMsg(typ byte, body []byte) []byte {
	m := bytes.Repeat([]byte{0xff}, 16)
	m = append(m, u16(uint16(19+len(body)))...)
	m = append(m, typ)
	return append(m, body...)
}

func updateMsg(withdrawn, attrs, nlri []byte) []byte {
	return bgpMsg(2, cat(u16(uint16(len(withdrawn))), withdrawn, u16(uint16(len(attrs))), attrs, nlri))
}

func pfx(s string) []byte { return appendNLRI(nil, netip.MustParsePrefix(s), 0, false) }
func pfxAP(s string, id uint32) []byte {
	return appendNLRI(nil, netip.MustParsePrefix(s), id, true)
}

func at(flags, typ byte, v []byte) []byte { return appendAttr(nil, flags, typ, v) }

func seq(asns ...uint32) route.Segment { return route.Segment{Type: route.ASSequence, ASNs: asns} }

func path(as4 bool, segs ...route.Segment) []byte {
	return at(flagTransitive, attrASPath, encodeASPath(route.ASPath(segs), as4))
}

var (
	originIGP = at(flagTransitive, attrOrigin, []byte{0})
	originEGP = at(flagTransitive, attrOrigin, []byte{1})
)

func nh4(s string) []byte { return at(flagTransitive, attrNextHop, addr(s)) }

func mpReach(afi uint16, safi byte, nh []byte, nlri []byte) []byte {
	return at(flagOptional, attrMPReach, cat(u16(afi), []byte{safi, byte(len(nh))}, nh, []byte{0}, nlri))
}

func mpUnreach(afi uint16, safi byte, nlri []byte) []byte {
	return at(flagOptional, attrMPUnreach, cat(u16(afi), []byte{safi}, nlri))
}

// quirksArchive builds records that exercise bgpdump -m's corners.
func quirksArchive() []byte {
	const ts = 1600000000
	var out []byte
	add := func(typ, sub uint16, body []byte) { out = append(out, mrtRec(ts, typ, sub, body)...) }
	as4 := func(body []byte) { add(TypeBGP4MP, SubMessageAS4, body) }
	h4 := bgp4mpHdr(true, 4200000000, 65000, "192.0.2.1", "192.0.2.254")
	h6 := bgp4mpHdr(true, 64496, 65000, "2001:db8:0:1:1:1:1:1", "2001:db8::fe")

	// IPv6 formatting: single zero group, v4-compatible and v4-mapped
	// next hops, the default route, a trailing zero run.
	for _, nh := range []string{"::1.2.3.4", "::ffff:1.2.3.4", "fe80::", "2001:db8:0:0:1:0:0:1", "::2"} {
		as4(cat(h6, updateMsg(nil, cat(originIGP, path(true, seq(64496, 15169)),
			mpReach(afiIPv6, 1, addr(nh), cat(pfx("::/0"), pfx("2001:db8:1::/64")))), nil)))
	}
	// IPv4 in MP_REACH_NLRI: bgpdump prints local-pref and MED signed.
	as4(cat(h4, updateMsg(nil, cat(originEGP, path(true, seq(4200000000, 13335)),
		at(flagTransitive, attrLocalPref, u32(4000000000)), at(flagOptional, attrMED, u32(3000000000)),
		mpReach(afiIPv4, 1, addr("198.51.100.7"), cat(pfx("203.0.113.0/24"), pfx("10.0.0.0/8")))), nil)))
	// Classic NLRI without ORIGIN and NEXT_HOP; MED and local-pref large
	// but unsigned here.
	as4(cat(h4, updateMsg(nil, cat(path(true, seq(4200000000)), at(flagTransitive, attrLocalPref, u32(4000000000))), pfx("198.18.0.0/15"))))
	// Communities (well-known names), atomic aggregate, aggregator, and
	// an aggregator whose address is bgpdump's "none".
	comms := cat(u32(65000<<16|1), u32(0xFFFFFF01), u32(0xFFFFFF02), u32(0xFFFFFF03), u32(0xFFFFFF04), u32(0))
	as4(cat(h4, updateMsg(nil, cat(originIGP, path(true, seq(1, 2)), nh4("192.0.2.1"),
		at(flagTransitive, attrAtomicAggregate, nil), at(flagOptional|flagTransitive, attrAggregator, cat(u32(4200000001), addr("10.1.1.1"))),
		at(flagOptional|flagTransitive, attrCommunities, comms),
		at(flagOptional|flagTransitive, attrLargeCommunity, cat(u32(1), u32(2), u32(3)))), pfx("100.64.0.0/10"))))
	as4(cat(h4, updateMsg(nil, cat(originIGP, path(true, seq(1, 2)), nh4("192.0.2.1"),
		at(flagOptional|flagTransitive, attrAggregator, cat(u32(7), addr("255.255.255.255")))), pfx("100.64.0.0/11"))))
	// Segment kinds: set, confederation sequence and set.
	as4(cat(h4, updateMsg(nil, cat(originIGP, nh4("192.0.2.1"), path(true,
		route.Segment{Type: route.ASConfedSequence, ASNs: []uint32{65001, 65002}},
		route.Segment{Type: route.ASConfedSet, ASNs: []uint32{65003, 65004}},
		seq(3, 4), route.Segment{Type: route.ASSet, ASNs: []uint32{5, 6, 7}})), pfx("192.88.99.0/24"))))
	// A path longer than bgpdump's 8000-byte buffer.
	long := make([]uint32, 1000)
	for i := range long {
		long[i] = 4200000000 + uint32(i)
	}
	as4(cat(h4, updateMsg(nil, cat(originIGP, nh4("192.0.2.1"), path(true, seq(long...))), pfx("192.0.0.0/24"))))
	// Withdrawals and announcements of both families in one message, in
	// bgpdump's order.
	as4(cat(h4, updateMsg(cat(pfx("10.1.0.0/16"), pfx("10.2.0.0/16")), cat(originIGP, path(true, seq(4200000000)), nh4("192.0.2.1"),
		mpUnreach(afiIPv6, 1, pfx("2001:db8:dead::/48")), mpReach(afiIPv6, 1, addr("2001:db8::1"), pfx("2001:db8:beef::/48"))),
		pfx("10.3.0.0/16"))))
	// Add-path message with withdrawals.
	add(TypeBGP4MP, SubMessageAS4AddPath, cat(h4, updateMsg(pfxAP("10.9.0.0/16", 9), cat(originIGP, path(true, seq(4200000000)), nh4("192.0.2.1"),
		mpUnreach(afiIPv6, 1, pfxAP("2001:db8:9::/48", 10))), pfxAP("10.8.0.0/16", 8))))
	// A message the collector sent (LOCAL): bgpdump prints the peer.
	add(TypeBGP4MP, SubMessageAS4Local, cat(h4, updateMsg(nil, cat(originIGP, path(true, seq(65000)), nh4("192.0.2.254")), pfx("172.16.0.0/12"))))
	add(TypeBGP4MP, SubMessageAS4Local, cat(h4, updateMsg(nil, cat(originIGP, path(true, seq(65000)),
		mpUnreach(afiIPv6, 1, pfx("2001:db8:9::/48")), mpReach(afiIPv6, 1, addr("2001:db8::1"), pfx("2001:db8:beef::/48"))), nil)))
	add(TypeBGP4MP, SubMessageAS4Local, cat(bgp4mpHdr(true, 4200000000, 65000, "2001:db8::5", "2001:db8::fe"),
		updateMsg(pfx("10.0.0.0/8"), cat(originIGP, path(true, seq(65000)), nh4("192.0.2.1")), pfx("10.1.0.0/16"))))
	// 2-byte AS speaker: AS4_PATH merge; AGGREGATOR other than AS_TRANS
	// makes AS4_PATH ignored; AS4_PATH longer than AS_PATH is ignored.
	h2 := bgp4mpHdr(false, 3356, 65000, "192.0.2.2", "192.0.2.254")
	add(TypeBGP4MP, SubMessage, cat(h2, updateMsg(nil, cat(originIGP, path(false, seq(3356, 174, asTrans, asTrans)), nh4("192.0.2.2"),
		at(flagOptional|flagTransitive, attrAS4Path, encodeASPath(route.ASPath{seq(4200000000, 4200000001)}, true))), pfx("192.0.2.0/25"))))
	add(TypeBGP4MP, SubMessage, cat(h2, updateMsg(nil, cat(originIGP, path(false, seq(3356, asTrans)), nh4("192.0.2.2"),
		at(flagOptional|flagTransitive, attrAggregator, cat(u16(3356), addr("10.0.0.1"))),
		at(flagOptional|flagTransitive, attrAS4Aggregator, cat(u32(4200000000), addr("10.0.0.2"))),
		at(flagOptional|flagTransitive, attrAS4Path, encodeASPath(route.ASPath{seq(4200000000)}, true))), pfx("192.0.2.128/25"))))
	add(TypeBGP4MP, SubMessage, cat(h2, updateMsg(nil, cat(originIGP, path(false, seq(3356, asTrans)), nh4("192.0.2.2"),
		at(flagOptional|flagTransitive, attrAggregator, cat(u16(asTrans), addr("10.0.0.1"))),
		at(flagOptional|flagTransitive, attrAS4Aggregator, cat(u32(4200000000), addr("10.0.0.2"))),
		at(flagOptional|flagTransitive, attrAS4Path, encodeASPath(route.ASPath{seq(4200000000)}, true))), pfx("198.51.100.0/25"))))
	add(TypeBGP4MP, SubMessage, cat(h2, updateMsg(nil, cat(originIGP, path(false, seq(3356)), nh4("192.0.2.2"),
		at(flagOptional|flagTransitive, attrAS4Path, encodeASPath(route.ASPath{seq(1, 4200000000)}, true))), pfx("198.51.100.128/25"))))
	// State changes: 2-byte IPv4, 4-byte IPv6, extended timestamp.
	add(TypeBGP4MP, SubStateChange, cat(bgp4mpHdr(false, 3356, 65000, "192.0.2.2", "192.0.2.254"), u16(6), u16(1)))
	add(TypeBGP4MP, SubStateChangeAS4, cat(h6, u16(1), u16(2)))
	et := cat(u32(4200), bgp4mpHdr(true, 64496, 65000, "192.0.2.3", "192.0.2.254"), u16(5), u16(6))
	add(TypeBGP4MPET, SubStateChangeAS4, et)
	add(TypeBGP4MPET, SubMessageAS4, cat(u32(999999), h4, updateMsg(pfx("10.4.0.0/16"), nil, nil)))
	// Messages without routes and unknown types print nothing.
	add(TypeBGP4MP, SubMessageAS4, cat(h4, bgpMsg(4, nil)))
	add(99, 0, []byte{1, 2, 3})
	// TABLE_DUMP v1, IPv4 and IPv6.
	add(TypeTableDump, tdAFIIPv4, cat(u16(0), u16(1), addr("193.0.0.0"), []byte{21, 1}, u32(1000), addr("192.0.2.9"), u16(3333),
		u16(uint16(len(cat(originIGP, path(false, seq(3333, 1)), nh4("192.0.2.9"))))), cat(originIGP, path(false, seq(3333, 1)), nh4("192.0.2.9"))))
	v6attrs := cat(originIGP, path(false, seq(3333, 2)), mpReach(afiIPv6, 1, addr("2001:db8::9"), nil))
	add(TypeTableDump, tdAFIIPv6, cat(u16(0), u16(2), addr("2001:67c::"), []byte{32, 1}, u32(1000), addr("2001:db8::9"), u16(3333),
		u16(uint16(len(v6attrs))), v6attrs))
	// bgpdump's 4-byte-AS TABLE_DUMP variants (subtypes 3 and 4).
	rib4 := cat(originIGP, path(true, seq(4200000000, 1)), nh4("192.0.2.9"))
	add(TypeTableDump, 3, cat(u16(0), u16(1), addr("193.0.0.0"), []byte{21, 1}, u32(1000), addr("192.0.2.9"), u32(4200000000), u16(uint16(len(rib4))), rib4))
	rib6 := cat(originIGP, path(true, seq(4200000000, 1)), mpReach(afiIPv6, 1, addr("2001:db8::9"), nil))
	add(TypeTableDump, 4, cat(u16(0), u16(1), addr("2001:67c::"), []byte{32, 1}, u32(1000), addr("2001:db8::9"), u32(4200000000), u16(uint16(len(rib6))), rib6))
	// TABLE_DUMP_V2 multicast RIB: decoded, but bgpdump prints nothing.
	out = append(out, mrtRec(ts, TypeTableDumpV2, SubPeerIndexTable, cat(addr("10.0.0.1"), u16(0), u16(1),
		[]byte{2}, addr("10.0.0.1"), addr("192.0.2.1"), u32(4200000000)))...)
	rib := cat(originIGP, path(true, seq(4200000000)), nh4("192.0.2.1"))
	add(TypeTableDumpV2, SubRIBIPv4Multicast, cat(u32(0), pfx("224.0.0.0/4"), u16(1), u16(0), u32(ts), u16(uint16(len(rib))), rib))
	add(TypeTableDumpV2, SubRIBIPv4Unicast, cat(u32(1), pfx("0.0.0.0/0"), u16(1), u16(0), u32(ts), u16(uint16(len(rib))), rib))
	return out
}

// TestBgpdumpQuirks compares the quirks archive with a golden output made
// by bgpdump (-update rewrites it), and with the installed bgpdump.
func TestBgpdumpQuirks(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "quirks.mrt")
	if err := os.WriteFile(in, quirksArchive(), 0o644); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "quirks.bgpdump")
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "quirks.mrt"), quirksArchive(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, runBgpdump(t, in), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := dumpM(t, in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("differs from golden %s: %s", golden, firstDiff(got, want))
	}
	t.Run("installed bgpdump", func(t *testing.T) {
		if live := runBgpdump(t, in); !bytes.Equal(got, live) {
			t.Errorf("differs from the installed bgpdump: %s", firstDiff(got, live))
		}
	})
}
