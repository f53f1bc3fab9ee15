package collector

import (
	"cmp"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// These tests run the collector against Debian's ExaBGP on loopback: the
// collector listens on 127.0.0.1 (high port), each ExaBGP binds its own
// 127.0.0.x address and is driven through its API process.

const wait = 20 * time.Second

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func seq(asns ...uint32) route.ASPath {
	return route.ASPath{{Type: route.ASSequence, ASNs: asns}}
}

func announce(peer route.Peer, p string, dump bool, a *route.Attrs) route.Update {
	return route.Update{Source: Source, Peer: peer, Prefix: pfx(p), TableDump: dump, Attrs: a}
}

func asDump(it any) any {
	u := it.(route.Update)
	u.TableDump = true
	return u
}

func withdraw(peer route.Peer, p string) route.Update {
	return route.Update{Source: Source, Peer: peer, Prefix: pfx(p), Withdraw: true}
}

func up(peer route.Peer) route.PeerState {
	return route.PeerState{Source: Source, Peer: peer, Old: route.StateOpenConfirm, New: route.StateEstablished}
}

func eor(peer route.Peer) route.PeerState {
	return route.PeerState{Source: Source, Peer: peer, Old: route.StateEstablished, New: route.StateEstablished, EndOfRIB: true}
}

// norm drops what a test cannot predict: times (checked to be set) and a
// session-down reason (checked to be non-empty).
func norm(t *testing.T, it any) any {
	t.Helper()
	switch v := it.(type) {
	case route.Update:
		if v.Time.IsZero() {
			t.Errorf("update without time: %s", describe(v))
		}
		v.Time = time.Time{}
		return v
	case route.PeerState:
		if v.Time.IsZero() {
			t.Errorf("peer state without time: %s", describe(v))
		}
		v.Time = time.Time{}
		if v.Down() {
			if v.Reason == "" {
				t.Errorf("session down without reason: %s", describe(v))
			}
			v.Reason = ""
		}
		return v
	}
	return it
}

// expect reads len(want) items and compares them; unordered compares them
// as a set (ExaBGP's order within its initial table is not a contract).
func (r *running) expect(unordered bool, want ...any) {
	r.t.Helper()
	got := make([]any, len(want))
	for i := range want {
		got[i] = norm(r.t, r.next(wait))
	}
	if unordered {
		key := func(it any) string { return describe(it) }
		slices.SortFunc(got, func(a, b any) int { return cmp.Compare(key(a), key(b)) })
		want = slices.Clone(want)
		slices.SortFunc(want, func(a, b any) int { return cmp.Compare(key(a), key(b)) })
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			r.t.Fatalf("item %d:\n got %s\nwant %s", i, describe(got[i]), describe(want[i]))
		}
	}
}

func baseConfig(t *testing.T) Config {
	return Config{
		ASN: 64999, RouterID: "127.0.0.1",
		ListenAddresses: []string{"127.0.0.1"}, Port: testenv.FreePort(t),
		HoldTime: 9,
	}
}

func TestExaBGPSession(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Neighbors = []Neighbor{{Address: "127.0.0.2", PeerASN: 65001, Passive: true}}
	r := startCollector(t, cfg)
	peer := route.Peer{Addr: addr("127.0.0.2"), ASN: 65001}
	exa := exaConfig{LocalAddr: "127.0.0.2", LocalAS: 65001, PeerAddr: "127.0.0.1", PeerAS: 64999, Port: cfg.Port,
		Static: []string{
			"10.1.0.0/24 next-hop 127.0.0.2 as-path [ 65001 3356 16509 ] community [ 65001:100 65001:200 ] large-community [ 65001:1:2 ] med 50",
			"2001:db8:1::/48 next-hop 2001:db8::2 as-path [ 65001 2914 8075 ] large-community [ 4200000001:7:8 ]",
			"10.3.0.0/24 next-hop 127.0.0.2 as-path [ 65001 6939 ] origin incomplete",
		}}
	p := startExa(t, exa)

	attrs1 := &route.Attrs{ASPath: seq(65001, 3356, 16509), NextHop: addr("127.0.0.2"), MED: 50, HasMED: true,
		Communities:      []route.Community{65001<<16 | 100, 65001<<16 | 200},
		LargeCommunities: []route.LargeCommunity{{Global: 65001, Local1: 1, Local2: 2}}}
	attrs6 := &route.Attrs{ASPath: seq(65001, 2914, 8075), NextHop: addr("2001:db8::2"),
		LargeCommunities: []route.LargeCommunity{{Global: 4200000001, Local1: 7, Local2: 8}}}
	attrs3 := &route.Attrs{ASPath: seq(65001, 6939), NextHop: addr("127.0.0.2"), Origin: route.OriginIncomplete}

	t.Log("initial table: TableDump until End-of-RIB")
	r.expect(false, up(peer))
	r.expect(true,
		announce(peer, "10.1.0.0/24", true, attrs1),
		announce(peer, "2001:db8:1::/48", true, attrs6),
		announce(peer, "10.3.0.0/24", true, attrs3))
	r.expect(false, eor(peer))

	t.Log("live announcements, path change, withdrawals")
	p.Send("announce route 10.2.0.0/24 next-hop 127.0.0.2 as-path [ 65001 174 13335 ]")
	r.expect(false, announce(peer, "10.2.0.0/24", false, &route.Attrs{ASPath: seq(65001, 174, 13335), NextHop: addr("127.0.0.2")}))
	p.Send("announce route 10.1.0.0/24 next-hop 127.0.0.2 as-path [ 65001 1299 16509 16509 ] community [ 65001:300 ]")
	changed := &route.Attrs{ASPath: seq(65001, 1299, 16509, 16509), NextHop: addr("127.0.0.2"), Communities: []route.Community{65001<<16 | 300}}
	r.expect(false, announce(peer, "10.1.0.0/24", false, changed))
	p.Send("announce route 2001:db8:2::/48 next-hop 2001:db8::2 as-path [ 65001 3356 15169 ]")
	r.expect(false, announce(peer, "2001:db8:2::/48", false, &route.Attrs{ASPath: seq(65001, 3356, 15169), NextHop: addr("2001:db8::2")}))
	p.Send("withdraw route 10.2.0.0/24 next-hop 127.0.0.2", "withdraw route 2001:db8:2::/48 next-hop 2001:db8::2")
	r.expect(false, withdraw(peer, "10.2.0.0/24"), withdraw(peer, "2001:db8:2::/48"))
	// A withdrawal of a route never announced is counted, not handed on.
	p.Send("withdraw route 10.99.0.0/24 next-hop 127.0.0.2", "announce route 10.4.0.0/24 next-hop 127.0.0.2 as-path [ 65001 ]")
	r.expect(false, announce(peer, "10.4.0.0/24", false, &route.Attrs{ASPath: seq(65001), NextHop: addr("127.0.0.2")}))
	if got := r.metric("routewatch_bgp_withdraw_unknown_total"); got != 1 {
		t.Errorf("withdraw_unknown_total = %v, want 1", got)
	}
	if got := r.metric("routewatch_bgp_routes"); got != 4 {
		t.Errorf("routes gauge = %v, want 4", got)
	}

	t.Log("session drop: one peer state, no withdrawals")
	p.Stop()
	it := r.next(wait)
	st, ok := it.(route.PeerState)
	if !ok || !st.Down() || st.New != route.StateIdle || st.Peer != peer || st.Reason == "" {
		t.Fatalf("after stop: got %s, want Established->Idle with a reason", describe(it))
	}
	r.expectNone(1500 * time.Millisecond)
	if got := r.metric("routewatch_bgp_peers_established"); got != 0 {
		t.Errorf("peers_established = %v, want 0", got)
	}

	t.Log("reconnect: re-announced routes are a table dump, missing ones withdrawn at End-of-RIB")
	exa.Static = []string{exa.Static[0], exa.Static[1]}
	startExa(t, exa)
	r.expect(false, up(peer))
	r.expect(true,
		announce(peer, "10.1.0.0/24", true, attrs1),
		announce(peer, "2001:db8:1::/48", true, attrs6))
	r.expect(false, withdraw(peer, "10.3.0.0/24"), withdraw(peer, "10.4.0.0/24"), eor(peer))
	if got := r.metric("routewatch_bgp_stale_withdrawn_total"); got != 2 {
		t.Errorf("stale_withdrawn_total = %v, want 2", got)
	}
	if got := r.metric("routewatch_bgp_dropped_updates_total"); got != 0 {
		t.Errorf("dropped_updates_total = %v, want 0", got)
	}
}

// TestExaBGPDynamicAddPath: any ASN (4-byte) from a range, ADD-PATH
// receive, and routewatch never re-advertises (EXPORT default-reject).
func TestExaBGPDynamicAddPath(t *testing.T) {
	cfg := baseConfig(t)
	cfg.DynamicNeighbors = []DynamicNeighbor{{Prefix: "127.0.0.0/29"}}
	r := startCollector(t, cfg)
	a := route.Peer{Addr: addr("127.0.0.3"), ASN: 4200000001}
	b := route.Peer{Addr: addr("127.0.0.4"), ASN: 65002}
	pa := startExa(t, exaConfig{LocalAddr: "127.0.0.3", LocalAS: a.ASN, PeerAddr: "127.0.0.1", PeerAS: 64999, Port: cfg.Port, AddPath: true})
	r.expect(false, up(a), eor(a))
	pb := startExa(t, exaConfig{LocalAddr: "127.0.0.4", LocalAS: b.ASN, PeerAddr: "127.0.0.1", PeerAS: 64999, Port: cfg.Port})
	r.expect(false, up(b), eor(b))

	pa.Send(
		"announce route 10.9.0.0/24 path-information 1 next-hop 127.0.0.3 as-path [ 4200000001 3356 16509 ]",
		"announce route 10.9.0.0/24 path-information 2 next-hop 127.0.0.3 as-path [ 4200000001 1299 16509 ]",
		"announce route 2001:db8:9::/48 path-information 7 next-hop 2001:db8::3 as-path [ 4200000001 6939 8075 ]",
	)
	withID := func(u route.Update, id uint32) route.Update { u.PathID = id; return u }
	r.expect(false,
		withID(announce(a, "10.9.0.0/24", false, &route.Attrs{ASPath: seq(4200000001, 3356, 16509), NextHop: addr("127.0.0.3")}), 1),
		withID(announce(a, "10.9.0.0/24", false, &route.Attrs{ASPath: seq(4200000001, 1299, 16509), NextHop: addr("127.0.0.3")}), 2),
		withID(announce(a, "2001:db8:9::/48", false, &route.Attrs{ASPath: seq(4200000001, 6939, 8075), NextHop: addr("2001:db8::3")}), 7),
	)
	pa.Send("withdraw route 10.9.0.0/24 path-information 1 next-hop 127.0.0.3")
	r.expect(false, withID(withdraw(a, "10.9.0.0/24"), 1))

	// Give GoBGP time to (wrongly) propagate, then check b got nothing.
	pb.Send("announce route 10.10.0.0/24 next-hop 127.0.0.4 as-path [ 65002 ]")
	r.expect(false, announce(b, "10.10.0.0/24", false, &route.Attrs{ASPath: seq(65002), NextHop: addr("127.0.0.4")}))
	time.Sleep(time.Second)
	if got := pb.Received(); strings.Contains(got, "10.9.0.0") || strings.Contains(got, "2001:db8:9::") {
		t.Errorf("peer b received routes of peer a (export not rejected):\n%s", got)
	}
	if got := pa.Received(); strings.Contains(got, "10.10.0.0") {
		t.Errorf("peer a received routes of peer b (export not rejected):\n%s", got)
	}
}

func TestExaBGPMaxPrefix(t *testing.T) {
	for _, tc := range []struct {
		name     string
		action   string
		wantDown bool
	}{
		{"shutdown", MaxPrefixShutdown, true},
		{"restart", MaxPrefixRestart, true},
		{"warn", MaxPrefixWarn, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.Neighbors = []Neighbor{{Address: "127.0.0.2", PeerASN: 65001, Passive: true,
				MaxPrefix: &MaxPrefix{Limit: 2, Action: tc.action, RestartAfter: 2 * time.Second}}}
			r := startCollector(t, cfg)
			peer := route.Peer{Addr: addr("127.0.0.2"), ASN: 65001}
			p := startExa(t, exaConfig{LocalAddr: "127.0.0.2", LocalAS: 65001, PeerAddr: "127.0.0.1", PeerAS: 64999, Port: cfg.Port})
			r.expect(false, up(peer), eor(peer))
			var lines []string
			var want []any
			for i := 1; i <= 3; i++ {
				p4 := fmt.Sprintf("10.%d.0.0/24", i)
				lines = append(lines, "announce route "+p4+" next-hop 127.0.0.2 as-path [ 65001 ]")
				if i <= 2 || !tc.wantDown {
					want = append(want, announce(peer, p4, false, &route.Attrs{ASPath: seq(65001), NextHop: addr("127.0.0.2")}))
				}
			}
			p.Send(lines...)
			r.expect(false, want...)
			if tc.wantDown {
				it := r.next(wait)
				st, ok := it.(route.PeerState)
				if !ok || !st.Down() || st.Reason != "max-prefix limit exceeded" {
					t.Fatalf("got %s, want session down for max-prefix", describe(it))
				}
				if tc.action == MaxPrefixShutdown {
					// shutdown keeps the neighbor down.
					r.expectNone(3 * time.Second)
				} else {
					// restart re-enables it: the peer comes back, re-sends
					// its routes and trips the limit again.
					r.expect(false, up(peer))
					r.expect(true, asDump(want[0]), asDump(want[1]))
					if st, ok := r.next(wait).(route.PeerState); !ok || !st.Down() {
						t.Fatalf("second breach: got %v, want session down", st)
					}
					// Stop the peer while the neighbor is administratively
					// down: killing it mid-table makes GoBGP v4.8.0 race
					// with itself (StaleAll vs. the watcher's IsStale).
					p.Stop()
				}
			} else {
				r.expectNone(time.Second)
			}
			// restart may trip again once the routes are re-sent.
			if got := r.metric("routewatch_bgp_max_prefix_exceeded_total"); got != 1 && (tc.action != MaxPrefixRestart || got < 1) {
				t.Errorf("max_prefix_exceeded_total = %v, want 1", got)
			}
		})
	}
}

// TestExaBGPSecurity: unconfigured addresses are refused, MD5 sessions
// work with the right key only.
func TestExaBGPSecurity(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Neighbors = []Neighbor{
		{Address: "127.0.0.2", PeerASN: 65001, Passive: true},
		{Address: "127.0.0.6", PeerASN: 65006, Passive: true, MD5Password: "s3cret-key"},
	}
	r := startCollector(t, cfg)
	t.Run("unconfigured address", func(t *testing.T) {
		startExa(t, exaConfig{LocalAddr: "127.0.0.5", LocalAS: 65005, PeerAddr: "127.0.0.1", PeerAS: 64999, Port: cfg.Port})
		r.expectNone(4 * time.Second)
	})
	t.Run("md5 wrong key", func(t *testing.T) {
		startExa(t, exaConfig{LocalAddr: "127.0.0.6", LocalAS: 65006, PeerAddr: "127.0.0.1", PeerAS: 64999, Port: cfg.Port, MD5: "wrong-key"})
		r.expectNone(4 * time.Second)
	})
	t.Run("md5 right key", func(t *testing.T) {
		peer := route.Peer{Addr: addr("127.0.0.6"), ASN: 65006}
		startExa(t, exaConfig{LocalAddr: "127.0.0.6", LocalAS: 65006, PeerAddr: "127.0.0.1", PeerAS: 64999, Port: cfg.Port, MD5: "s3cret-key"})
		r.expect(false, up(peer), eor(peer))
	})
}
