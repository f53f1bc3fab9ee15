package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sync/errgroup"

	"routewatch/rislive"
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

// newRISLive builds the RIS Live client when enabled. boot is the
// archive bootstrapper (nil: none yet — the state is what the live
// stream brings).
func (s *Service) newRISLive(boot rislive.Bootstrapper) error {
	if !s.cfg.RISLive.Enabled {
		return nil
	}
	c, err := rislive.New(s.cfg.RISLive.Config, watchedRanges{s}, boot, s.logger, s.reg)
	if err != nil {
		return fmt.Errorf("service: ris_live: %w", err)
	}
	if boot == nil {
		s.logger.Info("ris_live: no archive bootstrap in this build; the state is what the live stream brings",
			"bootstrap_collectors", s.cfg.RISLive.Bootstrap.Collectors)
	}
	s.ris = c
	return nil
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
