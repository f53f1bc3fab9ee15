// Command apiserve loads a full cloud-prefix table into the Redis store
// (every prefix of the given provider range files, announced by several
// peers, with one path change each and a set of events) and serves the
// API on it, for bench/api.sh to drive with wrk. Its keys live under their
// own prefix and are deleted on exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof" // --pprof
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/api"
	"routewatch/ranges"
	"routewatch/route"
	"routewatch/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apiserve:", err)
		os.Exit(1)
	}
}

type rangeFiles []string

func (r *rangeFiles) String() string     { return strings.Join(*r, ",") }
func (r *rangeFiles) Set(s string) error { *r = append(*r, s); return nil }

func run() error {
	var specs rangeFiles
	backend := flag.String("store", "redis", "store backend: redis or memory")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	prefix := flag.String("key-prefix", fmt.Sprintf("rwbench-api-%d", os.Getpid()), "Redis key prefix (deleted on exit)")
	peers := flag.Int("peers", 8, "number of peers announcing every prefix")
	nEvents := flag.Int("events", 2000, "number of events to store")
	listen := flag.String("listen", "127.0.0.1:0", "API listen address")
	targets := flag.String("targets", "", "write the loaded prefixes here, one a line (for the wrk script)")
	ready := flag.String("ready", "", "write the API address here once serving")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the serving phase here")
	profileAfter := flag.Duration("cpuprofile-after", 0, "start the CPU profile this long after serving starts (skip a warm-up)")
	routeCache := flag.Int("route-cache", 0, "Redis store route_cache (0: default, negative: off)")
	notices := flag.Bool("notices", true, "run the Redis store's Run (change notices, as serve does)")
	respCache := flag.Int64("response-cache", api.DefaultConfig().ResponseCache, "API response_cache in bytes (0: off)")
	churn := flag.Int("churn", 0, "while serving, change this many routes a second (random prefix and peer, new upstream), as a collector would")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof here (with block and mutex profiles on) for profiling runs")
	flag.Var(&specs, "ranges", "provider range file (repeatable)")
	flag.Parse()
	if len(specs) == 0 {
		return fmt.Errorf("give at least one --ranges file")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var loaded []*ranges.Loaded
	for _, s := range specs {
		l, err := ranges.Fetch(ctx, s, ranges.Options{})
		if err != nil {
			return err
		}
		loaded = append(loaded, l)
	}
	set := ranges.Build(loaded, nil)
	var pfxs []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for _, l := range loaded {
		for _, e := range l.Entries {
			if p := e.Prefix.Masked(); !seen[p] {
				seen[p] = true
				pfxs = append(pfxs, p)
			}
		}
	}
	slices.SortFunc(pfxs, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})

	var st store.Store
	switch *backend {
	case "redis":
		rs, err := store.NewRedis(ctx, store.RedisConfig{URL: *redisURL, KeyPrefix: *prefix, RouteCache: *routeCache}, logger, nil)
		if err != nil {
			return err
		}
		defer rs.Close()
		defer cleanup(*redisURL, *prefix)
		if *notices {
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = rs.Run(runCtx) }()
			defer func() { cancel(); <-done }()
		}
		st = rs
	case "memory":
		st = store.NewMemory(store.MemoryConfig{})
	default:
		return fmt.Errorf("unknown --store %q", *backend)
	}

	start := time.Now()
	n, err := load(ctx, st, set, pfxs, *peers, *nEvents)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "apiserve: loaded %d prefixes x %d peers (%d updates) and %d events in %s\n",
		len(pfxs), *peers, n, *nEvents, time.Since(start).Round(time.Millisecond))

	if *targets != "" {
		var b strings.Builder
		for _, p := range pfxs {
			b.WriteString(p.String())
			b.WriteByte('\n')
		}
		if err := os.WriteFile(*targets, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}

	cfg := api.DefaultConfig()
	cfg.RateLimit = api.RateLimit{} // wrk comes from one address
	cfg.ResponseCache = *respCache
	srv, err := api.New(cfg, st, set, nil, logger, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(*profileAfter):
			}
			_ = pprof.StartCPUProfile(f)
		}()
		defer pprof.StopCPUProfile()
	}
	if *pprofAddr != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		runtime.SetMutexProfileFraction(10)
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	}
	fmt.Fprintf(os.Stderr, "apiserve: serving on http://%s\n", ln.Addr())
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
	}
	if *churn > 0 {
		go runChurn(ctx, st, set, pfxs, *peers, *churn, logger)
	}
	return srv.Serve(ctx, ln)
}

// runChurn changes rate routes a second in batches every 100 ms: a random
// peer of a random prefix moves to another upstream, so the caches of the
// read path see the invalidations a live collector would cause.
func runChurn(ctx context.Context, st store.Store, set *ranges.Set, pfxs []netip.Prefix, nPeers, rate int, logger *slog.Logger) {
	rng := rand.New(rand.NewPCG(1, 2))
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	now := time.Date(2025, 7, 25, 0, 0, 0, 0, time.UTC)
	per := max(1, rate/10)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		batch := make([]route.Update, 0, per)
		for range per {
			i := rng.IntN(nPeers)
			peer := route.Peer{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), ASN: uint32(64500 + i)}
			up := upstreams[rng.IntN(len(upstreams))]
			now = now.Add(time.Millisecond)
			u := route.Update{Time: now, Source: "bench", Peer: peer, Prefix: pfxs[rng.IntN(len(pfxs))], Attrs: &route.Attrs{
				ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{peer.ASN, up, 16509}}}, NextHop: peer.Addr,
				Communities: []route.Community{route.Community(up<<16 | 100)},
			}}
			set.Tag(&u)
			batch = append(batch, u)
		}
		if err := st.ApplyUpdates(ctx, batch); err != nil && ctx.Err() == nil {
			logger.Warn("apiserve: churn", "err", err)
		}
	}
}

var upstreams = []uint32{3356, 2914, 1299, 174, 6453, 6762}

// load announces every prefix from every peer (peer i via upstream i),
// then moves one peer per prefix to another upstream so history and the
// ASN index have something in them, and stores events across regions.
func load(ctx context.Context, st store.Store, set *ranges.Set, pfxs []netip.Prefix, nPeers, nEvents int) (int, error) {
	t0 := time.Date(2025, 7, 24, 12, 0, 0, 0, time.UTC)
	ps := make([]route.Peer, nPeers)
	var states []route.PeerState
	for i := range ps {
		ps[i] = route.Peer{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), ASN: uint32(64500 + i)}
		states = append(states, route.PeerState{Time: t0.Add(-time.Hour), Source: "bench", Peer: ps[i], Old: route.StateOpenConfirm, New: route.StateEstablished})
	}
	if err := st.ApplyPeerStates(ctx, states); err != nil {
		return 0, err
	}
	attrs := func(peer route.Peer, up uint32) *route.Attrs {
		return &route.Attrs{
			ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{peer.ASN, up, 16509}}}, NextHop: peer.Addr,
			Communities: []route.Community{route.Community(up<<16 | 100)},
		}
	}
	var batch []route.Update
	total := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		total += len(batch)
		err := st.ApplyUpdates(ctx, batch)
		batch = batch[:0]
		return err
	}
	for round := range 2 {
		for j, p := range pfxs {
			for i, peer := range ps {
				if round == 1 && i != j%nPeers {
					continue
				}
				up := upstreams[(i+round)%len(upstreams)]
				u := route.Update{Time: t0.Add(time.Duration(round*600+j%600) * time.Second), Source: "bench", Peer: peer, Prefix: p, Attrs: attrs(peer, up)}
				set.Tag(&u)
				batch = append(batch, u)
				if len(batch) == 5000 {
					if err := flush(); err != nil {
						return total, err
					}
				}
			}
		}
	}
	if err := flush(); err != nil {
		return total, err
	}
	kinds := []route.EventKind{route.KindPathShift, route.KindWithdrawal, route.KindPeerDown}
	var evs []route.Event
	for i := range nEvents {
		p := pfxs[(i*7919)%len(pfxs)]
		tags := set.Match(p)
		e := route.Event{
			ID: fmt.Sprintf("bench-%05d", i), Kind: kinds[i%len(kinds)], Start: t0.Add(time.Duration(i) * time.Minute),
			Detected: t0.Add(time.Duration(i)*time.Minute + 30*time.Second), Prefixes: 1 + i%50, Peers: 1 + i%nPeers,
			Summary:        "synthetic benchmark event",
			Transitions:    []route.Transition{{FromUpstream: 3356, ToUpstream: 2914, Prefixes: 1 + i%50}},
			AffectedPeers:  []route.Peer{ps[i%nPeers]},
			SamplePrefixes: []netip.Prefix{p},
		}
		if len(tags) > 0 && e.Kind != route.KindPeerDown {
			e.Provider, e.Region = tags[0].Provider, tags[0].Region
		}
		if i%4 != 0 {
			end := e.Start.Add(20 * time.Minute)
			e.End = &end
		}
		evs = append(evs, e)
		if len(evs) == 500 {
			if err := st.PutEvents(ctx, evs); err != nil {
				return total, err
			}
			evs = evs[:0]
		}
	}
	if len(evs) > 0 {
		if err := st.PutEvents(ctx, evs); err != nil {
			return total, err
		}
	}
	return total, nil
}

// cleanup deletes the benchmark's keys.
func cleanup(redisURL, prefix string) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	var ks []string
	n := 0
	for iter.Next(ctx) {
		ks = append(ks, iter.Val())
		if len(ks) == 1000 {
			n += len(ks)
			c.Del(ctx, ks...)
			ks = ks[:0]
		}
	}
	if len(ks) > 0 {
		n += len(ks)
		c.Del(ctx, ks...)
	}
	fmt.Fprintf(os.Stderr, "apiserve: deleted %d keys under %s\n", n, prefix)
}
