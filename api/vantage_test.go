package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"routewatch/route"
)

// TestVantagePoints: vantage points that share an address (one RIS
// feeder at two collectors, one BMP neighbor's pre- and post-policy
// views) are distinct peers and distinct routes on both backends, and the
// peers listing pages through them.
func TestVantagePoints(t *testing.T) {
	v := newValidator(t)
	vps := []route.Peer{
		{Addr: peerA.Addr, ASN: peerA.ASN, Collector: "rrc00"},
		{Addr: peerA.Addr, ASN: peerA.ASN, Collector: "rrc01"},
		{Addr: peerA.Addr, ASN: peerA.ASN, Router: "10.0.0.1", Distinguisher: 7},
		{Addr: peerA.Addr, ASN: peerA.ASN, Router: "10.0.0.1", Distinguisher: 7, View: route.ViewAdjRIBInPost},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			ctx := context.Background()
			var ups []route.Update
			var sts []route.PeerState
			for _, p := range vps {
				sts = append(sts, route.PeerState{Time: t0, Source: "test", Peer: p, Old: route.StateOpenConfirm, New: route.StateEstablished})
				ups = append(ups, route.Update{Time: t0.Add(1), Source: "test", Peer: p, Prefix: mustPrefix("52.94.4.0/24"),
					Attrs: &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{3333, 16509}}}, NextHop: peerA.Addr},
					Tags:  testMatcher.Match(mustPrefix("52.94.4.0/24"))})
			}
			// rrc00's session goes down: only its path is stale.
			down := route.PeerState{Time: t0.Add(2), Source: "test", Peer: vps[0], Old: route.StateEstablished, New: route.StateIdle}
			if err := st.ApplyPeerStates(ctx, sts); err != nil {
				t.Fatal(err)
			}
			if err := st.ApplyUpdates(ctx, ups); err != nil {
				t.Fatal(err)
			}
			if err := st.ApplyPeerStates(ctx, []route.PeerState{down}); err != nil {
				t.Fatal(err)
			}
			h := testServer(t, st, testConfig()).Handler()
			type peerJSON struct {
				Addr          string `json:"addr"`
				ASN           uint32 `json:"asn"`
				Collector     string `json:"collector"`
				Router        string `json:"router"`
				Distinguisher uint64 `json:"distinguisher"`
				View          string `json:"view"`
			}
			var all []peerJSON
			cursor := ""
			for range len(vps) + 1 {
				target := "/api/v1/peers?limit=1"
				if cursor != "" {
					target += "&cursor=" + url.QueryEscape(cursor)
				}
				res := do(t, v, h, "GET", target, "", nil)
				var page struct {
					Peers []struct {
						Peer  peerJSON `json:"peer"`
						State string   `json:"state"`
					} `json:"peers"`
					Next string `json:"next_cursor"`
				}
				if res.status != http.StatusOK || json.Unmarshal(res.body, &page) != nil {
					t.Fatalf("%s: %d %s", target, res.status, res.body)
				}
				for _, p := range page.Peers {
					all = append(all, p.Peer)
				}
				if cursor = page.Next; cursor == "" {
					break
				}
			}
			seen := map[peerJSON]bool{}
			for _, p := range all {
				seen[p] = true
			}
			if len(all) != len(vps) || len(seen) != len(vps) {
				t.Fatalf("peers paged one by one = %+v, want %d distinct vantage points", all, len(vps))
			}
			if all[0].Collector != "" || all[0].View != "" || all[1].View != "adj-rib-in-post" || all[2].Collector != "rrc00" {
				t.Errorf("peers order = %+v (address, ASN, collector, router, distinguisher, view)", all)
			}
			res := do(t, v, h, "GET", "/api/v1/prefixes/52.94.4.0/24", "", nil)
			var pv struct {
				Prefixes []struct {
					Seeing int `json:"peers_seeing"`
					Routes []struct {
						Peer  peerJSON `json:"peer"`
						Stale bool     `json:"stale"`
					} `json:"routes"`
				} `json:"prefixes"`
			}
			if res.status != http.StatusOK || json.Unmarshal(res.body, &pv) != nil || len(pv.Prefixes) != 1 {
				t.Fatalf("prefix view: %d %s", res.status, res.body)
			}
			p := pv.Prefixes[0]
			if len(p.Routes) != len(vps) || p.Seeing != len(vps)-1 {
				t.Fatalf("prefix view = %+v, want %d routes, %d seeing", p, len(vps), len(vps)-1)
			}
			for _, r := range p.Routes {
				if r.Stale != (r.Peer.Collector == "rrc00") {
					t.Errorf("route of %+v: stale = %v", r.Peer, r.Stale)
				}
			}
			// A cursor handed out before vantage points ("addr|asn") still works.
			old := encodeCursor("peer", peerA.Addr.String()+"|0")
			if res := do(t, v, h, "GET", "/api/v1/peers?cursor="+old, "", nil); res.status != http.StatusOK {
				t.Errorf("old peers cursor: %d %s", res.status, res.body)
			}
		})
	}
}
