package bmpstation

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/packet/bmp"
)

// Builders of BMP messages with GoBGP's serializers, for tests that need
// exact bytes (raw-TCP matrix, decoder tables, fuzz seeds).

func ser(t testing.TB, m *bmp.BMPMessage) []byte {
	t.Helper()
	b, err := m.Serialize()
	must(t, err)
	return b
}

func initiationMsg(t testing.TB, name string) []byte {
	return ser(t, bmp.NewBMPInitiation([]bmp.BMPInfoTLVInterface{
		bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_NAME, name),
		bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_DESCR, "raw test router"),
	}))
}

func terminationMsg(t testing.TB) []byte {
	return ser(t, bmp.NewBMPTermination([]bmp.BMPTermTLVInterface{bmp.NewBMPTermTLV16(bmp.BMP_TERM_TLV_TYPE_REASON, bmp.BMP_TERM_REASON_ADMIN)}))
}

// hdr builds a per-peer header; flags as on the wire.
func hdr(typ, flags uint8, rd uint64, peer string, asn uint32) bmp.BMPPeerHeader {
	var a netip.Addr
	if peer != "" {
		a = addr(peer)
	}
	return *bmp.NewBMPPeerHeader(typ, flags, rd, a, asn, addr("192.0.2.9"), 1700000000)
}

// openCfg describes one side's OPEN.
type openCfg struct {
	asn     uint32
	as4     bool
	addPath map[bgp.Family]bgp.BGPAddPathMode
}

func openMsg(c openCfg) *bgp.BGPMessage {
	caps := []bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC)}
	as2 := uint16(c.asn)
	if c.as4 {
		caps = append(caps, bgp.NewCapFourOctetASNumber(c.asn))
		if c.asn > 65535 {
			as2 = bgp.AS_TRANS
		}
	}
	var tuples []*bgp.CapAddPathTuple
	for _, f := range []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} { // fixed order: seeds are golden
		if m, ok := c.addPath[f]; ok {
			tuples = append(tuples, bgp.NewCapAddPathTuple(f, m))
		}
	}
	if len(tuples) > 0 {
		caps = append(caps, bgp.NewCapAddPath(tuples))
	}
	m, _ := bgp.NewBGPOpenMessage(as2, 90, addr("192.0.2.9"), []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	return m
}

func peerUpMsg(t testing.TB, ph bmp.BMPPeerHeader, sent, recv openCfg, info ...bmp.BMPInfoTLVInterface) []byte {
	return ser(t, bmp.NewBMPPeerUpNotification(ph, addr("192.0.2.1"), 179, 40000, openMsg(sent), openMsg(recv), info...))
}

func peerDownMsg(t testing.TB, ph bmp.BMPPeerHeader, reason uint8, data []byte) []byte {
	m := bmp.NewBMPPeerDownNotification(ph, reason, nil, data)
	if reason == 1 || reason == 3 {
		m.Body.(*bmp.BMPPeerDownNotification).BGPNotification = bgp.NewBGPNotificationMessage(6, 2, nil)
	}
	return ser(t, m)
}

// upd describes a BGP UPDATE for routeMonMsg.
type upd struct {
	announce, withdraw []string
	ids                []uint32 // path IDs, one per prefix (announce then withdraw)
	path               []uint32
	as2                bool // 2-byte AS_PATH encoding
	addPath            bool
}

func updateBytes(t testing.TB, u upd) []byte {
	t.Helper()
	var attrs []bgp.PathAttributeInterface
	var v4, v6, wd4, wd6 []bgp.PathNLRI
	id := func(i int) uint32 {
		if i < len(u.ids) {
			return u.ids[i]
		}
		return 0
	}
	for i, s := range u.announce {
		n, err := bgp.NewIPAddrPrefix(pfx(s))
		must(t, err)
		if pfx(s).Addr().Is4() {
			v4 = append(v4, bgp.PathNLRI{NLRI: n, ID: id(i)})
		} else {
			v6 = append(v6, bgp.PathNLRI{NLRI: n, ID: id(i)})
		}
	}
	for i, s := range u.withdraw {
		n, err := bgp.NewIPAddrPrefix(pfx(s))
		must(t, err)
		if pfx(s).Addr().Is4() {
			wd4 = append(wd4, bgp.PathNLRI{NLRI: n, ID: id(len(u.announce) + i)})
		} else {
			wd6 = append(wd6, bgp.PathNLRI{NLRI: n, ID: id(len(u.announce) + i)})
		}
	}
	if len(u.announce) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeOrigin(0))
		if u.as2 {
			as := make([]uint16, len(u.path))
			for i, a := range u.path {
				as[i] = uint16(a)
			}
			attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAsPathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, as)}))
		} else {
			attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, u.path)}))
		}
		if len(v4) > 0 {
			nh, _ := bgp.NewPathAttributeNextHop(addr("192.0.2.1"))
			attrs = append(attrs, nh)
		}
		if len(v6) > 0 {
			mp, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, v6, addr("2001:db8::1"))
			must(t, err)
			attrs = append(attrs, mp)
		}
	}
	if len(wd6) > 0 {
		mp, err := bgp.NewPathAttributeMpUnreachNLRI(bgp.RF_IPv6_UC, wd6)
		must(t, err)
		attrs = append(attrs, mp)
	}
	opt := &bgp.MarshallingOption{Use2ByteAS: u.as2}
	if u.addPath {
		opt.AddPath = map[bgp.Family]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_BOTH, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_BOTH}
	}
	b, err := bgp.NewBGPUpdateMessage(wd4, attrs, v4).Serialize(opt)
	must(t, err)
	return b
}

func routeMonMsg(t testing.TB, ph bmp.BMPPeerHeader, pdu []byte) []byte {
	m := bmp.NewBMPRouteMonitoring(ph, nil)
	m.Body.(*bmp.BMPRouteMonitoring).BGPUpdatePayload = pdu
	return ser(t, m)
}

func eorMsg(t testing.TB, ph bmp.BMPPeerHeader, f bgp.Family) []byte {
	b, err := bgp.NewEndOfRib(f).Serialize()
	must(t, err)
	return routeMonMsg(t, ph, b)
}

func statsMsg(t testing.TB, ph bmp.BMPPeerHeader) []byte {
	return ser(t, bmp.NewBMPStatisticsReport(ph, []bmp.BMPStatsTLVInterface{
		bmp.NewBMPStatsTLV32(bmp.BMP_STAT_TYPE_REJECTED, 3),
		bmp.NewBMPStatsTLV64(bmp.BMP_STAT_TYPE_ADJ_RIB_IN, 500000),
		bmp.NewBMPStatsTLVPerAfiSafi64(bmp.BMP_STAT_TYPE_PER_AFI_SAFI_ADJ_RIB_IN, 2, 1, 70000),
	}))
}

func mirrorMsg(t testing.TB, ph bmp.BMPPeerHeader) []byte {
	return ser(t, bmp.NewBMPRouteMirroring(ph, []bmp.BMPRouteMirrTLVInterface{bmp.NewBMPRouteMirrTLV16(bmp.BMP_ROUTE_MIRRORING_TLV_TYPE_INFO, bmp.BMP_ROUTE_MIRRORING_INFO_MSG_LOST)}))
}

// withLength rewrites a message's length field.
func withLength(b []byte, n uint32) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[1:5], n)
	return c
}
