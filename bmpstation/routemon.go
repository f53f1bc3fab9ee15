package bmpstation

import (
	"errors"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"routewatch/collector"
	"routewatch/route"
)

// routeMonitoring decodes the BGP UPDATE of a Route Monitoring message
// with the encoding its peer negotiated, keeping withdrawals and watched
// announcements only.
func (d *decoder) routeMonitoring(m *message, pdu []byte, at time.Time) error {
	info := d.peers[m.peer.key]
	if info == nil {
		// No Peer Up (RFC 7854 says it comes first): go by the flags.
		info = &peerInfo{asn: m.peer.asn, as4: true, families: famV4 | famV6}
	}
	as4 := info.as4 && !m.peer.twoByte
	if m.view == route.ViewLocRIB {
		// RFC 9069 4.1: Loc-RIB is always 4-octet.
		as4 = true
	}
	addPath := info.addPathIn
	if m.peer.out {
		addPath = info.addPathOut
	}
	upd, err := parseUpdate(pdu, as4, addPath)
	if err != nil || upd.withdraw {
		// A sender may re-encode AS_PATHs to 4 octets without saying so
		// (or not re-encode them although it says so): try the other.
		other, err2 := parseUpdate(pdu, !as4, addPath)
		switch {
		case err2 == nil && !other.withdraw:
			upd = other
		case err != nil:
			return malformed(m.typ, reasonBadBGP, "%v", err)
		}
	}
	if eor, fam := upd.u.IsEndOfRib(); eor {
		m.eor = unicastFam(fam)
		return nil
	}
	d.collect(m, upd, at)
	return nil
}

type parsedUpdate struct {
	u *bgp.BGPUpdate
	// withdraw: the UPDATE's attributes were malformed in a way RFC 7606
	// handles as treat-as-withdraw.
	withdraw bool
}

func parseUpdate(pdu []byte, as4 bool, addPath famSet) (parsedUpdate, error) {
	opt := &bgp.MarshallingOption{Use2ByteAS: !as4, ExtendedMessage: true}
	if addPath != 0 {
		opt.AddPath = map[bgp.Family]bgp.BGPAddPathMode{}
		if addPath&famV4 != 0 {
			opt.AddPath[bgp.RF_IPv4_UC] = bgp.BGP_ADD_PATH_RECEIVE
		}
		if addPath&famV6 != 0 {
			opt.AddPath[bgp.RF_IPv6_UC] = bgp.BGP_ADD_PATH_RECEIVE
		}
	}
	var msg *bgp.BGPMessage
	err := parseGuarded(func() error {
		var e error
		msg, e = bgp.ParseBGPMessage(pdu, opt)
		return e
	})
	if msg == nil {
		if err == nil {
			err = errors.New("no message")
		}
		return parsedUpdate{}, err
	}
	u, ok := msg.Body.(*bgp.BGPUpdate)
	if !ok {
		return parsedUpdate{}, errors.New("route monitoring carries a BGP message that is not an UPDATE")
	}
	if len(pdu) != int(msg.Header.Len) {
		return parsedUpdate{}, errors.New("BGP message length differs from the BMP message's")
	}
	if err != nil {
		var me *bgp.MessageError
		if !errors.As(err, &me) {
			return parsedUpdate{}, err
		}
		switch me.ErrorHandling {
		case bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
			return parsedUpdate{u: u}, nil
		case bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW:
			return parsedUpdate{u: u, withdraw: true}, nil
		}
		return parsedUpdate{}, err
	}
	return parsedUpdate{u: u}, nil
}

// collect turns the UPDATE's unicast NLRI into updates.
func (d *decoder) collect(m *message, p parsedUpdate, at time.Time) {
	peer := route.Peer{Addr: m.peer.key.addr, ASN: m.peer.asn, Distinguisher: m.peer.key.rd, View: m.view}
	m.updates = d.scratch[:0]
	defer func() { d.scratch = m.updates }()
	var ann, wd []bgp.PathNLRI
	var reach *bgp.PathAttributeMpReachNLRI
	wd = append(wd, p.u.WithdrawnRoutes...)
	ann = append(ann, p.u.NLRI...)
	for _, a := range p.u.PathAttributes {
		switch v := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			if v.SAFI == bgp.SAFI_UNICAST {
				reach = v
				ann = append(ann, v.Value...)
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			if v.SAFI == bgp.SAFI_UNICAST {
				wd = append(wd, v.Value...)
			}
		}
	}
	if p.withdraw {
		wd, ann = append(wd, ann...), nil
	}
	m.withdrawn = p.withdraw
	for _, n := range wd {
		if pfx, ok := prefixOf(n); ok {
			m.updates = append(m.updates, route.Update{Time: at, Source: d.source, Peer: peer, Prefix: pfx, PathID: n.ID, Withdraw: true})
		}
	}
	var attrs *route.Attrs
	for _, n := range ann {
		pfx, ok := prefixOf(n)
		if !ok {
			continue
		}
		if attrs == nil {
			a, err := collector.ConvertAttrs(p.u.PathAttributes)
			if err != nil {
				return
			}
			if reach != nil && reach.Nexthop.IsValid() && !pfx.Addr().Is4() {
				a.NextHop = reach.Nexthop.Unmap()
			}
			attrs = a
		}
		// Unwatched announcements go to the tracker too, which drops
		// them unless they replace a route it holds.
		m.updates = append(m.updates, route.Update{Time: at, Source: d.source, Peer: peer, Prefix: pfx, PathID: n.ID, Attrs: attrs})
	}
}

func prefixOf(n bgp.PathNLRI) (p netip.Prefix, ok bool) {
	x, ok := n.NLRI.(*bgp.IPAddrPrefix)
	if !ok || !x.Prefix.IsValid() {
		return netip.Prefix{}, false
	}
	return x.Prefix.Masked(), true
}
