// Package collector is routewatch's live source: an embedded GoBGP v4
// speaker that routers (or route servers) peer with. It never advertises
// anything; every route a neighbor sends becomes a route.Update and every
// session change a route.PeerState, in the same shapes MRT replay produces.
//
// Semantics:
//   - Updates come from the pre-policy Adj-RIB-In, one per (peer, prefix,
//     ADD-PATH path-ID), Source "bgp". Announcements received between a
//     session coming up and that family's End-of-RIB have TableDump set.
//   - A session leaving Established yields a PeerState (Old Established)
//     and no withdrawals: that peer's routes are stale. When it comes back,
//     routes it re-announces are fresh again; routes missing from its new
//     initial table are withdrawn at End-of-RIB, followed by
//     PeerState{New: Established, EndOfRIB: true}.
//   - Withdrawals of routes never announced are not handed on.
//   - Within one Batch the Updates happened before the States.
//
// Only configured neighbors and dynamic ranges may connect; routewatch
// listens on port 179 by default, which needs root or CAP_NET_BIND_SERVICE
// (`setcap cap_net_bind_service=+ep ./routewatch`). Without either, set
// `port:` to a high port such as 1179 and point the routers at it.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
)

// Source is route.Update.Source for live BGP updates.
const Source = "bgp"

// maxBatch bounds how many updates Run merges into one Batch.
const maxBatch = 4096

// Collector runs the embedded BGP speaker.
type Collector struct {
	cfg    Config
	logger *slog.Logger
	m      *metrics
	q      chan route.Batch

	resets  pendingResets // resets the collector asked for, by peer
	watched watchList     // peers inspected for unparsed NLRI

	mu      sync.Mutex
	running bool
}

// New validates cfg and checks, before anything listens, that the kernel
// accepts every configured TCP MD5 key and minimum TTL (fail closed: GoBGP
// itself only logs a warning and then runs the session unprotected). The
// error wraps ErrSecurityUnavailable in that case.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := checkSecurity(cfg, kernelProbes()); err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, logger: logger, q: make(chan route.Batch, cfg.QueueBatches)}
	c.m = newMetrics(reg, func() int { return len(c.q) })
	return c, nil
}

// probes ask the kernel whether it honours session protection; tests swap
// them to exercise the fail-closed path.
type probes struct {
	md5 func(netip.Addr, string) error
	ttl func(netip.Addr, int) error
}

func kernelProbes() probes { return probes{md5: probeMD5, ttl: probeTTL} }

func checkSecurity(cfg Config, pr probes) error {
	check := func(what string, addr netip.Addr, md5 string, ttl int) error {
		if md5 != "" {
			if err := pr.md5(addr, md5); err != nil {
				return fmt.Errorf("collector: %s: md5_password configured but %w: %v", what, ErrSecurityUnavailable, err)
			}
		}
		if ttl > 0 {
			if err := pr.ttl(addr, ttl); err != nil {
				return fmt.Errorf("collector: %s: ttl_min configured but %w: %v", what, ErrSecurityUnavailable, err)
			}
		}
		return nil
	}
	for _, n := range cfg.Neighbors {
		if err := check("neighbor "+n.Address, netip.MustParseAddr(n.Address), n.MD5Password, n.TTLMin); err != nil {
			return err
		}
	}
	for _, d := range cfg.DynamicNeighbors {
		if err := check("dynamic neighbor "+d.Prefix, netip.MustParsePrefix(d.Prefix).Addr(), d.MD5Password, d.TTLMin); err != nil {
			return err
		}
	}
	return nil
}

// Run starts the BGP speaker and sends batches to out until ctx is done
// (then it returns nil) or the speaker cannot start. A Collector runs once.
func (c *Collector) Run(ctx context.Context, out chan<- route.Batch) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("collector: run: already started")
	}
	c.running = true
	c.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var srv atomic.Pointer[server.BgpServer]
	glog := slog.New(&countingHandler{
		inner:   c.logger.With("component", "gobgp").Handler(),
		report:  func(r malformedReport) { c.onMalformed(ctx, serverRef{&srv}, r) },
		watched: &c.watched,
	})
	s := server.NewBgpServer(server.LoggerOption(glog, nil))
	srv.Store(s)
	go s.Serve()
	defer func() {
		// Release the watcher (it may wait in handoff) before stopping;
		// Stop, not StopBgp: StopBgp alone leaks a BFD goroutine.
		cancel()
		s.Stop()
	}()

	sess := &session{c: c, s: s, ctx: ctx, tr: newTracker(Source, c.warnLimit)}
	defer sess.stopTimers()
	if err := c.start(ctx, s, sess); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	c.logger.Info("collector: listening", "addresses", c.cfg.ListenAddresses, "port", c.cfg.Port,
		"neighbors", len(c.cfg.Neighbors), "dynamic_ranges", len(c.cfg.DynamicNeighbors))
	if exposed := c.cfg.exposed(); len(exposed) > 0 {
		c.logger.Warn("collector: BGP listener reachable beyond loopback (collector.listen_addresses)", "addresses", exposed, "port", c.cfg.Port)
	}

	for {
		var b route.Batch
		select {
		case <-ctx.Done():
			return nil
		case b = <-c.q:
		}
		// Merge waiting batches so a busy consumer gets fewer, larger
		// ones; a batch carrying States closes the merged batch because
		// its updates must stay before its states.
	merge:
		for len(b.States) == 0 && len(b.Updates) < maxBatch {
			select {
			case nb := <-c.q:
				b.Updates = append(b.Updates, nb.Updates...)
				b.States = nb.States
			default:
				break merge
			}
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
}

func (c *Collector) start(ctx context.Context, s *server.BgpServer, sess *session) error {
	cfg := c.cfg
	err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:             cfg.ASN,
		RouterId:        cfg.RouterID,
		ListenPort:      int32(cfg.Port),
		ListenAddresses: cfg.ListenAddresses,
	}})
	if err != nil {
		return fmt.Errorf("collector: start bgp on port %d: %w", cfg.Port, err)
	}
	// Measured: without an EXPORT default-reject the embedded GoBGP
	// re-advertises what it learns to the other neighbors.
	err = s.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_POLICY_DIRECTION_EXPORT,
		DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}})
	if err != nil {
		return fmt.Errorf("collector: set export policy: %w", err)
	}
	// The watcher goes first so no session event is missed.
	err = s.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnPathUpdate: sess.onPaths,
		OnPathEor:    sess.onEOR,
		OnPeerUpdate: sess.onPeer,
	}, server.WatchUpdate(true, "", ""), server.WatchEor(true), server.WatchPeer())
	if err != nil {
		return fmt.Errorf("collector: watch: %w", err)
	}
	for i, d := range cfg.DynamicNeighbors {
		name := "dynamic-" + strconv.Itoa(i)
		if err := addRange(ctx, s, name, d.Prefix, d.PeerASN, d.MD5Password, d.TTLMin, d.MaxPrefix, cfg.HoldTime); err != nil {
			return err
		}
	}
	for i, n := range cfg.Neighbors {
		if n.PeerASN == 0 {
			// GoBGP accepts "any ASN" only from a peer group: such a
			// neighbor is a one-address dynamic range.
			a := netip.MustParseAddr(n.Address)
			name := "neighbor-" + strconv.Itoa(i)
			if err := addRange(ctx, s, name, netip.PrefixFrom(a, a.BitLen()).String(), 0, n.MD5Password, n.TTLMin, n.MaxPrefix, cfg.HoldTime); err != nil {
				return err
			}
			continue
		}
		p := &api.Peer{
			Conf: &api.PeerConf{
				NeighborAddress: n.Address,
				PeerAsn:         n.PeerASN,
				AuthPassword:    n.MD5Password,
			},
			Transport:       &api.Transport{PassiveMode: n.Passive, RemotePort: uint32(n.RemotePort)},
			Timers:          timers(cfg.HoldTime),
			GracefulRestart: gracefulRestart(),
			AfiSafis:        afiSafis(n.MaxPrefix),
		}
		if n.TTLMin > 0 {
			p.TtlSecurity = &api.TtlSecurity{Enabled: true, TtlMin: uint32(n.TTLMin)}
		}
		if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
			return fmt.Errorf("collector: add neighbor %s: %w", n.Address, err)
		}
	}
	return nil
}

func addRange(ctx context.Context, s *server.BgpServer, name, prefix string, asn uint32, md5 string, ttl int, mp *MaxPrefix, hold int) error {
	g := &api.PeerGroup{
		Conf: &api.PeerGroupConf{PeerGroupName: name, PeerAsn: asn, AuthPassword: md5},
		// Dynamic neighbors are passive by nature.
		Transport:       &api.Transport{PassiveMode: true},
		Timers:          timers(hold),
		GracefulRestart: gracefulRestart(),
		AfiSafis:        afiSafis(mp),
	}
	if ttl > 0 {
		g.TtlSecurity = &api.TtlSecurity{Enabled: true, TtlMin: uint32(ttl)}
	}
	if err := s.AddPeerGroup(ctx, &api.AddPeerGroupRequest{PeerGroup: g}); err != nil {
		return fmt.Errorf("collector: add peer group for %s: %w", prefix, err)
	}
	err := s.AddDynamicNeighbor(ctx, &api.AddDynamicNeighborRequest{DynamicNeighbor: &api.DynamicNeighbor{Prefix: prefix, PeerGroup: name}})
	if err != nil {
		return fmt.Errorf("collector: add dynamic neighbor range %s: %w", prefix, err)
	}
	return nil
}

func timers(hold int) *api.Timers {
	return &api.Timers{Config: &api.TimersConfig{
		HoldTime:          uint64(hold),
		KeepaliveInterval: uint64(max(hold/3, 1)),
		ConnectRetry:      5,
		// After the collector resets a session (malformed UPDATE whose
		// NLRI GoBGP could not parse), the neighbor may reconnect after
		// 5 s instead of GoBGP's 30 s.
		IdleHoldTimeAfterReset: 5,
	}}
}

// gracefulRestart advertises the GR capability (helper only, no families):
// the neighbor then sends End-of-RIB markers, which end the initial table.
func gracefulRestart() *api.GracefulRestart {
	return &api.GracefulRestart{Enabled: true, HelperOnly: true}
}

func afiSafis(mp *MaxPrefix) []*api.AfiSafi {
	var out []*api.AfiSafi
	for _, afi := range []api.Family_Afi{api.Family_AFI_IP, api.Family_AFI_IP6} {
		fam := &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}
		// No per-family MpGracefulRestart: GoBGP would then keep a dropped
		// peer's routes as stale itself (AdjRib.StaleAll), which routewatch
		// does not need (the tracker keeps stale state) and which races
		// with the watcher in v4.8.0 (Path.MarkStale vs. IsStale under
		// -race). The session-wide GR capability alone makes peers send
		// End-of-RIB.
		a := &api.AfiSafi{
			Config:   &api.AfiSafiConfig{Family: fam, Enabled: true},
			AddPaths: &api.AddPaths{Config: &api.AddPathsConfig{Receive: true}},
		}
		if act := mp.action(); act == MaxPrefixShutdown || act == MaxPrefixRestart {
			a.PrefixLimits = &api.PrefixLimit{Family: fam, MaxPrefixes: mp.Limit}
		}
		out = append(out, a)
	}
	return out
}

// maxPrefixFor finds the max-prefix setting that applies to a peer.
func (c *Collector) maxPrefixFor(a netip.Addr) (*MaxPrefix, bool) {
	for _, n := range c.cfg.Neighbors {
		if na, err := netip.ParseAddr(n.Address); err == nil && na == a {
			return n.MaxPrefix, n.PeerASN == 0
		}
	}
	for _, d := range c.cfg.DynamicNeighbors {
		if p, err := netip.ParsePrefix(d.Prefix); err == nil && p.Contains(a) {
			return d.MaxPrefix, true
		}
	}
	return nil, false
}

func (c *Collector) warnLimit(a netip.Addr) uint32 {
	if mp, _ := c.maxPrefixFor(a); mp.action() == MaxPrefixWarn {
		return mp.Limit
	}
	return 0
}

// session is one Run: the GoBGP server and the state its watcher owns.
type session struct {
	c   *Collector
	s   *server.BgpServer
	ctx context.Context
	tr  *tracker

	// last attributes converted, reused while paths share them.
	lastRaw   []bgp.PathAttributeInterface
	lastAttrs *route.Attrs
	lastBad   bool

	// mu serialises the watcher's callbacks with the End-of-RIB timers;
	// batches are handed off under it so they reach Run in state order.
	mu sync.Mutex

	timerMu sync.Mutex
	timers  []*time.Timer
}

func (s *session) onPaths(paths []*apiutil.Path, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.c.m
	if at.IsZero() {
		at = time.Now()
	}
	ups := make([]route.Update, 0, len(paths))
	var ann, wd float64
	for _, p := range paths {
		if p == nil || localWithdrawal(p) {
			// Generated by GoBGP on a session drop or GR expiry: the
			// tracker already made these routes stale.
			continue
		}
		var attrs *route.Attrs
		treatAsWithdraw := false
		if !p.Withdrawal {
			if s.lastAttrs != nil && sameAttrs(s.lastRaw, p.Attrs) {
				attrs, treatAsWithdraw = s.lastAttrs, s.lastBad
			} else {
				a, err := convertAttrs(p.Attrs)
				if err != nil {
					m.convertErrors.Inc()
					continue
				}
				bad := checkOpaqueAttrs(p.Attrs)
				if bad != "" {
					m.malformed.WithLabelValues(bad).Inc()
					s.c.logger.Warn("collector: malformed attribute, route treated as withdrawn", "peer", p.PeerAddress, "nlri", p.Nlri)
				}
				s.lastRaw, s.lastAttrs, s.lastBad = p.Attrs, a, bad != ""
				attrs, treatAsWithdraw = a, bad != ""
			}
		}
		u, err := pathToUpdate(p, at, Source, attrs)
		if err != nil {
			m.convertErrors.Inc()
			continue
		}
		if treatAsWithdraw {
			u.Withdraw, u.Attrs = true, nil
		}
		if !s.tr.update(&u) {
			continue
		}
		if u.Withdraw {
			wd++
		} else {
			ann++
		}
		ups = append(ups, u)
	}
	s.lastRaw, s.lastAttrs = nil, nil
	s.syncCounters()
	if len(ups) == 0 {
		return
	}
	m.updates.WithLabelValues("announce").Add(ann)
	m.updates.WithLabelValues("withdraw").Add(wd)
	s.handoff(route.Batch{Updates: ups}, false)
}

// sameAttrs reports whether two attribute lists are the same objects
// (paths of one UPDATE share them), comparing MP_REACH by next hop since
// GoBGP builds one per path.
func sameAttrs(a, b []bgp.PathAttributeInterface) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		ra, ok1 := a[i].(*bgp.PathAttributeMpReachNLRI)
		rb, ok2 := b[i].(*bgp.PathAttributeMpReachNLRI)
		if !ok1 || !ok2 || ra.Nexthop != rb.Nexthop {
			return false
		}
	}
	return true
}

func (s *session) onEOR(p *apiutil.Path, at time.Time) {
	addr, fam, ok := eorFamily(p)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.IsZero() {
		// GoBGP v4.8.0 leaves the End-of-RIB event's timestamp unset.
		at = time.Now()
	}
	s.endOfRIB(s.tr.endOfRIB(at, addr, fam))
}

func (s *session) endOfRIB(ups []route.Update, sts []route.PeerState) {
	s.syncCounters()
	if len(sts) > 0 {
		s.c.m.peerChanges.WithLabelValues("end_of_rib").Inc()
	}
	if len(ups) > 0 {
		s.c.m.updates.WithLabelValues("withdraw").Add(float64(len(ups)))
	}
	if len(ups) > 0 || len(sts) > 0 {
		s.handoff(route.Batch{Updates: ups, States: sts}, true)
	}
}

func (s *session) onPeer(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	pe, ok := peerEventOf(ev, at)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sts := s.tr.peerEvent(pe)
	s.syncCounters()
	for _, st := range sts {
		if st.Up() {
			s.armEORTimer(pe.Addr, s.tr.session(pe.Addr))
			s.c.m.peerChanges.WithLabelValues("established").Inc()
			s.c.m.established.Inc()
			s.c.logger.Info("collector: session established", "peer", st.Peer.Addr, "asn", st.Peer.ASN)
		} else if st.Down() {
			s.c.m.peerChanges.WithLabelValues("down").Inc()
			s.c.m.established.Dec()
			reset := s.c.countReset(pe.Addr, &ev.Peer.State)
			s.c.logger.Warn("collector: session down", "peer", st.Peer.Addr, "asn", st.Peer.ASN, "reason", st.Reason, "reset", reset)
		}
	}
	if ev.Peer.State.AdminState == api.PeerState_ADMIN_STATE_PFX_CT && len(sts) > 0 && sts[0].Down() {
		s.c.m.maxPrefix.Inc()
		s.maxPrefixTripped(pe.Addr)
	}
	if len(sts) > 0 {
		s.handoff(route.Batch{States: sts}, true)
	}
}

func (s *session) maxPrefixTripped(a netip.Addr) {
	mp, dynamic := s.c.maxPrefixFor(a)
	s.c.logger.Warn("collector: max-prefix limit exceeded, session closed", "peer", a, "action", mp.action())
	if mp.action() != MaxPrefixRestart || dynamic {
		// A dynamic neighbor is removed when its session ends; it may
		// simply connect again.
		return
	}
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	s.timers = append(s.timers, time.AfterFunc(mp.restartAfter(), func() {
		if s.ctx.Err() != nil {
			return
		}
		if err := s.s.EnablePeer(s.ctx, &api.EnablePeerRequest{Address: a.String()}); err != nil {
			s.c.logger.Error("collector: re-enable neighbor after max-prefix", "peer", a, "err", err)
		}
	}))
}

// armEORTimer ends the initial table of a peer that never sends
// End-of-RIB (a neighbor without graceful-restart support may not).
func (s *session) armEORTimer(a netip.Addr, n uint64) {
	d := s.c.cfg.EORTimeout
	if d < 0 {
		return
	}
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	s.timers = append(s.timers, time.AfterFunc(d, func() {
		if s.ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		ups, sts := s.tr.eorTimeout(time.Now(), a, n)
		if len(sts) > 0 {
			s.c.logger.Warn("collector: no End-of-RIB from neighbor, initial table considered complete", "peer", a, "after", d)
		}
		s.endOfRIB(ups, sts)
	}))
}

func (s *session) stopTimers() {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	for _, t := range s.timers {
		t.Stop()
	}
}

// syncCounters copies the tracker's counters into the metrics.
func (s *session) syncCounters() {
	m, tr := s.c.m, s.tr
	if tr.unknownWithdrawals > 0 {
		m.unknownWd.Add(float64(tr.unknownWithdrawals))
		tr.unknownWithdrawals = 0
	}
	if tr.staleWithdrawn > 0 {
		m.staleWd.Add(float64(tr.staleWithdrawn))
		tr.staleWithdrawn = 0
	}
	if tr.maxPrefixWarnings > 0 {
		m.maxPrefix.Add(float64(tr.maxPrefixWarnings))
		s.c.logger.Warn("collector: a neighbor exceeded its max_prefix limit (action warn)")
		tr.maxPrefixWarnings = 0
	}
	m.routes.Set(float64(tr.routes))
}

// handoff passes a batch to Run without blocking GoBGP's watcher for long:
// GoBGP queues events for the watcher without bound, so a stuck consumer
// must cost counted drops, not memory. Batches with peer states (critical)
// are never dropped.
func (s *session) handoff(b route.Batch, critical bool) {
	select {
	case s.c.q <- b:
		return
	default:
	}
	if critical {
		select {
		case s.c.q <- b:
		case <-s.ctx.Done():
		}
		return
	}
	t := time.NewTimer(s.c.cfg.HandoffTimeout)
	defer t.Stop()
	select {
	case s.c.q <- b:
	case <-t.C:
		s.c.m.dropped.Add(float64(len(b.Updates)))
	case <-s.ctx.Done():
	}
}
