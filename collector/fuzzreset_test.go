package collector

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"routewatch/route"
)

// fuzzUpdate returns a mutated UPDATE body (header added by bgpMsg, so
// framing stays intact): byte flips, wrong attribute lengths, random
// attributes, truncation, and the two cases GoBGP mishandles (an ORIGIN
// running past the attribute block, AS4_AGGREGATOR alone).
func fuzzUpdate(rng *rand.Rand, i int) []byte {
	nlri := fmt.Sprintf("10.99.%d.0/24", i%250)
	base := [][]byte{attrOrigin, attrASPath, attrNextHop}
	randomAttr := func() []byte {
		v := make([]byte, rng.IntN(12))
		for j := range v {
			v[j] = byte(rng.UintN(256))
		}
		flags := []byte{0x40, 0x80, 0xc0, 0xe0, 0x00}[rng.IntN(5)]
		return attr(flags, byte(1+rng.IntN(40)), v)
	}
	var msg []byte
	switch rng.IntN(7) {
	case 0: // flip bytes anywhere in the body
		msg = update(base, nlri)
		for range 1 + rng.IntN(3) {
			k := 19 + rng.IntN(len(msg)-19)
			msg[k] ^= byte(1 + rng.UintN(255))
		}
		return msg
	case 1: // a wrong attribute length byte
		attrs := [][]byte{append([]byte{}, attrOrigin...), append([]byte{}, attrASPath...), append([]byte{}, attrNextHop...)}
		a := attrs[rng.IntN(3)]
		a[2] = byte(rng.UintN(256))
		return update(attrs, nlri)
	case 2: // extra random attributes
		attrs := append([][]byte{}, base...)
		for range 1 + rng.IntN(3) {
			attrs = append(attrs, randomAttr())
		}
		rng.Shuffle(len(attrs), func(a, b int) { attrs[a], attrs[b] = attrs[b], attrs[a] })
		return update(attrs, nlri)
	case 3: // truncated body
		msg = update(base, nlri)
		body := msg[19:]
		return bgpMsg(msgUpdate, body[:rng.IntN(len(body))])
	case 4: // ORIGIN running past the attribute block
		return update([][]byte{attrASPath, attrNextHop, {0x40, 1, byte(2 + rng.IntN(20)), 0}}, nlri)
	case 5: // AS4_AGGREGATOR without AGGREGATOR
		return update(append(append([][]byte{}, base...), attr(0xc0, 18, []byte{0, 0, 0xfd, 0xe8, 127, 0, 0, 7})), nlri)
	default: // a wrong total path attribute length
		msg = update(base, nlri)
		binary.BigEndian.PutUint16(msg[21:23], uint16(rng.IntN(40)))
		return msg
	}
}

// TestFuzzedUpdatesResetsCounted sends 1,000 fuzzed UPDATEs over real
// sessions (a fresh source address after each reset). After each, a valid
// probe UPDATE shows whether the session survived. Every reset seen on
// the wire (NOTIFICATION from the collector) is a session-down in the
// stream and is counted in routewatch_bgp_session_resets_total and, being
// caused by malformed input, in malformed_total{handling="session_reset"}.
func TestFuzzedUpdatesResetsCounted(t *testing.T) {
	const n = 1000
	cfg := baseConfig(t)
	cfg.DynamicNeighbors = []DynamicNeighbor{{Prefix: "127.0.2.0/24"}}
	r := startCollector(t, cfg)
	resets := func() float64 { return r.metric("routewatch_bgp_session_resets_total") }
	malformedResets := func() float64 {
		return r.metric("routewatch_bgp_malformed_total", "handling", handlingSessionReset)
	}
	rng := rand.New(rand.NewPCG(18, 7606))

	type live struct {
		p        *rawPeer
		peer     route.Peer
		notified *atomic.Bool
	}
	var cur *live
	host := 0
	wireResets, streamDowns := 0, 0
	connect := func() {
		host = host%250 + 1
		local := fmt.Sprintf("127.0.2.%d", host)
		p := dialEstablished(t, local, 65100, cfg.Port)
		peer := route.Peer{Addr: netip.MustParseAddr(local), ASN: 65100}
		l := &live{p: p, peer: peer, notified: &atomic.Bool{}}
		go func() { // drain keepalives; note the NOTIFICATION of a reset
			h := make([]byte, 19)
			for {
				if _, err := io.ReadFull(p.conn, h); err != nil {
					return
				}
				if h[18] == msgNotification {
					l.notified.Store(true)
				}
				if _, err := io.CopyN(io.Discard, p.conn, int64(binary.BigEndian.Uint16(h[16:18]))-19); err != nil {
					return
				}
			}
		}()
		cur = l
		for {
			if st, ok := r.next(wait).(route.PeerState); ok && st.Peer.Addr == peer.Addr && st.Up() {
				return
			}
		}
	}
	// settle sends a probe and waits for it (the session is alive) or for
	// the session's end.
	settle := func(probe string) (alive bool) {
		cur.p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		// A write error means the collector already closed the session:
		// its down state follows.
		_, _ = cur.p.conn.Write(update([][]byte{attrOrigin, attrASPath, attr(0x40, 3, cur.peer.Addr.AsSlice())}, probe))
		for {
			switch it := r.next(wait).(type) {
			case route.Update:
				if it.Peer.Addr == cur.peer.Addr && it.Prefix == pfx(probe) && !it.Withdraw {
					return true
				}
			case route.PeerState:
				if it.Peer.Addr == cur.peer.Addr && it.Down() {
					streamDowns++
					deadline := time.Now().Add(5 * time.Second)
					for !cur.notified.Load() && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					if cur.notified.Load() {
						wireResets++
					} else {
						t.Errorf("session of %s went down without a NOTIFICATION", cur.peer.Addr)
					}
					cur.p.conn.Close()
					cur = nil
					return false
				}
			}
		}
	}
	beforeResets, beforeMalformed := resets(), malformedResets()
	for i := range n {
		if cur == nil {
			connect()
		}
		cur.p.write(fuzzUpdate(rng, i))
		settle(fmt.Sprintf("10.250.%d.%d/32", i>>8, i&255))
	}
	// A reset the collector asked for may still be on its way: one more
	// probe on the last session settles it.
	for cur != nil && !settle("10.251.0.1/32") {
	}
	if cur != nil && !settle("10.251.0.2/32") {
		t.Log("last session reset late")
	}
	gotResets, gotMalformed := resets()-beforeResets, malformedResets()-beforeMalformed
	t.Logf("%d fuzzed UPDATEs: %d resets on the wire, %d session-down states, session_resets_total +%v, malformed_total{session_reset} +%v",
		n, wireResets, streamDowns, gotResets, gotMalformed)
	if wireResets == 0 || wireResets == n {
		t.Fatalf("%d of %d fuzzed UPDATEs reset the session: the fuzzer is not exercising both paths", wireResets, n)
	}
	if float64(streamDowns) != gotResets || float64(streamDowns) != gotMalformed {
		t.Errorf("resets: %d seen, session_resets_total +%v, malformed_total{session_reset} +%v (want all equal)", streamDowns, gotResets, gotMalformed)
	}
	for _, reason := range resetReasons {
		if v := r.metric("routewatch_bgp_session_resets_total", "reason", reason); v > 0 {
			t.Logf("  reason %s: %v", reason, v)
		}
	}
	if other := r.metric("routewatch_bgp_session_resets_total", "reason", resetOther); other != 0 {
		t.Errorf("%v resets with reason other", other)
	}
}
