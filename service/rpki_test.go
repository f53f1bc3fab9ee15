package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"routewatch/route"
)

// TestServiceRPKI runs the assembled service with the demo and a VRP file:
// the refresher loads it before the first route is tagged, route views
// carry the state, and a refresh with other VRPs changes the answer.
func TestServiceRPKI(t *testing.T) {
	p := demoScenario().Regions[0].Prefixes[0]
	vrps := filepath.Join(t.TempDir(), "vrps.json")
	writeVRPs := func(asn uint32) {
		t.Helper()
		body := fmt.Sprintf(`{"roas":[{"prefix":%q,"maxLength":%d,"asn":"AS%d"}]}`, p.String(), p.Bits(), asn)
		if err := os.WriteFile(vrps, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeVRPs(64500)
	cfg := loopbackConfig(t)
	cfg.Demo = true
	cfg.RPKI.VRPs = vrps
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, stop := startService(t, cfg)
	ctx := context.Background()
	select {
	case <-svc.Replayed():
	case <-time.After(60 * time.Second):
		t.Fatal("the demo was not replayed")
	}
	type view struct {
		Prefixes []struct {
			Routes []struct {
				Path struct {
					OriginASN *uint32 `json:"origin_asn"`
				} `json:"path"`
				RPKI route.ROVState `json:"rpki"`
			} `json:"routes"`
		} `json:"prefixes"`
	}
	get := func() view {
		t.Helper()
		resp, err := http.Get("http://" + cfg.API.Listen + "/api/v1/prefixes/" + p.String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v view
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		if len(v.Prefixes) != 1 || len(v.Prefixes[0].Routes) == 0 {
			t.Fatalf("no routes for %s: %+v", p, v)
		}
		return v
	}
	states := func(v view) map[route.ROVState]int {
		out := map[route.ROVState]int{}
		for _, r := range v.Prefixes[0].Routes {
			out[r.RPKI]++
		}
		return out
	}
	v := get()
	n := len(v.Prefixes[0].Routes)
	if got := states(v); got[route.ROVInvalid] != n {
		t.Errorf("states under a ROA for AS64500: %v, want %d invalid", got, n)
	}
	origin := v.Prefixes[0].Routes[0].Path.OriginASN
	if origin == nil {
		t.Fatal("route without an origin")
	}
	// Another size: file stamps are size+mtime.
	writeVRPs(*origin + 1_000_000)
	if err := svc.rpki.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	writeVRPs(*origin)
	if err := svc.rpki.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := states(get()); got[route.ROVValid] != n {
		t.Errorf("states under a ROA for AS%d: %v, want %d valid", *origin, got, n)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}
