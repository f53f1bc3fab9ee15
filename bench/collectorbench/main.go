// Command collectorbench measures the cost of routewatch's collector over a
// plain embedded GoBGP receiver: one sender process (an embedded GoBGP
// holding N synthetic routes) feeds its full table, in turn, to a plain
// GoBGP v4 receiver with no path watcher and to routewatch's collector,
// each in its own process, and reports time from Established to End-of-RIB
// and peak RSS (VmHWM).
//
//	go run ./bench/collectorbench -routes 500000 -rounds 2
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
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/prometheus/client_golang/prometheus"

	"routewatch/collector"
	"routewatch/route"
)

const (
	senderAddr   = "127.0.0.10"
	receiverAddr = "127.0.0.1"
	senderASN    = 65010
	receiverASN  = 64999
)

// result is one receiver run.
type result struct {
	Mode     string  `json:"mode"`
	Binary   string  `json:"binary,omitempty"` // -compare runs: "this" or "compare"
	Routes   uint64  `json:"routes"`
	Seconds  float64 `json:"seconds"`
	MaxRSSKB int64   `json:"maxrss_kb"`
	// CPUSeconds is the receiver process's user+system time: unlike wall
	// time it does not depend on how fast the sender is on a busy machine.
	CPUSeconds float64 `json:"cpu_seconds"`
	Dropped    float64 `json:"dropped"`
}

func main() {
	mode := flag.String("mode", "run", "run | send | plain | collector")
	routes := flag.Int("routes", 500000, "routes the sender announces (10% IPv6)")
	port := flag.Int("port", 11790, "receiver port")
	rounds := flag.Int("rounds", 2, "plain/collector pairs to run")
	prof := flag.String("cpuprofile", "", "receiver modes: write a CPU profile")
	memprof := flag.String("memprofile", "", "receiver modes: write an allocation profile (go tool pprof -sample_index=alloc_space)")
	gogc := flag.String("collector-gogc", "", "run: GOGC for the collector receiver only (the plain one keeps the environment's)")
	compare := flag.String("compare", "", "run: another collectorbench binary (e.g. built from an earlier commit) whose plain and collector receivers run after this one's in every round, fed by the same sender")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "collectorbench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var err error
	switch *mode {
	case "run":
		err = orchestrate(*routes, *port, *rounds, *gogc, *compare)
	case "send":
		err = send(*routes, *port)
	case "plain":
		err = receivePlain(*port)
	case "collector":
		err = receiveCollector(*port)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err == nil && *memprof != "" {
		err = writeAllocs(*memprof)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "collectorbench:", err)
		os.Exit(1) //nolint:gocritic // the profile is not needed on failure
	}
}

func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// orchestrate starts the sender once and the receivers in turn.
func orchestrate(routes, port, rounds int, gogc, compare string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	sender := exec.Command(self, "-mode", "send", "-routes", strconv.Itoa(routes), "-port", strconv.Itoa(port))
	sender.Stderr = os.Stderr
	senderOut, err := sender.StdoutPipe()
	if err != nil {
		return err
	}
	if err := sender.Start(); err != nil {
		return err
	}
	defer func() { _ = sender.Process.Kill(); _ = sender.Wait() }()
	// The sender prints "ready" once its RIB holds every route.
	sc := bufio.NewScanner(senderOut)
	if !sc.Scan() || sc.Text() != "ready" {
		return fmt.Errorf("sender did not get ready: %q", sc.Text())
	}
	bins := []string{self}
	if compare != "" {
		bins = append(bins, compare)
	}
	var results []result
	for i := 0; i < rounds; i++ {
		for j, bin := range bins {
			for _, m := range []string{"plain", "collector"} {
				r, err := runReceiver(bin, m, port, gogc)
				if err != nil {
					return err
				}
				if compare != "" {
					r.Binary = []string{"this", "compare"}[j]
				}
				fmt.Fprintf(os.Stderr, "%-7s %-9s routes=%d seconds=%.2f cpu=%.2fs maxrss=%d MB dropped=%v load=%s\n", r.Binary, r.Mode, r.Routes, r.Seconds, r.CPUSeconds, r.MaxRSSKB/1024, r.Dropped, loadavg())
				results = append(results, r)
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	for _, r := range results {
		_ = enc.Encode(r)
	}
	return nil
}

// loadavg is the 1-minute load average ("?" where /proc is missing).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func runReceiver(self, mode string, port int, gogc string) (result, error) {
	cmd := exec.Command(self, "-mode", mode, "-port", strconv.Itoa(port))
	if mode == "collector" && gogc != "" {
		cmd.Env = append(os.Environ(), "GOGC="+gogc)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("%s receiver: %w", mode, err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("%s receiver output %q: %w", mode, out, err)
	}
	// Let the sender notice the closed session before the next receiver.
	time.Sleep(2 * time.Second)
	return r, nil
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// send runs an embedded GoBGP holding the synthetic table and dialing the
// receiver port again and again.
func send(routes, port int) error {
	ctx := context.Background()
	s := server.NewBgpServer(server.LoggerOption(quietLogger(), nil))
	go s.Serve()
	defer s.Stop()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: senderASN, RouterId: senderAddr, ListenPort: -1}}); err != nil {
		return err
	}
	batch := make([]*apiutil.Path, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := s.AddPath(apiutil.AddPathRequest{Paths: batch}); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	for i := 0; i < routes; i++ {
		p, err := synthPath(i, routes)
		if err != nil {
			return err
		}
		batch = append(batch, p)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
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
		Transport:       &api.Transport{LocalAddress: senderAddr, RemotePort: uint32(port)},
		Timers:          &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 90, KeepaliveInterval: 30}},
		GracefulRestart: &api.GracefulRestart{Enabled: true, HelperOnly: true},
		AfiSafis:        afis,
	}})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	select {}
}

// synthPath builds route i of n: distinct /24s (IPv4) and /48s (IPv6, every
// tenth route), AS paths of 3-6 hops over a few hundred origins, some
// prepending and communities, 16 routes sharing attributes like real
// UPDATE packing.
func synthPath(i, n int) (*apiutil.Path, error) {
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
		p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}), 48)
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
	nh, err := bgp.NewPathAttributeNextHop(netip.MustParseAddr(senderAddr))
	if err != nil {
		return nil, err
	}
	return &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri, Attrs: append(attrs, nh)}, nil
}

func receiverAfiSafis() []*api.AfiSafi {
	var afis []*api.AfiSafi
	for _, afi := range []api.Family_Afi{api.Family_AFI_IP, api.Family_AFI_IP6} {
		afis = append(afis, &api.AfiSafi{
			Config:            &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true},
			AddPaths:          &api.AddPaths{Config: &api.AddPathsConfig{Receive: true}},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		})
	}
	return afis
}

// receivePlain is the baseline: GoBGP configured like the collector
// (passive, GR helper, add-path receive, export reject) but watching only
// peer state and End-of-RIB, no paths.
func receivePlain(port int) error {
	ctx := context.Background()
	s := server.NewBgpServer(server.LoggerOption(quietLogger(), nil))
	go s.Serve()
	defer s.Stop()
	err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: receiverASN, RouterId: receiverAddr, ListenPort: int32(port), ListenAddresses: []string{receiverAddr}}})
	if err != nil {
		return err
	}
	err = s.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_EXPORT, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT}})
	if err != nil {
		return err
	}
	upc := make(chan time.Time, 1)
	eorc := make(chan bgp.Family, 2)
	err = s.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if ev.Type == apiutil.PEER_EVENT_STATE && ev.Peer.State.SessionState == bgp.BGP_FSM_ESTABLISHED {
				select {
				case upc <- time.Now():
				default:
				}
			}
		},
		OnPathEor: func(p *apiutil.Path, _ time.Time) { eorc <- p.Family },
	}, server.WatchPeer(), server.WatchEor(false))
	if err != nil {
		return err
	}
	err = s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:            &api.PeerConf{NeighborAddress: senderAddr, PeerAsn: senderASN},
		Transport:       &api.Transport{PassiveMode: true},
		GracefulRestart: &api.GracefulRestart{Enabled: true, HelperOnly: true},
		AfiSafis:        receiverAfiSafis(),
	}})
	if err != nil {
		return err
	}
	start := <-upc
	<-eorc
	<-eorc
	elapsed := time.Since(start)
	var n uint64
	for _, afi := range []api.Family_Afi{api.Family_AFI_IP, api.Family_AFI_IP6} {
		t, err := s.GetTable(ctx, &api.GetTableRequest{TableType: api.TableType_TABLE_TYPE_ADJ_IN, Name: senderAddr,
			Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}})
		if err != nil {
			return err
		}
		n += t.NumPath
	}
	return report(result{Mode: "plain", Routes: n, Seconds: elapsed.Seconds()})
}

// receiveCollector runs routewatch's collector with a consumer that only
// counts.
func receiveCollector(port int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	c, err := collector.New(collector.Config{
		ASN: receiverASN, RouterID: receiverAddr, ListenAddresses: []string{receiverAddr}, Port: port,
		Neighbors: []collector.Neighbor{{Address: senderAddr, PeerASN: senderASN, Passive: true}},
	}, quietLogger(), reg)
	if err != nil {
		return err
	}
	out := make(chan route.Batch, 64)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, out) }()
	var start time.Time
	var n uint64
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("collector stopped: %v", err)
		case b := <-out:
			for _, u := range b.Updates {
				if !u.Withdraw {
					if n == 0 && os.Getenv("BENCH_DEBUG") != "" {
						fmt.Fprintln(os.Stderr, "first update after", time.Since(start))
					}
					n++
				}
			}
			for _, st := range b.States {
				if st.Up() {
					start = time.Now()
				}
				if st.EndOfRIB {
					elapsed := time.Since(start)
					return report(result{Mode: "collector", Routes: n, Seconds: elapsed.Seconds(), Dropped: metricValue(reg, "routewatch_bgp_dropped_updates_total")})
				}
			}
		}
	}
}

func metricValue(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var v float64
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
			return v
		}
	}
	return 0
}

// report prints the result with this process's peak RSS.
func report(r result) error {
	r.MaxRSSKB = vmHWM()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		r.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}

	return json.NewEncoder(os.Stdout).Encode(r)
}

func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}
