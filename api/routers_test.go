package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"routewatch/route"
)

// TestRouters: BMP routers are gathered from their vantage points in the
// store, with the sysName of their name and the sysDescr their session
// changes carried, on both backends; other sources are not routers.
func TestRouters(t *testing.T) {
	v := newValidator(t)
	pre := route.Peer{Addr: peerA.Addr, ASN: peerA.ASN, Router: "edge1@192.0.2.9"}
	post := pre
	post.View = route.ViewAdjRIBInPost
	locRIB := route.Peer{Addr: netip.MustParseAddr("192.0.2.9"), ASN: 65000, Router: "edge1@192.0.2.9", View: route.ViewLocRIB}
	other := route.Peer{Addr: peerA.Addr, ASN: peerA.ASN, Router: "192.0.2.10"}
	up := func(p route.Peer, at time.Time, descr string) route.PeerState {
		return route.PeerState{Time: at, Source: "bmp", Peer: p, Old: route.StateIdle, New: route.StateEstablished, SysDescr: descr}
	}
	states := []route.PeerState{
		up(pre, t0.Add(2*time.Second), "Junos 23.4R1"), up(post, t0.Add(time.Second), "Junos 23.4R1"),
		up(locRIB, t0.Add(3*time.Second), "Junos 23.4R1"), up(other, t0, ""),
		{Time: t0.Add(4 * time.Second), Source: "bmp", Peer: other, Old: route.StateEstablished, New: route.StateIdle},
		{Time: t0, Source: "bgp", Peer: peerB, Old: route.StateOpenConfirm, New: route.StateEstablished},
	}
	type routerJSON struct {
		Router         string     `json:"router"`
		Address        string     `json:"address"`
		SysName        string     `json:"sys_name"`
		SysDescr       string     `json:"sys_descr"`
		State          string     `json:"state"`
		Since          *time.Time `json:"since"`
		VantagePoints  int        `json:"vantage_points"`
		Up             int        `json:"vantage_points_up"`
		MonitoredPeers int        `json:"monitored_peers"`
	}
	want := []routerJSON{
		{Router: "192.0.2.10", Address: "192.0.2.10", State: "down", VantagePoints: 1, MonitoredPeers: 1},
		{Router: "edge1@192.0.2.9", Address: "192.0.2.9", SysName: "edge1", SysDescr: "Junos 23.4R1", State: "up",
			VantagePoints: 3, Up: 3, MonitoredPeers: 2},
	}
	wantSince := []time.Time{t0.Add(4 * time.Second), t0.Add(time.Second)}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			if err := st.ApplyPeerStates(context.Background(), states); err != nil {
				t.Fatal(err)
			}
			h := testServer(t, st, testConfig()).Handler()
			res := do(t, v, h, "GET", "/api/v1/routers", "", nil)
			var got struct {
				Routers []routerJSON `json:"routers"`
			}
			if res.status != http.StatusOK || json.Unmarshal(res.body, &got) != nil || len(got.Routers) != len(want) {
				t.Fatalf("routers: %d %s", res.status, res.body)
			}
			for i, r := range got.Routers {
				since := r.Since
				r.Since = nil
				if r != want[i] {
					t.Errorf("router %d = %+v, want %+v", i, r, want[i])
				}
				if since == nil || !since.Equal(wantSince[i]) {
					t.Errorf("router %d since = %v, want %v", i, since, wantSince[i])
				}
			}
			res = do(t, v, h, "GET", "/api/v1/peers", "", nil)
			var peers struct {
				Peers []struct {
					SysDescr string `json:"sys_descr"`
				} `json:"peers"`
			}
			if json.Unmarshal(res.body, &peers) != nil {
				t.Fatalf("peers: %s", res.body)
			}
			n := 0
			for _, p := range peers.Peers {
				if p.SysDescr == "Junos 23.4R1" {
					n++
				}
			}
			if n != 3 {
				t.Errorf("peers with the router's sys_descr = %d, want its 3 vantage points: %s", n, res.body)
			}
			if res := do(t, v, h, "GET", "/api/v1/routers?limit=1", "", nil); res.status != http.StatusBadRequest {
				t.Errorf("unknown parameter: %d", res.status)
			}
		})
	}
}
