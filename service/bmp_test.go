package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"routewatch/bmpstation"
	"routewatch/internal/testenv"
)

// TestParseBMPConfig: the `bmp:` section exactly as DESIGN.md's config
// contract spells it, and its errors naming the key.
func TestParseBMPConfig(t *testing.T) {
	contract := "bmp:\n  enabled: false\n  listen: 127.0.0.1:11019\n  allow: [127.0.0.0/8]\n  active: []\n"
	c, err := Parse(strings.NewReader(contract), nil)
	if err != nil {
		t.Fatalf("contract section: %v", err)
	}
	if c.BMP.Listen != "127.0.0.1:11019" || len(c.BMP.Allow) != 1 || c.BMP.Enabled {
		t.Errorf("bmp = %+v", c.BMP)
	}
	for _, tc := range []struct{ name, yaml, wantErr string }{
		{"active target", "bmp:\n  enabled: true\n  active: [{address: 192.0.2.1, port: 5000}]\n", ""},
		{"unknown key", "bmp:\n  enabled: true\n  lisen: 127.0.0.1:1\n", "line 3: bmp.lisen: unknown key (did you mean listen?)"},
		{"bad allow", "bmp:\n  enabled: true\n  allow: [10.0.0.0]\n", "bmp.allow"},
		{"bad listen", "bmp:\n  enabled: true\n  listen: localhost\n", "bmp.listen"},
		{"bad active port", "bmp:\n  enabled: true\n  active: [{address: 192.0.2.1, port: 0}]\n", "bmp.active[0].port"},
		{"bad active address", "bmp:\n  enabled: true\n  active: [{address: router1, port: 5000}]\n", "bmp.active[0].address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml), nil)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestServiceBMP: serve with the BMP station on; an embedded GoBGP router
// streams its Loc-RIB; the watched route reaches the API with its BMP
// vantage point, the unwatched one (no range, origin not a provider's)
// is dropped at the station.
func TestServiceBMP(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "test.txt")
	if err := os.WriteFile(list, []byte("10.0.0.0/8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := loopbackConfig(t)
	cfg.Ranges.Specs = []string{"testnet=" + list}
	off := false
	cfg.Collector.Enabled = &off
	bmpPort := testenv.FreePort(t)
	cfg.BMP = bmpstation.Config{Enabled: true, Listen: fmt.Sprintf("127.0.0.1:%d", bmpPort)}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, stop := startService(t, cfg)
	ctx := context.Background()

	s := server.NewBgpServer(server.LoggerOption(slog.New(slog.DiscardHandler), nil))
	go s.Serve()
	defer s.Stop()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 65100, RouterId: "192.0.2.254", ListenPort: -1}}); err != nil {
		t.Fatal(err)
	}
	var paths []*apiutil.Path
	for _, p := range []string{"10.1.0.0/24", "198.18.0.0/24"} {
		nlri, _ := bgp.NewIPAddrPrefix(netip.MustParsePrefix(p))
		nh, _ := bgp.NewPathAttributeNextHop(netip.MustParseAddr("192.0.2.254"))
		paths = append(paths, &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri, Attrs: []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{64496, 64497})}), nh}})
	}
	if _, err := s.AddPath(apiutil.AddPathRequest{Paths: paths}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBmp(ctx, &api.AddBmpRequest{Address: "127.0.0.1", Port: uint32(bmpPort), Policy: api.AddBmpRequest_MONITORING_POLICY_LOCAL, SysName: "edge1"}); err != nil {
		t.Fatal(err)
	}

	base := "http://" + cfg.API.Listen
	deadline := time.Now().Add(60 * time.Second)
	var body string
	for time.Now().Before(deadline) && !strings.Contains(body, `"router":"edge1@127.0.0.1"`) {
		time.Sleep(200 * time.Millisecond)
		resp, err := http.Get(base + "/api/v1/prefixes/10.1.0.0/24")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	if !strings.Contains(body, `"router":"edge1@127.0.0.1"`) || !strings.Contains(body, `"view":"loc-rib"`) {
		t.Fatalf("the BMP route never reached the API with its vantage point; last answer: %s", body)
	}
	var m string
	for time.Now().Before(deadline) && !strings.Contains(m, "routewatch_bmp_unwatched_total 1") {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m = string(b)
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(m, "routewatch_bmp_unwatched_total 1") {
		t.Errorf("metrics lack routewatch_bmp_unwatched_total 1:\n%s", grepLines(m, "routewatch_bmp_"))
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
