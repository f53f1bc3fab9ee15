// Package service assembles routewatch serve: collector, startup replay,
// ranges refresh, analyzer engine, store, API and alerts, each a Run(ctx)
// part under one errgroup, with a bounded clean shutdown.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"routewatch/alert"
	"routewatch/analyzer"
	"routewatch/api"
	"routewatch/bmpstation"
	"routewatch/collector"
	"routewatch/mrtdata"
	"routewatch/pipeline"
	"routewatch/ranges"
	"routewatch/rislive"
	"routewatch/route"
	"routewatch/rpki"
	"routewatch/store"
)

// Service is a wired routewatch serve.
type Service struct {
	cfg     Config
	logger  *slog.Logger
	console io.Writer

	reg *prometheus.Registry
	// mrtErrors counts corrupt MRT records of the startup replay by file.
	mrtErrors *prometheus.CounterVec
	st        store.Store
	refresh   *ranges.Refresher
	rpki      *rpki.Refresher
	demoSet   *ranges.Set
	engine    *pipeline.Engine
	coll      *collector.Collector
	ris       *rislive.Client
	bmp       *bmpstation.Station
	alerter   *alert.Alerter
	api       *api.Server
	redis     *store.Redis  // nil with the memory backend
	memory    *store.Memory // nil with the redis backend; Run writes its state file
	in        chan route.Batch
	jobs      chan pipeline.Job
	replayed  chan struct{}
	// filesDone closes when the startup replay (replay.files) has been
	// read: until then the engine's clock follows the records only.
	filesDone chan struct{}
	// printed is the last console line of each open event (printEvent
	// runs on the engine's goroutine only).
	printed map[string]string
}

// New builds every part from cfg; nothing runs or listens until Run.
// console receives one line per event change (nil: none).
func New(ctx context.Context, cfg Config, logger *slog.Logger, console io.Writer) (*Service, error) {
	s := &Service{cfg: cfg, logger: logger, console: console, reg: prometheus.NewRegistry(),
		in: make(chan route.Batch, 64), jobs: make(chan pipeline.Job), replayed: make(chan struct{}), filesDone: make(chan struct{}),
		printed: map[string]string{}}
	s.mrtErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "routewatch_mrt_corrupt_records_total", Help: "Corrupt MRT records skipped while replaying archives at startup.",
	}, []string{"file"})
	for _, name := range cfg.Replay.Files {
		s.mrtErrors.WithLabelValues(name) // 0 until the replay finds corruption
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), s.mrtErrors)

	switch cfg.Store.Backend {
	case "redis":
		r, err := store.NewRedis(ctx, cfg.Store.Redis, logger, s.reg)
		if err != nil {
			return nil, fmt.Errorf("service: connect store: %w", err)
		}
		s.st, s.redis = r, r
	default:
		m, err := store.OpenMemory(cfg.Store.Memory, logger)
		if err != nil {
			return nil, fmt.Errorf("service: open store: %w", err)
		}
		s.st, s.memory = m, m
	}

	specs := cfg.Ranges.Specs
	if len(specs) == 0 && !cfg.Demo {
		specs = ranges.DefaultSpecs()
	}
	interval := cfg.Ranges.Refresh
	if interval == 0 {
		interval = ranges.DefaultRefresh
	}
	s.refresh = ranges.NewRefresher(specs, interval, ranges.Options{WatchASNs: cfg.Ranges.WatchASNs}, logger, s.reg)
	if cfg.Demo {
		s.demoSet = demoRanges()
	}
	s.rpki = rpki.NewRefresher(cfg.RPKI, nil, logger, s.reg)
	// The providers' configured origin ASNs are legitimate origins (nil:
	// the analyzer's defaults).
	acfg := cfg.Analyzer.Config
	acfg.ProviderASNs = cfg.Ranges.WatchASNs

	var notifier pipeline.Notifier
	if len(cfg.Alert.Sinks) > 0 {
		a, err := alert.New(cfg.Alert, s.st, logger, s.reg)
		if err != nil {
			s.st.Close()
			return nil, fmt.Errorf("service: alerts: %w", err)
		}
		s.alerter, notifier = a, a
	}

	role := cfg.Pipeline.Role
	var routes pipeline.RouteWriter = s.st
	if role == RoleAnalyzer && !*cfg.Pipeline.WriteRoutes {
		routes = nil // writer processes keep route state
	}
	var sessions func(string) bool
	if role == RoleAll {
		// The sources whose peers re-send their tables when this process
		// restarts (an analyzer process re-reads the stream instead).
		sessions = func(src string) bool { return src == collector.Source || src == bmpstation.Source }
	}
	s.engine = pipeline.New(pipeline.Deps{Tagger: s.tagger, Validator: s.validator, Analyzer: analyzer.New(acfg), Routes: routes,
		Events: s.st, Notify: notifier, OnEvent: s.onEvent, Logger: logger, Registerer: s.reg,
		Checkpoints: s.st, Checkpoint: cfg.Analyzer.CheckpointConfig, Sessions: sessions})

	if *cfg.Collector.Enabled && (role == RoleAll || role == RoleCollector) {
		c, err := collector.New(cfg.Collector.Config, logger, s.reg)
		if err != nil {
			s.st.Close()
			return nil, fmt.Errorf("service: collector: %w", err)
		}
		s.coll = c
	}
	if role == RoleAll || role == RoleCollector {
		if err := s.newRISLive(); err != nil {
			s.st.Close()
			return nil, err
		}
	}
	if err := s.newBMP(); err != nil {
		s.st.Close()
		return nil, err
	}

	a, err := api.New(cfg.API, s.st, matcherFunc(s.match), s.reg, logger, s.reg, api.WithValidator(func() api.Validator { return s.rpki.Table() }))
	if err != nil {
		s.st.Close()
		return nil, fmt.Errorf("service: api: %w", err)
	}
	s.api = a
	return s, nil
}

// tagger returns the ranges in force; the demo's own ranges come first.
func (s *Service) tagger() pipeline.Tagger {
	if s.demoSet != nil {
		return multiTagger{s.demoSet, s.refresh.Set()}
	}
	return s.refresh.Set()
}

// validator returns the VRPs in force (nil before the first good load or
// with rpki.vrps unset: every route's state is "").
func (s *Service) validator() pipeline.Validator { return s.rpki.Table() }

func (s *Service) match(p netip.Prefix) []route.Tag {
	tags := s.refresh.Set().Match(p)
	if s.demoSet != nil {
		tags = append(append([]route.Tag(nil), s.demoSet.Match(p)...), tags...)
	}
	return tags
}

type matcherFunc func(netip.Prefix) []route.Tag

func (f matcherFunc) Match(p netip.Prefix) []route.Tag { return f(p) }

// multiTagger tags with the first set that matches.
type multiTagger []*ranges.Set

func (m multiTagger) Tag(u *route.Update) {
	for _, s := range m {
		s.Tag(u)
		if len(u.Tags) > 0 {
			return
		}
	}
}

// onEvent prints each event change and streams it to the API's SSE
// clients (never blocking the engine).
func (s *Service) onEvent(c route.EventChange) {
	s.printEvent(c)
	s.api.PublishEvent(c)
}

// printEvent shows each event change once: a plain line on the console,
// or a log line when there is no console. An update that changes nothing
// the line shows is not repeated.
func (s *Service) printEvent(c route.EventChange) {
	ev := c.Event
	state := eventState(ev)
	if c.Change == route.EventUpdated && s.printed[ev.ID] == state {
		return
	}
	if ev.Open() {
		s.printed[ev.ID] = state
	} else {
		delete(s.printed, ev.ID)
	}
	if s.console == nil {
		s.logger.Info("event "+string(c.Change), "id", ev.ID, "kind", ev.Kind, "group", eventGroup(ev),
			"start", ev.Start.Format(time.RFC3339), "prefixes", ev.Prefixes, "peers", ev.Peers)
		return
	}
	fmt.Fprintf(s.console, "%-8s %s  %s\n", c.Change, state, ev.Summary)
}

// eventState is the console line of an event without the change and the
// summary.
func eventState(ev route.Event) string {
	line := fmt.Sprintf("%-11s %s start=%s prefixes=%d peers=%d",
		ev.Kind, eventGroup(ev), ev.Start.UTC().Format(time.RFC3339), ev.Prefixes, ev.Peers)
	if ev.End != nil {
		line += fmt.Sprintf(" end=%s duration=%s", ev.End.UTC().Format(time.RFC3339), ev.Duration())
	}
	return line
}

// eventGroup names what an event is about: provider/region, or the peer
// of a peer_down (which no provider owns).
func eventGroup(ev route.Event) string {
	if ev.Kind == route.KindPeerDown && len(ev.AffectedPeers) > 0 {
		p := ev.AffectedPeers[0]
		g := fmt.Sprintf("peer %s AS%d", p.Addr, p.ASN)
		if n := len(ev.AffectedPeers) - 1; n > 0 {
			g += fmt.Sprintf(" (+%d)", n)
		}
		return g
	}
	if ev.Region == "" {
		return ev.Provider
	}
	return ev.Provider + "/" + ev.Region
}

// Replayed is closed once the startup replay (and the demo's feed) went
// through the engine and what it caused is stored.
func (s *Service) Replayed() <-chan struct{} { return s.replayed }

// Run runs every part until ctx ends, then shuts down within
// cfg.ShutdownTimeout: sessions closed, pending writes flushed, the alert
// worker stopped, the store closed.
func (s *Service) Run(ctx context.Context) error {
	defer s.st.Close()
	if err := s.st.Ping(ctx); err != nil {
		return fmt.Errorf("service: store unreachable: %w", err)
	}
	// Ranges: one refresh before anything is tagged, so a first run tags
	// from the start; offline, say so clearly and go on with the origin-ASN
	// watch list (and the demo's ranges).
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if err := s.refresh.Refresh(rctx); err != nil {
		// Each failed source was logged by the refresher already.
		s.logger.Warn("provider ranges could not all be loaded; routewatch watches what loaded and the providers' origin ASNs, and retries every ranges.refresh (offline? give downloaded files with --ranges or ranges.specs)",
			"ranges_loaded", s.refresh.Set().Len())
	}
	cancel()
	// VRPs likewise, so the first routes are validated.
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if err := s.rpki.Refresh(vctx); err != nil {
		s.logger.Warn("RPKI VRPs could not be loaded; routes carry no ROV state until a refresh succeeds", "err", err)
	}
	cancel()
	var restored pipeline.RestoreResult
	if role := s.cfg.Pipeline.Role; role == RoleAll || role == RoleAnalyzer {
		// Before anything is fed: the analyzer continues from its last
		// checkpoint (or starts cold, said in the log).
		var err error
		if restored, err = s.engine.Restore(ctx); err != nil {
			s.logger.Error("checkpoint could not be read; the analyzer starts cold", "err", err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.refresh.Run(gctx) })
	g.Go(func() error { return s.rpki.Run(gctx) })
	if s.memory != nil {
		g.Go(func() error { return s.memory.Run(gctx) })
	}
	if s.redis != nil {
		g.Go(func() error { return s.redis.Run(gctx) })
	}
	g.Go(func() error { return s.api.Run(gctx) })
	role := s.cfg.Pipeline.Role
	switch role {
	case RoleAll:
		g.Go(func() error { return s.engine.Run(gctx, s.in, s.jobs, pipeline.Config{HoldClock: s.filesDone}) })
	case RoleCollector:
		g.Go(func() error { return s.publish(gctx) })
	case RoleAnalyzer:
		g.Go(func() error { return s.engine.Run(gctx, s.in, s.jobs, pipeline.Config{}) })
		c := s.redis.NewConsumer(s.cfg.Pipeline.Consumer)
		upto := s.streamStart(ctx, c, restored)
		g.Go(func() error {
			if restored.StreamID != "" {
				s.replayStream(gctx, c, restored.StreamID, upto)
			}
			return c.Run(gctx, s.analyzeBatch)
		})
	case RoleWriter:
		g.Go(func() error { return s.redis.NewConsumer(s.cfg.Pipeline.Consumer).Run(gctx, store.ApplyTo(s.st)) })
	}
	if s.alerter != nil && (role == RoleAll || role == RoleAnalyzer) {
		g.Go(func() error { return s.alerter.Run(gctx) })
	}
	if s.coll != nil {
		g.Go(func() error { return s.coll.Run(gctx, s.in) })
	}
	s.runRISLive(gctx, g)
	if s.bmp != nil {
		g.Go(func() error { return s.bmp.Run(gctx, s.in) })
	}
	if role == RoleAll || role == RoleCollector {
		g.Go(func() error {
			defer close(s.replayed)
			s.replayFiles(gctx)
			close(s.filesDone)
			if s.cfg.Demo {
				return s.feedDemo(gctx)
			}
			return nil
		})
	}

	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return ignoreCanceled(err)
	case <-ctx.Done():
	}
	s.logger.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	select {
	case err := <-done:
		return ignoreCanceled(err)
	case <-time.After(s.cfg.ShutdownTimeout):
		return fmt.Errorf("service: shutdown took longer than %s", s.cfg.ShutdownTimeout)
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// replayFiles feeds the configured MRT archives through the engine, in
// order, as fast as the engine takes them, and then settles the analyzer as
// `routewatch replay` does at the end of its inputs. A missing, truncated,
// unreadable or out-of-order archive is reported (log and
// routewatch_mrt_corrupt_records_total) and not fatal: the live service
// goes on with what was read.
func (s *Service) replayFiles(ctx context.Context) {
	if len(s.cfg.Replay.Files) == 0 {
		return
	}
	start := time.Now()
	feed := &mrtdata.Feed{Inputs: s.cfg.Replay.Files, KeepGoing: true,
		InputFailed: func(name string, err error) {
			s.mrtErrors.WithLabelValues(name).Inc()
			s.logger.Error("startup replay incomplete; serving with what was read", "file", name, "err", err)
		},
		Corrupt: func(re *mrtdata.RecordError) {
			s.mrtErrors.WithLabelValues(re.File).Inc()
			s.logger.Warn("replay: skipped corrupt record", "file", re.File, "record", re.Index, "offset", re.Offset, "err", re)
		},
		Note: func(note string) { s.logger.Info("replay: note: " + note) },
	}
	if err := feed.Run(ctx, s.in); err != nil || s.cfg.Pipeline.Role != RoleAll {
		return // ctx ended, or the engine is in another process
	}
	j := pipeline.Job{End: true, At: feed.Stats().Last, Done: make(chan error, 1)}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		return
	}
	select {
	case err := <-j.Done:
		if err != nil {
			s.logger.Error("replay: store write failed", "err", err)
		}
	case <-ctx.Done():
		return
	}
	st := feed.Stats()
	s.logger.Info("replay: done", "files", st.Inputs, "records", st.Records, "routes", st.Routes, "state_changes", st.States,
		"corrupt_records", st.Corrupt, "elapsed", time.Since(start).Round(time.Millisecond))
}

// analyzeBatch hands one stream entry to the engine and returns once its
// effects are stored, so the consumer acknowledges only what landed.
func (s *Service) analyzeBatch(ctx context.Context, b store.Batch) error {
	j := pipeline.Job{Batch: b, StreamID: store.StreamEntryID(ctx), Done: make(chan error, 1)}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-j.Done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publish is the collector role: tag, keep what is watched, and append it
// to the Redis Stream for analyzer and writer processes.
func (s *Service) publish(ctx context.Context) error {
	f := pipeline.NewWatchFilter()
	for {
		var b route.Batch
		select {
		case <-ctx.Done():
			return nil
		case b = <-s.in:
		}
		tg := s.tagger()
		out := store.Batch{States: b.States}
		for _, u := range b.Updates {
			if f.Keep(&u, tg) {
				out.Updates = append(out.Updates, u)
			}
		}
		if len(out.Updates) == 0 && len(out.States) == 0 {
			continue
		}
		// Retry until Redis takes it: the collector's queue absorbs the
		// wait and counts what it cannot hold.
		for {
			err := s.redis.Publish(ctx, out)
			if err == nil {
				break
			}
			s.logger.Warn("publish to stream failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}
