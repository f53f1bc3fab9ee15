package collector

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"routewatch/route"
)

// This file is the edge where GoBGP types become routewatch's domain types;
// nothing from gobgp leaves it except through these functions.

// errNotUnicast marks paths of families routewatch does not watch.
var errNotUnicast = errors.New("not an IPv4/IPv6 unicast path")

// localWithdrawal reports whether p is a withdrawal GoBGP generated itself
// (peer down, graceful-restart expiry): those keep the old attributes,
// while withdrawals received on the wire (including RFC 7606
// treat-as-withdraw) never carry any.
func localWithdrawal(p *apiutil.Path) bool {
	return p.Withdrawal && len(p.Attrs) > 0
}

// pathToUpdate converts one GoBGP path. attrs, when non-nil, is reused
// (paths of one UPDATE share their attributes). The update's TableDump flag
// is left to the tracker.
func pathToUpdate(p *apiutil.Path, at time.Time, source string, attrs *route.Attrs) (route.Update, error) {
	if p == nil || p.Nlri == nil {
		return route.Update{}, errors.New("collector: convert path: no NLRI")
	}
	if p.Family != bgp.RF_IPv4_UC && p.Family != bgp.RF_IPv6_UC {
		return route.Update{}, fmt.Errorf("collector: convert path %s: %w", p.Family, errNotUnicast)
	}
	n, ok := p.Nlri.(*bgp.IPAddrPrefix)
	if !ok {
		return route.Update{}, fmt.Errorf("collector: convert path: NLRI %T: %w", p.Nlri, errNotUnicast)
	}
	pfx := n.Prefix
	if !pfx.IsValid() {
		return route.Update{}, errors.New("collector: convert path: invalid prefix")
	}
	u := route.Update{
		Time:     at,
		Source:   source,
		Peer:     route.Peer{Addr: p.PeerAddress.Unmap(), ASN: p.PeerASN},
		Prefix:   pfx.Masked(),
		PathID:   p.RemoteID,
		Withdraw: p.Withdrawal,
	}
	if u.Withdraw {
		return u, nil
	}
	if attrs == nil {
		a, err := convertAttrs(p.Attrs)
		if err != nil {
			return route.Update{}, err
		}
		attrs = a
	}
	u.Attrs = attrs
	return u, nil
}

// convertAttrs keeps the attributes routewatch uses. AS4_PATH and
// AS4_AGGREGATOR (from 2-byte-ASN speakers) are merged as RFC 6793 says.
func convertAttrs(in []bgp.PathAttributeInterface) (*route.Attrs, error) {
	a := &route.Attrs{}
	var as4 *bgp.PathAttributeAs4Path
	var as4agg *bgp.PathAttributeAs4Aggregator
	for _, x := range in {
		switch v := x.(type) {
		case *bgp.PathAttributeOrigin:
			a.Origin = route.Origin(v.Value)
		case *bgp.PathAttributeAsPath:
			for _, seg := range v.Value {
				if seg == nil {
					continue
				}
				a.ASPath = append(a.ASPath, route.Segment{Type: route.SegmentType(seg.GetType()), ASNs: seg.GetAS()})
			}
		case *bgp.PathAttributeAs4Path:
			as4 = v
		case *bgp.PathAttributeNextHop:
			a.NextHop = v.Value.Unmap()
		case *bgp.PathAttributeMpReachNLRI:
			if v.Nexthop.IsValid() {
				a.NextHop = v.Nexthop.Unmap()
			}
		case *bgp.PathAttributeMultiExitDisc:
			a.MED, a.HasMED = v.Value, true
		case *bgp.PathAttributeLocalPref:
			a.LocalPref, a.HasLocalPref = v.Value, true
		case *bgp.PathAttributeAtomicAggregate:
			a.AtomicAggregate = true
		case *bgp.PathAttributeAggregator:
			a.Aggregator = &route.Aggregator{ASN: v.Value.AS, Addr: v.Value.Address.Unmap()}
		case *bgp.PathAttributeAs4Aggregator:
			as4agg = v
		case *bgp.PathAttributeCommunities:
			a.Communities = make([]route.Community, len(v.Value))
			for i, c := range v.Value {
				a.Communities[i] = route.Community(c)
			}
		case *bgp.PathAttributeLargeCommunities:
			a.LargeCommunities = make([]route.LargeCommunity, 0, len(v.Values))
			for _, c := range v.Values {
				if c != nil {
					a.LargeCommunities = append(a.LargeCommunities, route.LargeCommunity{Global: c.ASN, Local1: c.LocalData1, Local2: c.LocalData2})
				}
			}
		}
	}
	if as4 != nil {
		a.ASPath = mergeAS4Path(a.ASPath, as4)
	}
	if as4agg != nil && a.Aggregator != nil && a.Aggregator.ASN == bgp.AS_TRANS {
		a.Aggregator = &route.Aggregator{ASN: as4agg.Value.AS, Addr: as4agg.Value.Address.Unmap()}
	}
	return a, nil
}

// mergeAS4Path implements RFC 6793 4.2.3: when AS4_PATH is not longer than
// AS_PATH, the leading AS_PATH entries the AS4_PATH does not cover are kept
// and the rest is replaced by AS4_PATH.
func mergeAS4Path(path route.ASPath, as4 *bgp.PathAttributeAs4Path) route.ASPath {
	var p4 route.ASPath
	for _, seg := range as4.Value {
		if seg != nil {
			p4 = append(p4, route.Segment{Type: route.SegmentType(seg.Type), ASNs: seg.AS})
		}
	}
	n, n4 := path.Len(), p4.Len()
	if n4 > n {
		return path
	}
	keep := n - n4
	var out route.ASPath
	for _, s := range path {
		if keep <= 0 {
			break
		}
		switch s.Type {
		case route.ASSequence:
			k := min(keep, len(s.ASNs))
			out = append(out, route.Segment{Type: s.Type, ASNs: s.ASNs[:k]})
			keep -= k
		case route.ASSet:
			out = append(out, s)
			keep--
		default:
			out = append(out, s)
		}
	}
	return append(out, p4...)
}

// Attribute types GoBGP v4.8.0 does not parse (it passes them on as
// opaque bytes) but whose malformed forms have crashed or poisoned other
// BGP implementations.
const (
	attrEntropyLabel = 28 // RFC 6790 ELCA, deprecated; its length is 0
	attrOTC          = 35 // RFC 9234 Only-to-Customer; its length is 4
)

// checkOpaqueAttrs applies RFC 7606-style checks to attributes GoBGP left
// unparsed. It returns the handling ("" when fine): a malformed OTC is
// treat-as-withdraw (RFC 9234 5), and so is a non-empty ELCA, since a peer
// sending one is not to be trusted with this route.
func checkOpaqueAttrs(attrs []bgp.PathAttributeInterface) string {
	for _, x := range attrs {
		u, ok := x.(*bgp.PathAttributeUnknown)
		if !ok {
			continue
		}
		switch u.Type {
		case attrEntropyLabel:
			if len(u.Value) != 0 {
				return handlingTreatAsWithdraw
			}
		case attrOTC:
			if len(u.Value) != 4 {
				return handlingTreatAsWithdraw
			}
		}
	}
	return ""
}

// fsmState maps GoBGP's FSM state (Idle = 0) to the RFC 6396 numbering.
func fsmState(s bgp.FSMState) route.SessionState {
	if s < bgp.BGP_FSM_IDLE || s > bgp.BGP_FSM_ESTABLISHED {
		return route.StateUnknown
	}
	return route.SessionState(s-bgp.BGP_FSM_IDLE) + route.StateIdle
}

// peerEventOf converts a GoBGP peer event; ok is false for the
// initial-listing markers.
func peerEventOf(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) (peerEvent, bool) {
	if ev == nil || ev.Type != apiutil.PEER_EVENT_STATE {
		return peerEvent{}, false
	}
	st := ev.Peer.State
	addr := st.NeighborAddress
	if !addr.IsValid() {
		addr = ev.Peer.Conf.NeighborAddress
	}
	if !addr.IsValid() {
		return peerEvent{}, false
	}
	pe := peerEvent{Time: at, Addr: addr.Unmap(), ASN: st.PeerASN, State: fsmState(st.SessionState)}
	if st.DisconnectReason != api.PeerState_DISCONNECT_REASON_UNSPECIFIED {
		pe.Reason = st.DisconnectMessage
		if pe.Reason == "" {
			pe.Reason = st.DisconnectReason.String()
		}
	}
	if st.AdminState == api.PeerState_ADMIN_STATE_PFX_CT {
		pe.Reason = "max-prefix limit exceeded"
	}
	pe.Families = negotiated(st.RemoteCap)
	return pe, true
}

// negotiated returns the unicast families the peer announced in its OPEN
// (IPv4 unicast only when it sent no multiprotocol capability).
func negotiated(caps []bgp.ParameterCapabilityInterface) famSet {
	var f famSet
	mp := false
	for _, c := range caps {
		m, ok := c.(*bgp.CapMultiProtocol)
		if !ok {
			continue
		}
		mp = true
		switch m.CapValue {
		case bgp.RF_IPv4_UC:
			f |= famV4
		case bgp.RF_IPv6_UC:
			f |= famV6
		}
	}
	if !mp {
		return famV4
	}
	return f
}

// eorFamily converts the family of an End-of-RIB marker.
func eorFamily(p *apiutil.Path) (netip.Addr, famSet, bool) {
	if p == nil {
		return netip.Addr{}, 0, false
	}
	switch p.Family {
	case bgp.RF_IPv4_UC:
		return p.PeerAddress.Unmap(), famV4, true
	case bgp.RF_IPv6_UC:
		return p.PeerAddress.Unmap(), famV6, true
	}
	return netip.Addr{}, 0, false
}

// ConvertAttrs converts GoBGP path attributes to routewatch's, merging
// AS4_PATH and AS4_AGGREGATOR. The BMP station decodes UPDATEs with GoBGP's
// packet library too and shares this edge.
func ConvertAttrs(in []bgp.PathAttributeInterface) (*route.Attrs, error) { return convertAttrs(in) }
