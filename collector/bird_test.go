package collector

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// birdConfig is the README's BIRD 2 snippet for peering with routewatch,
// plus what a loopback test needs (static routes to send, multihop because
// 127.0.0.1 is not on a directly connected interface).
const birdConfig = `router id 127.0.0.9;
protocol device {}
protocol static s4 {
    ipv4;
    route 54.212.0.0/15 blackhole { bgp_path.prepend(16509); bgp_path.prepend(3356); };
    route 35.160.0.0/13 blackhole { bgp_path.prepend(16509); bgp_path.prepend(2914); bgp_large_community.add((64500, 1, 2)); };
}
protocol bgp routewatch {
    local 127.0.0.9 as 64500;
    neighbor 127.0.0.1 port %d as 64999;
    multihop;
    ipv4 { import none; export all; add paths tx; };
}
`

// TestBIRDPeering peers Debian's BIRD 2 with the collector the way the
// README tells a user to: the routes arrive with BIRD's ADD-PATH path IDs
// as the initial table, followed by End-of-RIB.
func TestBIRDPeering(t *testing.T) {
	bird := testenv.Command(t, "bird")
	cfg := baseConfig(t)
	cfg.Neighbors = []Neighbor{{Address: "127.0.0.9", PeerASN: 64500, Passive: true}}
	r := startCollector(t, cfg)

	dir := t.TempDir()
	conf := filepath.Join(dir, "bird.conf")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(birdConfig, cfg.Port)), 0o644))
	cmd := exec.Command(bird, "-f", "-c", conf, "-s", filepath.Join(dir, "bird.ctl"))
	logFile, err := os.Create(filepath.Join(dir, "bird.log"))
	must(t, err)
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("bird output:\n%s", b)
		}
	})

	peer := route.Peer{Addr: addr("127.0.0.9"), ASN: 64500}
	r.expect(false, up(peer))
	want := map[string]route.ASPath{
		"54.212.0.0/15": seq(64500, 3356, 16509),
		"35.160.0.0/13": seq(64500, 2914, 16509),
	}
	for n := len(want); n > 0; n-- {
		it := norm(t, r.next(wait))
		u, ok := it.(route.Update)
		if !ok || u.Withdraw || !u.TableDump || u.Attrs == nil {
			t.Fatalf("want an initial-table announcement, got %s", describe(u))
		}
		path, known := want[u.Prefix.String()]
		if !known || !u.Attrs.ASPath.Equal(path) || u.Attrs.NextHop != addr("127.0.0.9") {
			t.Errorf("unexpected %s", describe(u))
		}
		if u.PathID == 0 {
			t.Errorf("%s: no ADD-PATH path ID (BIRD sends add paths tx)", u.Prefix)
		}
		if u.Prefix.String() == "35.160.0.0/13" && len(u.Attrs.LargeCommunities) != 1 {
			t.Errorf("large community lost: %s", describe(u))
		}
		delete(want, u.Prefix.String())
	}
	r.expect(false, eor(peer))
}
