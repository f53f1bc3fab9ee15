// Command bmpbench compares routewatch's BMP station with its BGP
// collector on the same feed, side by side in one run: N sender processes
// (embedded GoBGP v4, each holding M synthetic routes, i.e. N routers)
// stream their tables over BMP (Loc-RIB) to a station process, then over
// BGP to a collector process. It reports per receiver: time from the first
// message to the last route, CPU (user+sys), peak RSS (VmHWM), watched
// routes held, RSS per watched route and dropped updates.
//
//	go run ./bench/bmpbench -routers 2 -routes 100000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/prometheus/client_golang/prometheus"

	"routewatch/bmpstation"
	"routewatch/collector"
	"routewatch/route"
)

const (
	receiverAddr = "127.0.0.1"
	receiverASN  = 64999
	senderASN    = 65010
)

// watched is the bench's watch list: 11.0.0.0/11 holds 7 373 of each
// router's IPv4 /24s and 2001::/32 its first 6 554 IPv6 /48s (14 % of a
// 100 k table, 3 % of a 500 k one).
var watched = []netip.Prefix{netip.MustParsePrefix("11.0.0.0/11"), netip.MustParsePrefix("2001::/32")}

type watcher struct{}

func (watcher) Watched(u *route.Update) bool {
	for _, p := range watched {
		if p.Bits() <= u.Prefix.Bits() && p.Contains(u.Prefix.Addr()) {
			return true
		}
	}
	return false
}

type result struct {
	Mode       string  `json:"mode"`
	Routers    int     `json:"routers"`
	Routes     uint64  `json:"routes"`
	Watched    float64 `json:"watched_held"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	MaxRSSKB   int64   `json:"maxrss_kb"`
	BaseRSSKB  int64   `json:"base_rss_kb"`
	Dropped    float64 `json:"dropped"`
}

func main() {
	mode := flag.String("mode", "run", "run | send | bmp | collector")
	routers := flag.Int("routers", 2, "sender processes (routers)")
	routes := flag.Int("routes", 100000, "routes per router (10% IPv6)")
	index := flag.Int("index", 0, "send: this router's number")
	bmpPort := flag.Int("bmp-port", 11919, "station port")
	bgpPort := flag.Int("bgp-port", 11791, "collector port")
	receivers := flag.String("receivers", "bmp,collector", "run: receivers to run, in order")
	flag.Parse()
	var err error
	switch *mode {
	case "run":
		err = orchestrate(*routers, *routes, *bmpPort, *bgpPort, strings.Split(*receivers, ","))
	case "send":
		err = send(*index, *routes, *bmpPort, *bgpPort)
	case "bmp":
		err = receiveBMP(*routers, *routes, *bmpPort)
	case "collector":
		err = receiveCollector(*routers, *routes, *bgpPort)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bmpbench:", err)
		os.Exit(1)
	}
}

func orchestrate(routers, routes, bmpPort, bgpPort int, receivers []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var senders []*exec.Cmd
	defer func() {
		for _, s := range senders {
			_ = s.Process.Kill()
			_ = s.Wait()
		}
	}()
	for i := range routers {
		cmd := exec.Command(self, "-mode", "send", "-index", strconv.Itoa(i), "-routes", strconv.Itoa(routes),
			"-bmp-port", strconv.Itoa(bmpPort), "-bgp-port", strconv.Itoa(bgpPort))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		senders = append(senders, cmd)
		if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "ready" {
			return fmt.Errorf("sender %d did not get ready", i)
		}
	}
	fmt.Fprintf(os.Stderr, "%d routers × %d routes ready\n", routers, routes)
	var results []result
	for _, m := range receivers {
		cmd := exec.Command(self, "-mode", m, "-routers", strconv.Itoa(routers), "-routes", strconv.Itoa(routes),
			"-bmp-port", strconv.Itoa(bmpPort), "-bgp-port", strconv.Itoa(bgpPort))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("%s receiver: %w", m, err)
		}
		var r result
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("%s receiver output %q: %w", m, out, err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%-9s routers=%d routes=%d seconds=%.2f cpu=%.2fs maxrss=%d MB watched=%.0f rss/watched=%.0f B dropped=%v\n",
			r.Mode, r.Routers, r.Routes, r.Seconds, r.CPUSeconds, r.MaxRSSKB/1024, r.Watched,
			perWatched(r), r.Dropped)
		time.Sleep(2 * time.Second)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, r := range results {
		_ = enc.Encode(r)
	}
	if len(results) == 2 && results[0].Mode == "bmp" && results[1].MaxRSSKB > 0 {
		fmt.Fprintf(os.Stderr, "station/collector: RSS %.1f%%, CPU per route %.2fx\n",
			100*float64(results[0].MaxRSSKB)/float64(results[1].MaxRSSKB), results[0].CPUSeconds/results[1].CPUSeconds)
	}
	return nil
}

func perWatched(r result) float64 {
	if r.Watched == 0 {
		return 0
	}
	return float64(r.MaxRSSKB-r.BaseRSSKB) * 1024 / r.Watched
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// send is one router: an embedded GoBGP holding the synthetic table,
// streaming it over BMP (Loc-RIB) and offering it over BGP; both dial and
// redial on their own.
func send(index, routes, bmpPort, bgpPort int) error {
	ctx := context.Background()
	local := fmt.Sprintf("127.0.0.%d", 10+index)
	s := server.NewBgpServer(server.LoggerOption(quietLogger(), nil))
	go s.Serve()
	defer s.Stop()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: senderASN, RouterId: local, ListenPort: -1}}); err != nil {
		return err
	}
	batch := make([]*apiutil.Path, 0, 1000)
	for i := range routes {
		p, err := synthPath(i, local)
		if err != nil {
			return err
		}
		if batch = append(batch, p); len(batch) == cap(batch) || i == routes-1 {
			if _, err := s.AddPath(apiutil.AddPathRequest{Paths: batch}); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	var afis []*api.AfiSafi
	for _, afi := range []api.Family_Afi{api.Family_AFI_IP, api.Family_AFI_IP6} {
		afis = append(afis, &api.AfiSafi{
			Config:            &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		})
	}
	err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:            &api.PeerConf{NeighborAddress: receiverAddr, PeerAsn: receiverASN},
		Transport:       &api.Transport{LocalAddress: local, RemotePort: uint32(bgpPort)},
		Timers:          &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 90, KeepaliveInterval: 30}},
		GracefulRestart: &api.GracefulRestart{Enabled: true, HelperOnly: true},
		AfiSafis:        afis,
	}})
	if err != nil {
		return err
	}
	err = s.AddBmp(ctx, &api.AddBmpRequest{Address: receiverAddr, Port: uint32(bmpPort),
		Policy: api.AddBmpRequest_MONITORING_POLICY_LOCAL, SysName: "router" + strconv.Itoa(index)})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	select {}
}

// synthPath builds route i like collectorbench: distinct /24s and (every
// tenth) /48s, AS paths of 3–6 hops, two communities, 16 routes sharing
// attributes.
func synthPath(i int, local string) (*apiutil.Path, error) {
	g := uint32(i / 16)
	transit := []uint32{3356, 1299, 174, 2914, 6939, 6453, 3257, 6762}[g%8]
	origin := 200000 + g%900
	path := []uint32{senderASN, transit}
	if g%3 == 0 {
		path = append(path, 4200000000+g%50)
	}
	path = append(path, origin)
	if g%7 == 0 {
		path = append(path, origin, origin)
	}
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path)}),
		bgp.NewPathAttributeCommunities([]uint32{transit<<16 | g%1000, senderASN<<16 | 100}),
	}
	if i%10 == 9 {
		p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0, byte(i >> 16), byte(i >> 8), byte(i)}), 48)
		nlri, err := bgp.NewIPAddrPrefix(p)
		if err != nil {
			return nil, err
		}
		mp, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, netip.MustParseAddr("2001:db8::10"))
		if err != nil {
			return nil, err
		}
		return &apiutil.Path{Family: bgp.RF_IPv6_UC, Nlri: nlri, Attrs: append(attrs, mp)}, nil
	}
	v := uint32(11<<24) + uint32(i)<<8
	p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
	nlri, err := bgp.NewIPAddrPrefix(p)
	if err != nil {
		return nil, err
	}
	nh, err := bgp.NewPathAttributeNextHop(netip.MustParseAddr(local))
	if err != nil {
		return nil, err
	}
	return &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri, Attrs: append(attrs, nh)}, nil
}

// receiveBMP runs the station with a consumer that counts; done when every
// router's every route was decoded (kept or dropped as unwatched).
func receiveBMP(routers, routes, port int) error {
	base := vmRSS()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	st, err := bmpstation.New(bmpstation.Config{Listen: fmt.Sprintf("%s:%d", receiverAddr, port)}, watcher{}, quietLogger(), reg)
	if err != nil {
		return err
	}
	out := make(chan route.Batch, 64)
	errc := make(chan error, 1)
	go func() { errc <- st.Run(ctx, out) }()
	want := float64(routers * routes)
	var start time.Time
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("station stopped: %v", err)
		case b := <-out:
			if start.IsZero() {
				start = time.Now()
			}
			_ = b
		case <-tick.C:
			seen := metricValue(reg, "routewatch_bmp_unwatched_total") + metricValue(reg, "routewatch_bmp_updates_total")
			if seen >= want {
				elapsed := time.Since(start)
				return report(result{Mode: "bmp", Routers: routers, Routes: uint64(seen), Seconds: elapsed.Seconds(),
					Watched: metricValue(reg, "routewatch_bmp_routes"), BaseRSSKB: base})
			}
		}
	}
}

// receiveCollector runs the BGP collector (dynamic neighbors 127/8) with a
// consumer that counts; done at the last router's End-of-RIB.
func receiveCollector(routers, routes, port int) error {
	base := vmRSS()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	c, err := collector.New(collector.Config{
		ASN: receiverASN, RouterID: receiverAddr, ListenAddresses: []string{receiverAddr}, Port: port,
		DynamicNeighbors: []collector.DynamicNeighbor{{Prefix: "127.0.0.0/8"}},
	}, quietLogger(), reg)
	if err != nil {
		return err
	}
	out := make(chan route.Batch, 64)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, out) }()
	var start time.Time
	var n, watchedN uint64
	eor := 0
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("collector stopped: %v", err)
		case b := <-out:
			if start.IsZero() {
				start = time.Now()
			}
			for i := range b.Updates {
				if !b.Updates[i].Withdraw {
					n++
					if (watcher{}).Watched(&b.Updates[i]) {
						watchedN++
					}
				}
			}
			for _, s := range b.States {
				if s.EndOfRIB {
					eor++
				}
			}
			// Every router's End-of-RIB and every route: a router sends
			// one End-of-RIB per family.
			if eor >= routers && n >= uint64(routers*routes) {
				elapsed := time.Since(start)
				return report(result{Mode: "collector", Routers: routers, Routes: n, Seconds: elapsed.Seconds(),
					Watched: float64(watchedN), BaseRSSKB: base, Dropped: metricValue(reg, "routewatch_bgp_dropped_updates_total")})
			}
		}
	}
}

func metricValue(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return v
}

func report(r result) error {
	r.MaxRSSKB = procStatus("VmHWM:")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		r.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func vmRSS() int64 { return procStatus("VmRSS:") }

func procStatus(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}
