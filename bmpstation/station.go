// Package bmpstation is routewatch's BMP station (RFC 7854, RFC 8671
// Adj-RIB-Out, RFC 9069 Loc-RIB): routers stream their RIBs to it over BMP
// and keep the tables themselves, while the station keeps only the routes
// it watches. It produces the same route.Update and route.PeerState as the
// BGP collector.
//
// Semantics:
//   - A vantage point is (router, monitored peer, RIB view): route.Peer
//     with Router (the Initiation sysName and the router's address,
//     "name@addr", or the address alone), Distinguisher and View set. A
//     Loc-RIB's vantage point is the router itself (Addr = its BGP ID).
//   - Announcements of unwatched routes are dropped at decode time; a
//     held route re-announced outside the watch list is handed on once
//     (the pipeline then drops it) and forgotten.
//   - A view comes up (PeerState Idle→Established) with its peer's Peer Up
//     when the station knew it from an earlier session, else with its
//     first route. Announcements until its End-of-RIB (or EORTimeout)
//     have TableDump set; at End-of-RIB, routes of an earlier session not
//     re-announced are withdrawn, then PeerState{EndOfRIB: true}.
//   - Peer Down, or the end of the router's BMP session, takes the
//     peer's (all the router's) views down: their routes are stale, no
//     withdrawals, as for a BGP session drop.
//   - Malformed input closes that router's connection (counted by
//     reason); other routers carry on.
//   - A slow consumer slows the routers' TCP streams down: nothing is
//     dropped.
//   - Update and PeerState times are receive times (as for the BGP
//     collector), not the per-peer header timestamps: routers' clocks
//     differ and initial tables carry the time a path was learned.
package bmpstation

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
)

// Source is route.Update.Source for BMP updates.
const Source = "bmp"

// maxBatch bounds the updates of one Batch.
const maxBatch = 4096

// Station is a BMP station.
type Station struct {
	cfg    Config
	allow  []netip.Prefix
	watch  Watcher
	logger *slog.Logger
	m      *metrics
	now    func() time.Time

	mu      sync.Mutex
	routers map[string]*routerSlot
	running bool
}

// routerSlot is one router's state and the lock its sessions share.
type routerSlot struct {
	mu sync.Mutex
	tr *routerTrack
	// gen counts sessions; a session whose gen is not current was
	// replaced by a newer one of the same router and stops.
	gen     uint64
	pending route.Batch
	info    [2]string // sysName, sysDescr shown in metrics
}

// New validates cfg. watch decides which routes are kept.
func New(cfg Config, watch Watcher, logger *slog.Logger, reg prometheus.Registerer) (*Station, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if watch == nil {
		return nil, errors.New("bmpstation: new: no watcher")
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Station{cfg: cfg, watch: watch, logger: logger, m: newMetrics(reg), now: time.Now, routers: map[string]*routerSlot{}}
	for _, a := range cfg.Allow {
		s.allow = append(s.allow, netip.MustParsePrefix(a).Masked())
	}
	return s, nil
}

// Run listens (and dials the active targets) and sends batches to out
// until ctx is done; it returns an error only when it cannot listen.
func (s *Station) Run(ctx context.Context, out chan<- route.Batch) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("bmpstation: run: already started")
	}
	s.running = true
	s.mu.Unlock()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("bmpstation: listen on %s: %w", s.cfg.Listen, err)
	}
	s.logger.Info("bmpstation: listening", "address", ln.Addr().String(), "allow", s.cfg.Allow, "active", len(s.cfg.Active))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range s.cfg.Active {
		wg.Go(func() { s.dialLoop(ctx, t, out) })
	}
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		if !s.allowed(ap.Addr().Unmap()) {
			s.m.conns.WithLabelValues("rejected").Inc()
			s.logger.Warn("bmpstation: connection from a router not in bmp.allow", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		s.m.conns.WithLabelValues("accepted").Inc()
		wg.Go(func() { _ = s.serve(ctx, c, out) })
	}
	cancel()
	wg.Wait()
	return nil
}

// Addr-independent listen address for tests: the configured one.
func (s *Station) allowed(a netip.Addr) bool {
	for _, p := range s.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// dialLoop keeps a session to an active target, redialing with backoff
// (doubling from MinBackoff to MaxBackoff; reset after a session that
// delivered messages).
func (s *Station) dialLoop(ctx context.Context, t Target, out chan<- route.Batch) {
	delay := s.cfg.MinBackoff
	var d net.Dialer
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := d.DialContext(dctx, "tcp", t.addr())
		cancel()
		if err != nil {
			s.m.conns.WithLabelValues("dial_failed").Inc()
			s.logger.Debug("bmpstation: dial router", "router", t.addr(), "err", err, "retry_in", delay)
		} else {
			s.m.conns.WithLabelValues("dialed").Inc()
			if n := s.serve(ctx, c, out); n > 0 {
				delay = s.cfg.MinBackoff
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, s.cfg.MaxBackoff)
	}
}

// serve runs one BMP session and returns how many messages it read.
func (s *Station) serve(ctx context.Context, c net.Conn, out chan<- route.Batch) (n int64) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-sctx.Done(); c.Close() }()
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	sess := &session{st: s, out: out, ctx: sctx, addr: ap.Addr().Unmap(), dec: newDecoder(s.watch, Source)}
	s.m.routers.Inc()
	defer s.m.routers.Dec()
	err := sess.run(bufio.NewReaderSize(c, 64<<10))
	sess.close(err)
	return sess.messages
}
