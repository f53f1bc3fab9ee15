package collector

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"routewatch/route"
)

func TestConvertAttrs(t *testing.T) {
	nh := netip.MustParseAddr("192.0.2.1")
	agg := netip.MustParseAddr("192.0.2.9")
	for _, tc := range []struct {
		name string
		in   []bgp.PathAttributeInterface
		want *route.Attrs
	}{
		{"full", []bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(2),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
				bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{65001, 4200000000}),
				bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SET, []uint32{1, 2}),
			}),
			mustNH(t, nh),
			bgp.NewPathAttributeMultiExitDisc(10),
			bgp.NewPathAttributeLocalPref(200),
			bgp.NewPathAttributeAtomicAggregate(),
			must2(bgp.NewPathAttributeAggregator(uint32(65009), agg)),
			bgp.NewPathAttributeCommunities([]uint32{1<<16 | 2}),
			bgp.NewPathAttributeLargeCommunities([]*bgp.LargeCommunity{bgp.NewLargeCommunity(1, 2, 3)}),
		}, &route.Attrs{
			Origin:  route.OriginIncomplete,
			ASPath:  route.ASPath{{Type: route.ASSequence, ASNs: []uint32{65001, 4200000000}}, {Type: route.ASSet, ASNs: []uint32{1, 2}}},
			NextHop: nh, MED: 10, HasMED: true, LocalPref: 200, HasLocalPref: true, AtomicAggregate: true,
			Aggregator:       &route.Aggregator{ASN: 65009, Addr: agg},
			Communities:      []route.Community{1<<16 | 2},
			LargeCommunities: []route.LargeCommunity{{Global: 1, Local1: 2, Local2: 3}},
		}},
		{"as4 merge and as4 aggregator", []bgp.PathAttributeInterface{
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
				bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{65001, 23456, 23456}),
			}),
			bgp.NewPathAttributeAs4Path([]*bgp.As4PathParam{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{4200000001, 4200000002})}),
			must2(bgp.NewPathAttributeAggregator(uint16(23456), agg)),
			must2(bgp.NewPathAttributeAs4Aggregator(4200000009, agg)),
		}, &route.Attrs{
			ASPath:     route.ASPath{{Type: route.ASSequence, ASNs: []uint32{65001}}, {Type: route.ASSequence, ASNs: []uint32{4200000001, 4200000002}}},
			Aggregator: &route.Aggregator{ASN: 4200000009, Addr: agg},
		}},
		{"as4 longer than as path is ignored", []bgp.PathAttributeInterface{
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{23456})}),
			bgp.NewPathAttributeAs4Path([]*bgp.As4PathParam{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{1, 2})}),
		}, &route.Attrs{ASPath: seq(23456)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := convertAttrs(tc.in)
			must(t, err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func must2[T bgp.PathAttributeInterface](v T, err error) bgp.PathAttributeInterface {
	if err != nil {
		panic(err)
	}
	return v
}

func mustNH(t *testing.T, a netip.Addr) bgp.PathAttributeInterface {
	nh, err := bgp.NewPathAttributeNextHop(a)
	must(t, err)
	return nh
}

func TestPathToUpdate(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	peer := netip.MustParseAddr("::ffff:192.0.2.7")
	nlri4, _ := bgp.NewIPAddrPrefix(netip.MustParsePrefix("10.0.0.0/8"))
	nlri6, _ := bgp.NewIPAddrPrefix(netip.MustParsePrefix("2001:db8::/32"))
	mp, _ := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri6}}, netip.MustParseAddr("2001:db8::1"))
	for _, tc := range []struct {
		name    string
		path    *apiutil.Path
		want    route.Update
		wantErr error
	}{
		{"ipv4 announce", &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri4, PeerAddress: peer, PeerASN: 65007, RemoteID: 3,
			Attrs: []bgp.PathAttributeInterface{mustNH(t, netip.MustParseAddr("192.0.2.7"))}},
			route.Update{Time: at, Source: Source, Peer: route.Peer{Addr: netip.MustParseAddr("192.0.2.7"), ASN: 65007},
				Prefix: netip.MustParsePrefix("10.0.0.0/8"), PathID: 3, Attrs: &route.Attrs{NextHop: netip.MustParseAddr("192.0.2.7")}}, nil},
		{"ipv6 announce via MP_REACH", &apiutil.Path{Family: bgp.RF_IPv6_UC, Nlri: nlri6, PeerAddress: peer, PeerASN: 65007,
			Attrs: []bgp.PathAttributeInterface{mp}},
			route.Update{Time: at, Source: Source, Peer: route.Peer{Addr: netip.MustParseAddr("192.0.2.7"), ASN: 65007},
				Prefix: netip.MustParsePrefix("2001:db8::/32"), Attrs: &route.Attrs{NextHop: netip.MustParseAddr("2001:db8::1")}}, nil},
		{"withdrawal has no attributes", &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri4, PeerAddress: peer, Withdrawal: true},
			route.Update{Time: at, Source: Source, Peer: route.Peer{Addr: netip.MustParseAddr("192.0.2.7")},
				Prefix: netip.MustParsePrefix("10.0.0.0/8"), Withdraw: true}, nil},
		{"other family", &apiutil.Path{Family: bgp.RF_FS_IPv4_UC, Nlri: nlri4}, route.Update{}, errNotUnicast},
		{"no nlri", &apiutil.Path{Family: bgp.RF_IPv4_UC}, route.Update{}, errors.New("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pathToUpdate(tc.path, at, Source, nil)
			if tc.wantErr != nil {
				if err == nil || (errors.Is(tc.wantErr, errNotUnicast) && !errors.Is(err, errNotUnicast)) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			must(t, err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %s\nwant %s", describe(got), describe(tc.want))
			}
		})
	}
}

func TestLocalWithdrawal(t *testing.T) {
	nlri, _ := bgp.NewIPAddrPrefix(netip.MustParsePrefix("10.0.0.0/8"))
	wire := &apiutil.Path{Nlri: nlri, Withdrawal: true}
	dropped := &apiutil.Path{Nlri: nlri, Withdrawal: true, Attrs: []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0)}}
	if localWithdrawal(wire) || !localWithdrawal(dropped) || localWithdrawal(&apiutil.Path{Attrs: dropped.Attrs}) {
		t.Fatal("localWithdrawal misclassifies")
	}
}

func TestCheckOpaqueAttrs(t *testing.T) {
	unk := func(typ bgp.BGPAttrType, v []byte) bgp.PathAttributeInterface {
		return bgp.NewPathAttributeUnknown(bgp.BGP_ATTR_FLAG_OPTIONAL|bgp.BGP_ATTR_FLAG_TRANSITIVE, typ, v)
	}
	for _, tc := range []struct {
		name string
		in   []bgp.PathAttributeInterface
		want string
	}{
		{"none", nil, ""},
		{"otc ok", []bgp.PathAttributeInterface{unk(35, []byte{0, 0, 0, 1})}, ""},
		{"otc short", []bgp.PathAttributeInterface{unk(35, []byte{0, 1})}, handlingTreatAsWithdraw},
		{"elca empty", []bgp.PathAttributeInterface{unk(28, nil)}, ""},
		{"elca garbage", []bgp.PathAttributeInterface{unk(28, []byte{1})}, handlingTreatAsWithdraw},
		{"other unknown", []bgp.PathAttributeInterface{unk(99, []byte{1, 2, 3})}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkOpaqueAttrs(tc.in); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFSMStateAndFamilies(t *testing.T) {
	if fsmState(bgp.BGP_FSM_IDLE) != route.StateIdle || fsmState(bgp.BGP_FSM_ESTABLISHED) != route.StateEstablished ||
		fsmState(bgp.BGP_FSM_OPENCONFIRM) != route.StateOpenConfirm || fsmState(bgp.FSMState(42)) != route.StateUnknown {
		t.Fatal("fsmState mapping")
	}
	if negotiated(nil) != famV4 {
		t.Fatal("no MP capability means IPv4 unicast")
	}
	caps := []bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC), bgp.NewCapMultiProtocol(bgp.RF_FS_IPv4_UC)}
	if negotiated(caps) != famV6 {
		t.Fatal("IPv6-only peer")
	}
}

func TestMalformedHandling(t *testing.T) {
	for msg, want := range map[string]string{
		"Session will be reset due to malformed BGP Header":         handlingSessionReset,
		"Session will be reset due to malformed BGP message":        handlingSessionReset,
		"Session will be reset due to malformed BGP update message": handlingSessionReset,
		"the received Update message was treated as withdraw":       handlingTreatAsWithdraw,
		"Some attributes were discarded":                            handlingAttributeDiscard,
		"Peer Up":                                                   "",
	} {
		if got := malformedHandling(msg); got != want {
			t.Errorf("%q: got %q, want %q", msg, got, want)
		}
	}
}

// FuzzConvertUpdate feeds arbitrary UPDATE bodies through GoBGP's parser
// and then through routewatch's conversion: nothing may panic, and every
// converted update must have a valid prefix.
func FuzzConvertUpdate(f *testing.F) {
	f.Add(update([][]byte{attrOrigin, attrASPath, attrNextHop}, "10.77.0.0/24")[19:])
	f.Add(update([][]byte{attrOrigin, attrASPath, attrNextHop, attr(0xc0, 35, []byte{0, 0, 1})}, "10.0.0.0/8")[19:])
	f.Add(update([][]byte{attrOrigin, attr(0xc0, 17, asPath4(1, 2)), attrASPath, attrNextHop}, "10.0.0.0/8")[19:])
	opts := []*bgp.MarshallingOption{nil, {AddPath: map[bgp.Family]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_RECEIVE, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_RECEIVE}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, opt := range opts {
			h := &bgp.BGPHeader{Len: uint16(19 + len(body)), Type: bgp.BGP_MSG_UPDATE}
			var os []*bgp.MarshallingOption
			if opt != nil {
				os = append(os, opt)
			}
			m, err := bgp.ParseBGPBody(h, body, os...)
			if err != nil || m == nil {
				continue
			}
			u, ok := m.Body.(*bgp.BGPUpdate)
			if !ok {
				continue
			}
			var paths []*apiutil.Path
			for _, n := range u.NLRI {
				paths = append(paths, &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: n.NLRI, Attrs: u.PathAttributes, RemoteID: n.ID})
			}
			for _, n := range u.WithdrawnRoutes {
				paths = append(paths, &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: n.NLRI, Withdrawal: true})
			}
			for _, a := range u.PathAttributes {
				if r, ok := a.(*bgp.PathAttributeMpReachNLRI); ok {
					for _, n := range r.Value {
						paths = append(paths, &apiutil.Path{Family: bgp.NewFamily(r.AFI, r.SAFI), Nlri: n.NLRI, Attrs: u.PathAttributes})
					}
				}
			}
			_ = checkOpaqueAttrs(u.PathAttributes)
			tr := newTracker(Source, nil)
			for _, p := range paths {
				up, err := pathToUpdate(p, time.Time{}, Source, nil)
				if err != nil {
					continue
				}
				if !up.Prefix.IsValid() || (!up.Withdraw && up.Attrs == nil) {
					t.Fatalf("invalid update %s", describe(up))
				}
				tr.update(&up)
			}
		}
	})
}

func TestResetReasonOf(t *testing.T) {
	tests := []struct {
		name string
		st   apiutil.PeerState
		want string
	}{
		{"update error sent", apiutil.PeerState{DisconnectReason: api.PeerState_DISCONNECT_REASON_NOTIFICATION_SENT, DisconnectMessage: "notification-sent code 3(update) subcode 1(malformed attribute list)"}, resetMalformedUpdate},
		{"header error sent", apiutil.PeerState{DisconnectReason: api.PeerState_DISCONNECT_REASON_NOTIFICATION_SENT, DisconnectMessage: "notification-sent code 1(header) subcode 3(bad message type)"}, resetMalformedHeader},
		{"cease sent", apiutil.PeerState{DisconnectReason: api.PeerState_DISCONNECT_REASON_NOTIFICATION_SENT, DisconnectMessage: "notification-sent code 6(cease) subcode 4(administrative reset)"}, resetCeaseSent},
		{"hold timer", apiutil.PeerState{DisconnectReason: api.PeerState_DISCONNECT_REASON_HOLD_TIMER_EXPIRED}, resetHoldTimer},
		{"peer notified", apiutil.PeerState{DisconnectReason: api.PeerState_DISCONNECT_REASON_NOTIFICATION_RECEIVED}, resetPeerNotified},
		{"tcp closed", apiutil.PeerState{DisconnectReason: api.PeerState_DISCONNECT_REASON_READ_FAILED}, resetConnectionLost},
		{"max prefix", apiutil.PeerState{AdminState: api.PeerState_ADMIN_STATE_PFX_CT, DisconnectReason: api.PeerState_DISCONNECT_REASON_ADMIN_DOWN}, resetMaxPrefix},
		{"admin", apiutil.PeerState{DisconnectReason: api.PeerState_DISCONNECT_REASON_ADMIN_DOWN}, resetAdmin},
		{"unspecified", apiutil.PeerState{}, resetOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resetReasonOf(&tt.st); got != tt.want {
				t.Errorf("resetReasonOf = %q, want %q", got, tt.want)
			}
		})
	}
}
