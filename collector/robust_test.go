package collector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"routewatch/route"
)

// rawPeer is a hand-rolled BGP speaker that can send anything.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
}

const (
	msgOpen         = 1
	msgUpdate       = 2
	msgNotification = 3
	msgKeepalive    = 4
)

func dialRaw(t *testing.T, local string, port int) *rawPeer {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	var c net.Conn
	var err error
	// The listener may not be up yet right after Run starts.
	for i := 0; i < 50; i++ {
		c, err = d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c}
}

func bgpMsg(typ byte, body []byte) []byte {
	b := bytes.Repeat([]byte{0xff}, 16)
	b = binary.BigEndian.AppendUint16(b, uint16(19+len(body)))
	b = append(b, typ)
	return append(b, body...)
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	must(p.t, p.conn.SetWriteDeadline(time.Now().Add(5*time.Second)))
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// read returns the next message's type and body; io.EOF when the
// collector closed the connection.
func (p *rawPeer) read() (byte, []byte, error) {
	must(p.t, p.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	h := make([]byte, 19)
	if _, err := io.ReadFull(p.conn, h); err != nil {
		return 0, nil, err
	}
	body := make([]byte, int(binary.BigEndian.Uint16(h[16:18]))-19)
	if _, err := io.ReadFull(p.conn, body); err != nil {
		return 0, nil, err
	}
	return h[18], body, nil
}

// expectNotification reads until a NOTIFICATION and checks code/subcode,
// then checks the connection is closed.
func (p *rawPeer) expectNotification(code, sub byte) {
	p.t.Helper()
	for {
		typ, body, err := p.read()
		if err != nil {
			p.t.Fatalf("waiting for NOTIFICATION %d/%d: %v", code, sub, err)
		}
		if typ == msgKeepalive || typ == msgOpen {
			continue
		}
		if typ != msgNotification || len(body) < 2 || body[0] != code || body[1] != sub {
			p.t.Fatalf("got message type %d body %x, want NOTIFICATION %d/%d", typ, body, code, sub)
		}
		break
	}
	if _, _, err := p.read(); !errors.Is(err, io.EOF) && !isReset(err) {
		p.t.Fatalf("after NOTIFICATION: connection not closed: %v", err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

func openMsg(asn uint16, id netip.Addr, fourByte uint32) []byte {
	caps := []byte{
		1, 4, 0, 1, 0, 1, // MP IPv4 unicast
		65, 4, 0, 0, 0, 0, // 4-octet AS
	}
	binary.BigEndian.PutUint32(caps[8:], fourByte)
	body := []byte{4}
	body = binary.BigEndian.AppendUint16(body, asn)
	body = binary.BigEndian.AppendUint16(body, 90)
	id4 := id.As4()
	body = append(body, id4[:]...)
	body = append(body, byte(2+len(caps)), 2, byte(len(caps)))
	return bgpMsg(msgOpen, append(body, caps...))
}

// dialEstablished connects from local and runs the handshake, retrying
// while the collector refuses (right after start its neighbors may not be
// configured yet; after a reset GoBGP holds reconnects back).
func dialEstablished(t *testing.T, local string, asn uint16, port int) *rawPeer {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		p := dialRaw(t, local, port)
		p.write(openMsg(asn, netip.MustParseAddr(local), uint32(asn)))
		typ, _, err := p.read()
		if err == nil && typ == msgOpen {
			p.write(bgpMsg(msgKeepalive, nil))
			if typ, _, err := p.read(); err != nil || typ != msgKeepalive {
				t.Fatalf("want KEEPALIVE, got type %d err %v", typ, err)
			}
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("no OPEN from the collector: type %d err %v", typ, err)
		}
		p.conn.Close()
		time.Sleep(100 * time.Millisecond)
	}
}

func attr(flags, typ byte, val []byte) []byte {
	if len(val) > 255 {
		b := []byte{flags | 0x10, typ}
		b = binary.BigEndian.AppendUint16(b, uint16(len(val)))
		return append(b, val...)
	}
	return append([]byte{flags, typ, byte(len(val))}, val...)
}

func asPath4(asns ...uint32) []byte {
	b := []byte{2, byte(len(asns))}
	for _, a := range asns {
		b = binary.BigEndian.AppendUint32(b, a)
	}
	return b
}

// update builds an UPDATE announcing nlri (IPv4) with the given attributes.
func update(attrs [][]byte, nlri string) []byte {
	var pa []byte
	for _, a := range attrs {
		pa = append(pa, a...)
	}
	body := []byte{0, 0}
	body = binary.BigEndian.AppendUint16(body, uint16(len(pa)))
	body = append(body, pa...)
	p := netip.MustParsePrefix(nlri)
	a := p.Addr().As4()
	body = append(body, byte(p.Bits()))
	body = append(body, a[:(p.Bits()+7)/8]...)
	return bgpMsg(msgUpdate, body)
}

var (
	attrOrigin  = attr(0x40, 1, []byte{0})
	attrASPath  = attr(0x40, 2, asPath4(65007, 16509))
	attrNextHop = attr(0x40, 3, []byte{127, 0, 0, 7})
)

// TestMalformedInput sends what has crashed BGP daemons from a configured
// neighbor's address: the collector survives, resets the session or treats
// the route as withdrawn (RFC 7606), and counts it.
func TestMalformedInput(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Neighbors = []Neighbor{{Address: "127.0.0.7", PeerASN: 65007, Passive: true}}
	r := startCollector(t, cfg)
	peer := route.Peer{Addr: addr("127.0.0.7"), ASN: 65007}
	malformed := func() float64 { return r.metric("routewatch_bgp_malformed_total") }

	// Each session ends with a reset; GoBGP holds a reconnect back for a
	// moment (idle hold), so retry the handshake.
	session := func(t *testing.T) *rawPeer {
		t.Helper()
		var p *rawPeer
		deadline := time.Now().Add(20 * time.Second)
		for {
			p = dialRaw(t, "127.0.0.7", cfg.Port)
			p.write(openMsg(65007, addr("127.0.0.7"), 65007))
			typ, _, err := p.read()
			if err == nil && typ == msgOpen {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no OPEN from collector: type %d err %v", typ, err)
			}
			p.conn.Close()
			time.Sleep(300 * time.Millisecond)
		}
		p.write(bgpMsg(msgKeepalive, nil))
		typ, _, err := p.read()
		if err != nil || typ != msgKeepalive {
			t.Fatalf("want KEEPALIVE, got type %d err %v", typ, err)
		}
		r.expect(false, up(peer))
		return p
	}
	valid := func(p *rawPeer, nlri string) {
		p.write(update([][]byte{attrOrigin, attrASPath, attrNextHop}, nlri))
		r.expect(false, announce(peer, nlri, true, &route.Attrs{ASPath: seq(65007, 16509), NextHop: addr("127.0.0.7")}))
	}
	expectDown := func(t *testing.T) {
		t.Helper()
		it := r.next(wait)
		if st, ok := it.(route.PeerState); !ok || !st.Down() {
			t.Fatalf("got %s, want session down", describe(it))
		}
	}

	t.Run("type 0xFF before OPEN", func(t *testing.T) {
		before := malformed()
		var p *rawPeer
		for i := 0; ; i++ {
			p = dialRaw(t, "127.0.0.7", cfg.Port)
			p.write(bgpMsg(0xff, nil))
			typ, body, err := p.read()
			if err == nil && typ == msgOpen {
				// GoBGP sends its OPEN first; the NOTIFICATION follows.
				typ, body, err = p.read()
			}
			if err == nil {
				if typ != msgNotification || len(body) < 2 || body[0] != 1 || body[1] != 3 {
					t.Fatalf("got type %d body %x, want NOTIFICATION 1/3 (bad message type)", typ, body)
				}
				break
			}
			if i == 20 {
				t.Fatalf("no answer: %v", err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		waitMetric(t, malformed, before+1)
		r.expectNone(500 * time.Millisecond)
	})
	t.Run("type 0xFF after OPEN", func(t *testing.T) {
		before := malformed()
		p := session(t)
		p.write(bgpMsg(0xff, nil))
		p.expectNotification(1, 3)
		expectDown(t)
		waitMetric(t, malformed, before+1)
	})

	for _, tc := range []struct {
		name  string
		attrs [][]byte
		// handling is the malformed_total label expected: session_reset
		// (session torn down), treat_as_withdraw (route withdrawn) or
		// attribute_discard (route kept without the bad attribute).
		handling string
		reason   string // session_resets_total label, for resets
	}{
		{"attribute 28 garbage", [][]byte{attrOrigin, attrASPath, attrNextHop, attr(0xc0, 28, []byte{0xde, 0xad, 0xbe, 0xef, 0x01})}, handlingTreatAsWithdraw, ""},
		{"attribute 35 (OTC) wrong length", [][]byte{attrOrigin, attrASPath, attrNextHop, attr(0xc0, 35, []byte{0, 0, 1})}, handlingTreatAsWithdraw, ""},
		{"attribute 40 (Prefix-SID) garbage", [][]byte{attrOrigin, attrASPath, attrNextHop, attr(0xc0, 40, []byte{0xff, 0xff, 0xff, 0x00, 0x01})}, handlingAttributeDiscard, ""},
		{"NEXT_HOP length 2", [][]byte{attrOrigin, attrASPath, attr(0x40, 3, []byte{127, 0})}, handlingTreatAsWithdraw, ""},
		// Attribute order is free (RFC 4271 5): a well-formed AS4_PATH
		// first is accepted (GoBGP merges it as RFC 6793 says, here to the
		// same path) and is not malformed input.
		{"AS4_PATH before AS_PATH", [][]byte{attrOrigin, attr(0xc0, 17, asPath4(65007, 16509)), attrASPath, attrNextHop}, "", ""},
		{"malformed AS4_PATH before AS_PATH", [][]byte{attrOrigin, attr(0xc0, 17, []byte{2, 3, 0, 0, 0xfd, 0xef, 0, 0, 0x40}), attrASPath, attrNextHop}, handlingTreatAsWithdraw, ""},
		// ORIGIN declares 5 bytes where the attribute block has 1 left:
		// GoBGP returns treat-as-withdraw before parsing the NLRI, which
		// would keep the replaced path; the collector resets the session
		// (RFC 7606 5.3), so the old path is gone.
		{"ORIGIN length past the attribute block", [][]byte{attrASPath, attrNextHop, {0x40, 1, 5, 0}}, handlingSessionReset, resetUnparsedNLRI},
		// RFC 6793 4.2.3 / RFC 7606 7.7: the attribute is discarded, the
		// session stays up and the route is kept without an aggregator.
		// GoBGP v4.8.0 reset the session; routewatch's copy carries the
		// fix (docs/upstream/gobgp-as4-aggregator.md).
		{"AS4_AGGREGATOR without AGGREGATOR", [][]byte{attrOrigin, attrASPath, attrNextHop, attr(0xc0, 18, []byte{0, 0, 0xfd, 0xe8, 127, 0, 0, 7})}, handlingAttributeDiscard, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			label := func() float64 { return r.metric("routewatch_bgp_malformed_total", "handling", tc.handling) }
			resets := func() float64 { return r.metric("routewatch_bgp_session_resets_total", "reason", tc.reason) }
			sessionResets := func() float64 {
				return r.metric("routewatch_bgp_malformed_total", "handling", handlingSessionReset)
			}
			before, total, resetsBefore, sessionResetsBefore := label(), malformed(), resets(), sessionResets()
			p := session(t)
			nlri := "10.77.0.0/24"
			valid(p, nlri)
			r.expect(false, eorAfter(p, peer)...)
			p.write(update(tc.attrs, nlri))
			it := r.next(wait)
			t.Logf("%s: %s", tc.name, describe(it))
			switch tc.handling {
			case handlingTreatAsWithdraw:
				if v, ok := it.(route.Update); !ok || !v.Withdraw || v.Prefix != pfx(nlri) || v.Attrs != nil {
					t.Fatalf("got %s, want %s treated as withdrawn", describe(it), nlri)
				}
			case handlingAttributeDiscard, "":
				want := announce(peer, nlri, false, &route.Attrs{ASPath: seq(65007, 16509), NextHop: addr("127.0.0.7")})
				if !reflect.DeepEqual(norm(t, it), want) {
					t.Fatalf("got %s, want %s kept unchanged", describe(it), nlri)
				}
			case handlingSessionReset:
				if v, ok := it.(route.PeerState); !ok || !v.Down() {
					t.Fatalf("got %s, want session down", describe(it))
				}
			}
			if tc.handling != handlingSessionReset {
				if got := sessionResets(); got != sessionResetsBefore {
					t.Errorf("malformed_total{handling=session_reset} went from %v to %v; the session should have stayed up", sessionResetsBefore, got)
				}
				p.conn.Close()
				expectDown(t)
			}
			if tc.handling == "" {
				if got := malformed(); got != total {
					t.Errorf("malformed_total went from %v to %v for well-formed input", total, got)
				}
				return
			}
			waitMetric(t, label, before+1)
			if tc.reason != "" {
				waitMetric(t, resets, resetsBefore+1)
			}
		})
	}

	t.Run("collector still serves", func(t *testing.T) {
		p := session(t)
		valid(p, "10.78.0.0/24")
	})
}

// eorAfter sends End-of-RIB for IPv4 (an empty UPDATE) and returns the
// state it produces.
func eorAfter(p *rawPeer, peer route.Peer) []any {
	p.write(bgpMsg(msgUpdate, []byte{0, 0, 0, 0}))
	return []any{eor(peer)}
}

func waitMetric(t *testing.T, get func() float64, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := get()
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("routewatch_bgp_malformed_total = %v, want >= %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEORTimeout: a neighbor that never sends End-of-RIB (no graceful
// restart) still gets its initial table closed after eor_timeout.
func TestEORTimeout(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Neighbors = []Neighbor{{Address: "127.0.0.8", PeerASN: 65008, Passive: true}}
	cfg.EORTimeout = time.Second
	r := startCollector(t, cfg)
	peer := route.Peer{Addr: addr("127.0.0.8"), ASN: 65008}
	p := dialEstablished(t, "127.0.0.8", 65008, cfg.Port)
	r.expect(false, up(peer))
	p.write(update([][]byte{attrOrigin, attr(0x40, 2, asPath4(65008)), attr(0x40, 3, []byte{127, 0, 0, 8})}, "10.88.0.0/24"))
	r.expect(false, announce(peer, "10.88.0.0/24", true, &route.Attrs{ASPath: seq(65008), NextHop: addr("127.0.0.8")}))
	it := r.next(wait)
	st, ok := it.(route.PeerState)
	if !ok || !st.EndOfRIB || st.Reason == "" {
		t.Fatalf("got %s, want End-of-RIB by timeout", describe(it))
	}
	p.write(update([][]byte{attrOrigin, attr(0x40, 2, asPath4(65008)), attr(0x40, 3, []byte{127, 0, 0, 8})}, "10.89.0.0/24"))
	r.expect(false, announce(peer, "10.89.0.0/24", false, &route.Attrs{ASPath: seq(65008), NextHop: addr("127.0.0.8")}))
}
