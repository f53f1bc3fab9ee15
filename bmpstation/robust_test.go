package bmpstation

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/packet/bmp"

	"routewatch/route"
)

// rawRouter is a hand-rolled BMP sender that can send anything.
type rawRouter struct {
	t    *testing.T
	conn net.Conn
}

func dialStation(t *testing.T, port int) *rawRouter {
	t.Helper()
	var c net.Conn
	var err error
	for range 50 {
		c, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawRouter{t: t, conn: c}
}

func (r *rawRouter) send(msgs ...[]byte) {
	r.t.Helper()
	must(r.t, r.conn.SetWriteDeadline(time.Now().Add(5*time.Second)))
	for _, m := range msgs {
		if _, err := r.conn.Write(m); err != nil {
			r.t.Fatalf("write: %v", err)
		}
	}
}

// expectClosed waits until the station closes the connection.
func (r *rawRouter) expectClosed() {
	r.t.Helper()
	must(r.t, r.conn.SetReadDeadline(time.Now().Add(wait)))
	_, err := r.conn.Read(make([]byte, 1))
	var ne *net.OpError
	if !errors.Is(err, io.EOF) && !errors.As(err, &ne) {
		r.t.Fatalf("connection not closed: %v", err)
	}
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("connection not closed within %s", wait)
	}
}

// TestMalformedMatrix: each malformed message closes only its router's
// connection, counted by reason; that router's views go down; another
// router's session carries on; nothing crashes.
func TestMalformedMatrix(t *testing.T) {
	st := startStation(t, Config{})
	ph := hdr(0, 0, 0, "192.0.2.2", 65001)
	healthy := dialStation(t, st.port)
	healthy.send(initiationMsg(t, "healthy"), peerUpMsg(t, ph, as4Open, as4Open))
	hp := route.Peer{Addr: addr("192.0.2.2"), ASN: 65001, Router: "healthy@127.0.0.1"}
	for i, c := range malformedCases(t) {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("bad%d", i)
			bp := route.Peer{Addr: addr("192.0.2.2"), ASN: 65001, Router: name + "@127.0.0.1"}
			bad := dialStation(t, st.port)
			bad.send(initiationMsg(t, name), peerUpMsg(t, ph, as4Open, as4Open),
				routeMonMsg(t, ph, updateBytes(t, upd{announce: []string{"10.1.0.0/24"}, path: []uint32{65001}})))
			st.waitFor("route of "+name, isUpdate(bp, "10.1.0.0/24", false))
			bad.send(c.msg)
			seen := st.waitFor("down of "+name, isState(bp, isDown))
			if s := seen[len(seen)-1].(route.PeerState); !strings.Contains(s.Reason, c.reason) {
				t.Errorf("down reason %q, want it to name %s", s.Reason, c.reason)
			}
			bad.expectClosed()
			if got := st.metric("routewatch_bmp_malformed_total", "reason", c.reason); got < 1 {
				t.Errorf("malformed_total{reason=%s} = %v", c.reason, got)
			}
			prefix := fmt.Sprintf("10.200.%d.0/24", i)
			healthy.send(routeMonMsg(t, ph, updateBytes(t, upd{announce: []string{prefix}, path: []uint32{65001}})))
			st.waitFor("healthy router's route", isUpdate(hp, prefix, false))
		})
	}
	t.Run("stream ends inside a message", func(t *testing.T) {
		bad := dialStation(t, st.port)
		m := initiationMsg(t, "cut")
		bad.send(m[:len(m)-2])
		must(t, bad.conn.(*net.TCPConn).CloseWrite())
		bad.expectClosed()
		deadline := time.Now().Add(wait)
		for st.metric("routewatch_bmp_malformed_total", "reason", reasonTruncated) < 1 {
			if time.Now().After(deadline) {
				t.Fatal("truncated stream not counted")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("router not allowed", func(t *testing.T) {
		st2 := startStation(t, Config{Allow: []string{"192.0.2.0/24"}})
		bad := dialStation(t, st2.port)
		bad.expectClosed()
		if got := st2.metric("routewatch_bmp_connections_total", "result", "rejected"); got != 1 {
			t.Errorf("rejected = %v", got)
		}
	})
}

// TestStationMessages drives one raw router through every message type:
// statistics become gauges, mirroring is counted, an unwatched route is
// dropped, End-of-RIB ends the table dump, Peer Down makes routes stale.
func TestStationMessages(t *testing.T) {
	st := startStation(t, Config{})
	ph := hdr(0, 0, 0, "192.0.2.2", 65001)
	r := dialStation(t, st.port)
	p := route.Peer{Addr: addr("192.0.2.2"), ASN: 65001, Router: "edge@127.0.0.1"}
	r.send(initiationMsg(t, "edge"), peerUpMsg(t, ph, as4Open, as4Open),
		routeMonMsg(t, ph, updateBytes(t, upd{announce: []string{"198.18.0.0/24", "10.1.0.0/24"}, path: []uint32{65001, 16509}})),
		eorMsg(t, ph, bgp.RF_IPv4_UC), eorMsg(t, ph, bgp.RF_IPv6_UC), statsMsg(t, ph), mirrorMsg(t, ph),
		routeMonMsg(t, ph, updateBytes(t, upd{withdraw: []string{"10.1.0.0/24", "10.99.0.0/24"}})))
	seen := st.waitFor("up", isState(p, isUp))
	if len(seen) != 1 {
		t.Errorf("before up: %s", describeAll(seen))
	}
	seen = st.waitFor("dump", isUpdate(p, "10.1.0.0/24", false))
	u := seen[len(seen)-1].(route.Update)
	if !u.TableDump || u.Attrs.ASPath.String() != "65001 16509" {
		t.Errorf("initial route: %s", describe(u))
	}
	st.waitFor("eor", isState(p, isEoR))
	st.waitFor("withdraw", isUpdate(p, "10.1.0.0/24", true))
	for name, want := range map[string]float64{
		"routewatch_bmp_unwatched_total":        1,
		"routewatch_bmp_withdraw_unknown_total": 1,
		"routewatch_bmp_route_mirroring_total":  1,
	} {
		if got := st.metric(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := st.metric("routewatch_bmp_statistics", "router", "edge@127.0.0.1", "stat", "7"); got != 500000 {
		t.Errorf("statistics adj-rib-in = %v", got)
	}
	r.send(routeMonMsg(t, ph, updateBytes(t, upd{announce: []string{"10.2.0.0/24"}, path: []uint32{65001}})),
		peerDownMsg(t, ph, 3, nil), terminationMsg(t))
	st.waitFor("live route", isUpdate(p, "10.2.0.0/24", false))
	seen = st.waitFor("down", isState(p, isDown))
	for _, it := range seen {
		if u, ok := it.(route.Update); ok && u.Withdraw {
			t.Errorf("withdrawal on peer down: %s", describe(u))
		}
	}
	deadline := time.Now().Add(wait)
	for st.metric("routewatch_bmp_terminations_total", "reason", "administratively closed") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("termination not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSessionReplaced: a router that opens a second session (same sysName,
// same address) takes over; the first session's views go down and it is
// closed at its next message; routes the new session re-announces are
// fresh.
func TestSessionReplaced(t *testing.T) {
	st := startStation(t, Config{})
	ph := hdr(0, 0, 0, "192.0.2.2", 65001)
	p := route.Peer{Addr: addr("192.0.2.2"), ASN: 65001, Router: "edge@127.0.0.1"}
	announce := func(prefix string, path ...uint32) []byte {
		return routeMonMsg(t, ph, updateBytes(t, upd{announce: []string{prefix}, path: path}))
	}
	old := dialStation(t, st.port)
	old.send(initiationMsg(t, "edge"), peerUpMsg(t, ph, as4Open, as4Open), announce("10.1.0.0/24", 65001, 16509))
	st.waitFor("first session's route", isUpdate(p, "10.1.0.0/24", false))

	fresh := dialStation(t, st.port)
	fresh.send(initiationMsg(t, "edge"))
	seen := st.waitFor("old session's view down", isState(p, isDown))
	if s := seen[len(seen)-1].(route.PeerState); !strings.Contains(s.Reason, "replaced") {
		t.Errorf("reason %q", s.Reason)
	}
	old.send(announce("10.3.0.0/24", 65001))
	old.expectClosed()

	fresh.send(peerUpMsg(t, ph, as4Open, as4Open), announce("10.1.0.0/24", 65001, 16509))
	st.waitFor("up in the new session", isState(p, isUp))
	seen = st.waitFor("re-announced", isUpdate(p, "10.1.0.0/24", false))
	if u := seen[len(seen)-1].(route.Update); !u.TableDump {
		t.Errorf("re-announcement not a table dump: %s", describe(u))
	}
	fresh.send(announce("198.18.5.0/24", 65001))
	fresh.send(routeMonMsg(t, ph, updateBytes(t, upd{withdraw: []string{"10.1.0.0/24"}})))
	st.waitFor("withdrawal in the new session", isUpdate(p, "10.1.0.0/24", true))
	for _, it := range st.backlog {
		if u, ok := it.(route.Update); ok && u.Prefix == pfx("198.18.5.0/24") {
			t.Errorf("unwatched route handed on: %s", describe(u))
		}
	}
}

// TestStaleStatistics: a peer's Statistics Report gauges go with its Peer
// Down, the router's with the end of its BMP session; session changes
// carry the router's sysDescr.
func TestStaleStatistics(t *testing.T) {
	st := startStation(t, Config{})
	ph1 := hdr(0, 0, 0, "192.0.2.2", 65001)
	ph2 := hdr(0, 0, 0, "192.0.2.3", 65002)
	p1 := route.Peer{Addr: addr("192.0.2.2"), ASN: 65001, Router: "edge@127.0.0.1"}
	p2 := route.Peer{Addr: addr("192.0.2.3"), ASN: 65002, Router: "edge@127.0.0.1"}
	announce := func(ph bmp.BMPPeerHeader, asn uint32) []byte {
		return routeMonMsg(t, ph, updateBytes(t, upd{announce: []string{"10.1.0.0/24"}, path: []uint32{asn}}))
	}
	r := dialStation(t, st.port)
	r.send(initiationMsg(t, "edge"), peerUpMsg(t, ph1, as4Open, as4Open), peerUpMsg(t, ph2, as4Open, as4Open),
		statsMsg(t, ph1), statsMsg(t, ph2), announce(ph1, 65001), announce(ph2, 65002))
	st.waitFor("route of the first peer", isUpdate(p1, "10.1.0.0/24", false))
	st.waitFor("route of the second peer", isUpdate(p2, "10.1.0.0/24", false))
	gauge := func(peer string) float64 {
		return st.metric("routewatch_bmp_statistics", "router", "edge@127.0.0.1", "peer", peer, "stat", "7")
	}
	for _, peer := range []string{"192.0.2.2", "192.0.2.3"} {
		if got := gauge(peer); got != 500000 {
			t.Fatalf("statistics of %s = %v, want 500000", peer, got)
		}
	}

	r.send(peerDownMsg(t, ph1, 3, nil))
	seen := st.waitFor("first peer down", isState(p1, isDown))
	if s := seen[len(seen)-1].(route.PeerState); s.SysDescr != "raw test router" {
		t.Errorf("peer down's SysDescr = %q, want the Initiation's", s.SysDescr)
	}
	if got := gauge("192.0.2.2"); got != 0 {
		t.Errorf("after its Peer Down: statistics of the peer = %v, want none", got)
	}
	if got := gauge("192.0.2.3"); got != 500000 {
		t.Errorf("after another peer's Peer Down: statistics of the peer still up = %v, want 500000", got)
	}

	must(t, r.conn.Close())
	st.waitFor("second peer down", isState(p2, isDown))
	for _, name := range []string{"routewatch_bmp_statistics", "routewatch_bmp_router_info"} {
		if got := st.metric(name, "router", "edge@127.0.0.1"); got != 0 {
			t.Errorf("after the session ended: %s of the router = %v, want none", name, got)
		}
	}
}
