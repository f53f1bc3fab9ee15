package bmpstation

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/packet/bmp"

	"routewatch/route"
)

var (
	as4Open  = openCfg{asn: 65001, as4: true}
	as2Open  = openCfg{asn: 65001}
	sendPath = openCfg{asn: 65001, as4: true, addPath: map[bgp.Family]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_SEND, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_SEND}}
	recvPath = openCfg{asn: 65001, as4: true, addPath: map[bgp.Family]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_RECEIVE, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_RECEIVE}}
)

type got struct {
	prefix string
	id     uint32
	wd     bool
	path   string
	view   route.View
}

func decodeAll(t *testing.T, msgs ...[]byte) ([]message, error) {
	t.Helper()
	d := newDecoder(nil, Source)
	var out []message
	for _, b := range msgs {
		m, err := d.decode(b, time.Unix(1, 0))
		if err != nil {
			return out, err
		}
		m.updates = append([]route.Update(nil), m.updates...)
		out = append(out, m)
	}
	return out, nil
}

// TestDecodeEncoding: 4-octet AS and ADD-PATH come from the two OPENs of
// the Peer Up (both must agree), per direction for Adj-RIB-Out.
func TestDecodeEncoding(t *testing.T) {
	pre := hdr(0, 0, 0, "192.0.2.2", 65001)
	cases := []struct {
		name       string
		sent, recv openCfg // router's OPEN, peer's OPEN
		ph         bmp.BMPPeerHeader
		u          upd
		want       []got
	}{
		{"4-octet AS", as4Open, as4Open, pre, upd{announce: []string{"10.1.0.0/24"}, path: []uint32{4200000001, 16509}},
			[]got{{prefix: "10.1.0.0/24", path: "4200000001 16509"}}},
		{"2-octet AS from OPENs, no A flag", as2Open, as4Open, pre, upd{announce: []string{"10.1.0.0/24"}, path: []uint32{65001, 16509}, as2: true},
			[]got{{prefix: "10.1.0.0/24", path: "65001 16509"}}},
		{"A flag", as4Open, as4Open, hdr(0, flagA, 0, "192.0.2.2", 65001), upd{announce: []string{"10.1.0.0/24"}, path: []uint32{65001, 3356}, as2: true},
			[]got{{prefix: "10.1.0.0/24", path: "65001 3356"}}},
		{"4-octet re-encoded although OPENs say 2", as2Open, as2Open, hdr(0, flagL, 0, "192.0.2.2", 65001), upd{announce: []string{"10.1.0.0/24"}, path: []uint32{65001, 174, 13335}},
			[]got{{prefix: "10.1.0.0/24", path: "65001 174 13335", view: route.ViewAdjRIBInPost}}},
		{"ADD-PATH agreed", recvPath, sendPath, pre, upd{announce: []string{"10.1.0.0/24", "2001:db8:1::/48"}, withdraw: []string{"10.2.0.0/24"}, ids: []uint32{7, 8, 9}, path: []uint32{65001}, addPath: true},
			[]got{{prefix: "10.2.0.0/24", id: 9, wd: true}, {prefix: "10.1.0.0/24", id: 7, path: "65001"}, {prefix: "2001:db8:1::/48", id: 8, path: "65001"}}},
		{"ADD-PATH sent by peer, not accepted by router", as4Open, sendPath, pre, upd{announce: []string{"10.1.0.0/24"}, path: []uint32{65001}},
			[]got{{prefix: "10.1.0.0/24", path: "65001"}}},
		{"Adj-RIB-Out uses the other direction", sendPath, recvPath, hdr(0, flagO, 0, "192.0.2.2", 65001), upd{announce: []string{"10.1.0.0/24"}, ids: []uint32{3}, path: []uint32{65100}, addPath: true},
			[]got{{prefix: "10.1.0.0/24", id: 3, path: "65100", view: route.ViewAdjRIBOutPre}}},
		{"Adj-RIB-Out post-policy", as4Open, as4Open, hdr(0, flagO|flagL, 0, "2001:db8::2", 65001), upd{withdraw: []string{"2001:db8:5::/48"}},
			[]got{{prefix: "2001:db8:5::/48", wd: true, view: route.ViewAdjRIBOutPost}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, err := decodeAll(t, initiationMsg(t, "r"), peerUpMsg(t, c.ph, c.sent, c.recv), routeMonMsg(t, c.ph, updateBytes(t, c.u)))
			must(t, err)
			var out []got
			for _, u := range ms[2].updates {
				g := got{prefix: u.Prefix.String(), id: u.PathID, wd: u.Withdraw, view: u.Peer.View}
				if u.Attrs != nil {
					g.path = u.Attrs.ASPath.String()
				}
				out = append(out, g)
			}
			if !reflect.DeepEqual(out, c.want) {
				t.Errorf("got  %+v\nwant %+v", out, c.want)
			}
		})
	}
}

// TestDecodeLocRIB: peer type 3 reuses 0x80 as the F flag (not V), has no
// peer address, and its Peer Up names the table (RFC 9069).
func TestDecodeLocRIB(t *testing.T) {
	ph := hdr(3, flagF, 5, "", 65100)
	up := peerUpMsg(t, ph, as4Open, as4Open, bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_VRF_TABLE_NAME, "blue"))
	ms, err := decodeAll(t, up, routeMonMsg(t, ph, updateBytes(t, upd{announce: []string{"10.9.0.0/24"}, path: []uint32{65001, 16509}})))
	must(t, err)
	if ms[0].up == nil || ms[0].up.tableName != "blue" {
		t.Fatalf("peer up: %+v", ms[0].up)
	}
	m := ms[1]
	if m.view != route.ViewLocRIB || !m.peer.filtered || m.peer.key.rd != 5 || m.peer.key.addr.IsValid() {
		t.Fatalf("header: view %s %+v", m.view, m.peer)
	}
	if len(m.updates) != 1 || m.updates[0].Prefix != pfx("10.9.0.0/24") {
		t.Fatalf("updates: %+v", m.updates)
	}
}

func TestDecodeOtherMessages(t *testing.T) {
	ph := hdr(0, 0, 0, "192.0.2.2", 65001)
	for _, c := range []struct {
		reason uint8
		data   []byte
		want   string
	}{
		{1, nil, "local system sent NOTIFICATION 6/2"},
		{2, []byte{0, 9}, "FSM event 9"},
		{3, nil, "remote system sent NOTIFICATION 6/2"},
		{4, nil, "remote system closed"},
		{5, nil, "de-configured"},
		{6, nil, "Loc-RIB instance gone"},
		{9, nil, "peer down reason 9"},
	} {
		ms, err := decodeAll(t, peerDownMsg(t, ph, c.reason, c.data))
		must(t, err)
		if !strings.Contains(ms[0].downReason, c.want) {
			t.Errorf("reason %d: %q, want it to contain %q", c.reason, ms[0].downReason, c.want)
		}
	}
	ms, err := decodeAll(t, statsMsg(t, ph), mirrorMsg(t, ph), terminationMsg(t), initiationMsg(t, "edge1"))
	must(t, err)
	want := []stat{{typ: 0, value: 3}, {typ: 7, value: 500000}, {typ: 9, fam: "ipv6-unicast", value: 70000}}
	if !reflect.DeepEqual(ms[0].stats, want) {
		t.Errorf("stats %+v, want %+v", ms[0].stats, want)
	}
	if ms[1].mirrorKind != "messages_lost" {
		t.Errorf("mirroring kind %q", ms[1].mirrorKind)
	}
	if ms[2].termReason != "administratively closed" {
		t.Errorf("termination reason %q", ms[2].termReason)
	}
	if ms[3].sysName != "edge1" || ms[3].sysDescr != "raw test router" {
		t.Errorf("initiation %q %q", ms[3].sysName, ms[3].sysDescr)
	}
}

// malformedCases are messages that must close the connection, with the
// reason counted; shared with the raw-TCP matrix.
func malformedCases(t testing.TB) []struct {
	name, reason string
	msg          []byte
} {
	ph := hdr(0, 0, 0, "192.0.2.2", 65001)
	good := routeMonMsg(t, ph, updateBytes(t, upd{announce: []string{"10.1.0.0/24"}, path: []uint32{65001}}))
	badVersion := append([]byte(nil), good...)
	badVersion[0] = 2
	unknown := append([]byte(nil), good...)
	unknown[5] = 7
	pdu := updateBytes(t, upd{announce: []string{"10.1.0.0/24"}, path: []uint32{65001}})
	truncatedPDU := routeMonMsg(t, ph, pdu[:len(pdu)-3])
	badMarker := append([]byte(nil), good...)
	badMarker[headerLen+peerHeaderLen] = 0
	badInit := initiationMsg(t, "x")
	badInit = withLength(append(badInit, 0, 2, 0, 9), uint32(len(badInit)+4))
	return []struct {
		name, reason string
		msg          []byte
	}{
		{"bad version", reasonBadVersion, badVersion},
		{"length over 1 MiB", reasonTooLong, withLength(good, MaxMessage+1)},
		{"length below header", reasonBadLength, withLength(good, 20)},
		{"unknown type", reasonUnknownType, unknown},
		{"truncated BGP PDU", reasonBadBGP, truncatedPDU},
		{"BGP marker", reasonBadBGP, badMarker},
		{"TLV overrun", reasonBadTLV, badInit},
		{"bad peer type", reasonBadPeerHeader, func() []byte { c := append([]byte(nil), good...); c[headerLen] = 9; return c }()},
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, c := range malformedCases(t) {
		t.Run(c.name, func(t *testing.T) {
			b := c.msg
			if c.reason == reasonTooLong || c.reason == reasonBadLength {
				_, err := checkHeader(b)
				checkReason(t, err, c.reason)
				return
			}
			_, err := decodeAll(t, b)
			checkReason(t, err, c.reason)
		})
	}
}

func checkReason(t *testing.T, err error, want string) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) || de.Reason != want {
		t.Fatalf("error %v, want reason %s", err, want)
	}
}
