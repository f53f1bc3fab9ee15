package bmpstation

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/packet/bmp"

	"routewatch/route"
)

// Watcher decides at decode time which announcements the station keeps:
// routes of unwatched prefixes are dropped before they cost memory.
// Withdrawals are kept for routes the station holds, so Watched sees only
// announcements (with attributes, for origin-ASN watch lists).
type Watcher interface {
	Watched(u *route.Update) bool
}

// Address families as a bit set.
type famSet uint8

const (
	famV4 famSet = 1 << iota
	famV6
)

func familyOf(p netip.Prefix) famSet {
	if p.Addr().Is4() {
		return famV4
	}
	return famV6
}

// peerInfo is what a Peer Up tells about decoding that peer's messages.
type peerInfo struct {
	asn uint32
	// as4: both OPENs carry the 4-octet AS capability.
	as4 bool
	// path IDs present in received-direction (Adj-RIB-In, Loc-RIB) and in
	// sent-direction (Adj-RIB-Out) messages, per family.
	addPathIn, addPathOut famSet
	// families negotiated (unicast).
	families  famSet
	tableName string
	remote    netip.Addr // local address of the router's session
}

// message is one decoded BMP message, what the station acts on.
type message struct {
	typ  int
	peer peerHeader
	view route.View
	// Route Monitoring: the UPDATE's routes (Peer fields other than
	// Router set; the router state filters them), End-of-RIB family,
	// attribute errors handled as withdraw.
	updates   []route.Update
	eor       famSet
	withdrawn bool
	// Peer Up
	up *peerInfo
	// Peer Down
	downReason string
	// Statistics Report
	stats []stat
	// Initiation
	sysName, sysDescr string
	// Initiation / Termination free text, Termination reason
	info, termReason string
	// Route Mirroring: messages lost / errored PDUs
	mirrorKind string
}

// stat is one Statistics Report counter (RFC 7854 4.8, RFC 8671 5).
type stat struct {
	typ   uint16
	fam   string // per AFI/SAFI counters: "ipv4-unicast", …; "" otherwise
	value uint64
}

// decoder holds one BMP session's per-peer decoding state.
type decoder struct {
	watch  Watcher
	peers  map[peerKey]*peerInfo
	source string
	// scratch backs message.updates: the caller copies what it keeps.
	scratch []route.Update
}

func newDecoder(w Watcher, source string) *decoder {
	return &decoder{watch: w, peers: map[peerKey]*peerInfo{}, source: source}
}

// decode decodes one framed message (see readMessage) received at at.
func (d *decoder) decode(b []byte, at time.Time) (message, error) {
	if _, err := checkHeader(b); err != nil {
		return message{}, err
	}
	if int(binary.BigEndian.Uint32(b[1:5])) != len(b) {
		return message{}, malformed(int(b[5]), reasonBadLength, "length %d, message %d bytes", binary.BigEndian.Uint32(b[1:5]), len(b))
	}
	m := message{typ: int(b[5])}
	body := b[headerLen:]
	switch m.typ {
	case typeInitiation:
		return m, m.initiation(body)
	case typeTermination:
		return m, m.termination(body)
	}
	ph, gh, err := decodePeerHeader(m.typ, body)
	if err != nil {
		return message{}, err
	}
	m.peer, m.view = ph, viewOf(ph)
	body = body[peerHeaderLen:]
	switch m.typ {
	case typeRouteMonitoring:
		err = d.routeMonitoring(&m, body, at)
	case typeStatistics:
		err = m.statistics(body)
	case typePeerDown:
		m.downReason = peerDownReason(body)
		delete(d.peers, ph.key)
	case typePeerUp:
		err = d.peerUp(&m, gh, body)
	case typeRouteMirroring:
		err = m.mirroring(body)
	}
	return m, err
}

func viewOf(ph peerHeader) route.View {
	switch {
	case ph.key.typ == bmp.BMP_PEER_TYPE_LOCAL_RIB:
		return route.ViewLocRIB
	case ph.out && ph.post:
		return route.ViewAdjRIBOutPost
	case ph.out:
		return route.ViewAdjRIBOutPre
	case ph.post:
		return route.ViewAdjRIBInPost
	}
	return route.ViewAdjRIBInPre
}

// peerUp records how the peer's UPDATEs are encoded: the 4-octet AS and
// ADD-PATH capabilities of the two OPENs (a capability counts only when
// both sides agree, which is where gobmp goes wrong).
func (d *decoder) peerUp(m *message, gh *bmp.BMPPeerHeader, body []byte) error {
	var up bmp.BMPPeerUpNotification
	if err := parseGuarded(func() error { return up.ParseBody(&bmp.BMPMessage{PeerHeader: *gh}, body) }); err != nil {
		return malformed(m.typ, reasonBadPeerUp, "%v", err)
	}
	sent, ok1 := up.SentOpenMsg.Body.(*bgp.BGPOpen)
	recv, ok2 := up.ReceivedOpenMsg.Body.(*bgp.BGPOpen)
	if !ok1 || !ok2 {
		return malformed(m.typ, reasonBadPeerUp, "peer up without two OPEN messages")
	}
	cs, cr := capsOf(sent), capsOf(recv)
	info := &peerInfo{asn: m.peer.asn, as4: cs.as4 && cr.as4, remote: up.LocalAddress}
	for _, f := range []famSet{famV4, famV6} {
		if cs.fams&cr.fams&f != 0 {
			info.families |= f
		}
		if cr.send&cs.recv&f != 0 {
			info.addPathIn |= f
		}
		if cs.send&cr.recv&f != 0 {
			info.addPathOut |= f
		}
	}
	for _, tlv := range up.Info {
		if s, ok := tlv.(*bmp.BMPInfoTLVString); ok && s.Type == bmp.BMP_INIT_TLV_TYPE_VRF_TABLE_NAME {
			info.tableName = s.Value
		}
	}
	d.peers[m.peer.key] = info
	m.up = info
	return nil
}

type openCaps struct {
	as4              bool
	fams, send, recv famSet
}

func capsOf(o *bgp.BGPOpen) openCaps {
	var c openCaps
	mp := false
	for _, p := range o.OptParams {
		pc, ok := p.(*bgp.OptionParameterCapability)
		if !ok {
			continue
		}
		for _, x := range pc.Capability {
			switch v := x.(type) {
			case *bgp.CapFourOctetASNumber:
				c.as4 = true
			case *bgp.CapMultiProtocol:
				mp = true
				c.fams |= unicastFam(v.CapValue)
			case *bgp.CapAddPath:
				for _, t := range v.Tuples {
					f := unicastFam(t.Family)
					if t.Mode&bgp.BGP_ADD_PATH_SEND != 0 {
						c.send |= f
					}
					if t.Mode&bgp.BGP_ADD_PATH_RECEIVE != 0 {
						c.recv |= f
					}
				}
			}
		}
	}
	if !mp {
		c.fams = famV4
	}
	return c
}

func unicastFam(f bgp.Family) famSet {
	switch f {
	case bgp.RF_IPv4_UC:
		return famV4
	case bgp.RF_IPv6_UC:
		return famV6
	}
	return 0
}

// parseGuarded runs a GoBGP decoder, turning a panic into an error: the
// station must survive any input.
func parseGuarded(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return f()
}

// peerDownReason names a Peer Down reason (RFC 7854 4.9, RFC 9069 5.2);
// GoBGP knows codes up to 6, later ones are named by number.
func peerDownReason(b []byte) string {
	if len(b) == 0 {
		return "peer down (no reason code)"
	}
	rest := b[1:]
	switch b[0] {
	case 1, 3:
		side := "local"
		if b[0] == 3 {
			side = "remote"
		}
		if len(rest) >= 21 && rest[18] == bgp.BGP_MSG_NOTIFICATION {
			return fmt.Sprintf("%s system sent NOTIFICATION %d/%d", side, rest[19], rest[20])
		}
		return side + " system sent NOTIFICATION"
	case 2:
		if len(rest) >= 2 {
			return fmt.Sprintf("local system closed the session (FSM event %d)", binary.BigEndian.Uint16(rest))
		}
		return "local system closed the session"
	case 4:
		return "remote system closed the session without a NOTIFICATION"
	case 5:
		return "peer de-configured"
	case 6:
		return "local system closed the session (Loc-RIB instance gone)"
	}
	return fmt.Sprintf("peer down reason %d", b[0])
}

// tlvs walks type-length-value items (2+2 byte headers).
func tlvs(typ int, b []byte, each func(t uint16, v []byte)) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return malformed(typ, reasonBadTLV, "%d bytes left, TLV header needs 4", len(b))
		}
		t, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b)-4 < l {
			return malformed(typ, reasonBadTLV, "TLV type %d length %d overruns the message", t, l)
		}
		each(t, b[4:4+l])
		b = b[4+l:]
	}
	return nil
}

func (m *message) initiation(b []byte) error {
	var info []string
	err := tlvs(m.typ, b, func(t uint16, v []byte) {
		switch t {
		case bmp.BMP_INIT_TLV_TYPE_STRING:
			info = append(info, string(v))
		case bmp.BMP_INIT_TLV_TYPE_SYS_DESCR:
			m.sysDescr = string(v)
		case bmp.BMP_INIT_TLV_TYPE_SYS_NAME:
			m.sysName = string(v)
		}
	})
	m.info = strings.Join(info, "; ")
	return err
}

var termReasons = []string{"administratively closed", "unspecified", "out of resources", "redundant connection", "permanently administratively closed"}

func (m *message) termination(b []byte) error {
	var info []string
	err := tlvs(m.typ, b, func(t uint16, v []byte) {
		switch t {
		case bmp.BMP_TERM_TLV_TYPE_STRING:
			info = append(info, string(v))
		case bmp.BMP_TERM_TLV_TYPE_REASON:
			if len(v) == 2 {
				r := binary.BigEndian.Uint16(v)
				m.termReason = fmt.Sprintf("reason %d", r)
				if int(r) < len(termReasons) {
					m.termReason = termReasons[r]
				}
			}
		}
	})
	m.info = strings.Join(info, "; ")
	return err
}

func (m *message) statistics(b []byte) error {
	if len(b) < 4 {
		return malformed(m.typ, reasonBadTLV, "statistics report without a count")
	}
	return tlvs(m.typ, b[4:], func(t uint16, v []byte) {
		s := stat{typ: t}
		switch len(v) {
		case 4:
			s.value = uint64(binary.BigEndian.Uint32(v))
		case 8:
			s.value = binary.BigEndian.Uint64(v)
		case 11:
			s.fam = bgp.NewFamily(binary.BigEndian.Uint16(v), v[2]).String()
			s.value = binary.BigEndian.Uint64(v[3:])
		default:
			return
		}
		m.stats = append(m.stats, s)
	})
}

func (m *message) mirroring(b []byte) error {
	m.mirrorKind = "bgp_message"
	return tlvs(m.typ, b, func(t uint16, v []byte) {
		if t == bmp.BMP_ROUTE_MIRRORING_TLV_TYPE_INFO && len(v) == 2 {
			switch binary.BigEndian.Uint16(v) {
			case bmp.BMP_ROUTE_MIRRORING_INFO_ERR_PDU:
				m.mirrorKind = "errored_pdu"
			case bmp.BMP_ROUTE_MIRRORING_INFO_MSG_LOST:
				m.mirrorKind = "messages_lost"
			}
		}
	})
}
