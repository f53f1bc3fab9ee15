package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"

	"routewatch/archive"
	"routewatch/rislive"
	"routewatch/route"
)

// RISLiveConfig is the ris_live section: RIPE RIS Live as a source, the
// RRCs' feeders as vantage points.
type RISLiveConfig struct {
	Enabled        bool `yaml:"enabled"`
	rislive.Config `yaml:",inline"`
	// Bootstrap: the state before the live stream, from the archives.
	Bootstrap RISLiveBootstrap `yaml:"bootstrap"`
}

// RISLiveBootstrap names the archives a (re)connect loads its table from:
// the RIB dump before now and the update files after it.
type RISLiveBootstrap struct {
	// Collectors default to [rrc00].
	Collectors []string `yaml:"collectors"`
	// BaseURLs replace a collector's archive root (mirrors).
	BaseURLs map[string]string `yaml:"base_urls"`
}

func (c *RISLiveConfig) applyDefaults() {
	if c.URL == "" {
		c.URL = rislive.DefaultURL
	}
	if c.SilenceTimeout == 0 {
		c.SilenceTimeout = rislive.DefaultSilenceTimeout
	}
	if c.Bootstrap.Collectors == nil {
		c.Bootstrap.Collectors = []string{"rrc00"}
	}
}

func (c *RISLiveConfig) validate() error {
	if !c.Enabled {
		return nil
	}
	errs := []error{c.Config.Validate()}
	for i, n := range c.Bootstrap.Collectors {
		if n == "" {
			errs = append(errs, fmt.Errorf("ris_live.bootstrap.collectors[%d]: empty", i))
		}
	}
	for n, u := range c.Bootstrap.BaseURLs {
		if u == "" {
			errs = append(errs, fmt.Errorf("ris_live.bootstrap.base_urls.%s: empty", n))
		}
	}
	return errors.Join(errs...)
}

// newRISLive builds the RIS Live client when enabled, with the archive
// bootstrap of ris_live.bootstrap.
func (s *Service) newRISLive() error {
	if !s.cfg.RISLive.Enabled {
		return nil
	}
	boot, err := s.newRISBootstrap()
	if err != nil {
		return err
	}
	c, err := rislive.New(s.cfg.RISLive.Config, watchedRanges{s}, boot, s.logger, s.reg)
	if err != nil {
		return fmt.Errorf("service: ris_live: %w", err)
	}
	s.ris = c
	return nil
}

// newRISBootstrap returns the archive bootstrap (the latest RIB dump and
// the update files up to now of ris_live.bootstrap.collectors), or nil
// when the collector list is empty (`bootstrap: {collectors: []}`: the
// state is what the live stream brings). A bootstrap that fails at run
// time (archives unreachable, a missing RIB, a truncated file) is logged
// and counted by the client (routewatch_rislive_bootstraps_total
// {result="error"}); the live stream goes on.
func (s *Service) newRISBootstrap() (rislive.Bootstrapper, error) {
	b := s.cfg.RISLive.Bootstrap
	if len(b.Collectors) == 0 {
		s.logger.Info("ris_live: archive bootstrap off (ris_live.bootstrap.collectors is empty); the state is what the live stream brings")
		return nil, nil
	}
	l, err := archive.NewLive(archive.Config{Collectors: b.Collectors, BaseURLs: b.BaseURLs}, nil, s.logger, s.reg)
	if err != nil {
		return nil, fmt.Errorf("service: ris_live: bootstrap: %w", err)
	}
	return boundedBootstrap{l, risBootstrapTimeout}, nil
}

// risBootstrapTimeout bounds one bootstrap as a whole (a stalled download
// fails sooner, by the archive client's stall timeout): the live stream
// waits for it.
const risBootstrapTimeout = 30 * time.Minute

// boundedBootstrap gives a Bootstrapper a deadline.
type boundedBootstrap struct {
	b       rislive.Bootstrapper
	timeout time.Duration
}

func (b boundedBootstrap) Bootstrap(ctx context.Context, out chan<- route.Batch) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	until, err := b.b.Bootstrap(ctx, out)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("service: ris_live: bootstrap: not done after %s: %w", b.timeout, err)
	}
	return until, err
}

// runRISLive feeds RIS Live into the same channel as the collector.
func (s *Service) runRISLive(ctx context.Context, g *errgroup.Group) {
	if s.ris != nil {
		g.Go(func() error { return s.ris.Run(ctx, s.in) })
	}
}

// watchedRanges gives the RIS Live client the ranges in force (the
// demo's first) so that its subscriptions follow a ranges refresh.
type watchedRanges struct{ s *Service }

func (w watchedRanges) Watched() ([]netip.Prefix, []uint32) {
	set := w.s.refresh.Set()
	ps, asns := set.Roots(), set.WatchedASNs()
	if w.s.demoSet != nil {
		ps = append(ps, w.s.demoSet.Roots()...)
	}
	return ps, asns
}
