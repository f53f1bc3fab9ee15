package ranges

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Refresher keeps a Set fresh: it re-fetches every source on an interval
// with conditional requests (ETag / If-Modified-Since; size+mtime for
// files) and swaps in a new Set when something changed.
//
// A source that fails (unreachable, HTTP error, malformed content) keeps
// its last good entries in force, so one provider's bad week does not
// freeze the others or empty anything; the failure is logged and counted.
type Refresher struct {
	specs    []string
	interval time.Duration
	opts     Options
	logger   *slog.Logger

	set atomic.Pointer[Set]

	mu        sync.Mutex // serializes Refresh; guards state and refreshed
	state     map[string]*sourceState
	refreshed bool

	refreshes   *prometheus.CounterVec
	failures    *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	prefixes    *prometheus.GaugeVec
}

type sourceState struct {
	loaded *Loaded
	v      validators
}

// NewRefresher makes a refresher for specs. No specs is allowed (the set
// then only carries the origin-ASN watch list); callers wanting the
// official sources pass DefaultSpecs(). interval <= 0 means DefaultRefresh.
// reg nil: metrics are not registered.
func NewRefresher(specs []string, interval time.Duration, opts Options, logger *slog.Logger, reg prometheus.Registerer) *Refresher {
	if interval <= 0 {
		interval = DefaultRefresh
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Refresher{
		specs:    specs,
		interval: interval,
		opts:     opts,
		logger:   logger,
		state:    map[string]*sourceState{},
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_ranges_refreshes_total",
			Help: "Range source fetches by source and result (updated, not_modified, error).",
		}, []string{"source", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_ranges_refresh_failures_total",
			Help: "Range source fetches that failed (unreachable, HTTP error or malformed); the last good entries stay in force.",
		}, []string{"source"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "routewatch_ranges_last_success_timestamp_seconds",
			Help: "Unix time of the last successful fetch of a range source.",
		}, []string{"source"}),
		prefixes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "routewatch_ranges_prefixes",
			Help: "Published prefixes in force, by provider and address family.",
		}, []string{"provider", "family"}),
	}
	if reg != nil {
		r.refreshes = register(reg, r.refreshes)
		r.failures = register(reg, r.failures)
		r.lastSuccess = register(reg, r.lastSuccess)
		r.prefixes = register(reg, r.prefixes)
	}
	for _, spec := range specs {
		r.failures.WithLabelValues(spec) // 0 from startup
	}
	r.set.Store(Build(nil, opts.watch()))
	return r
}

// register registers c, or reuses the collector already registered under
// its name (a second Refresher on the same registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// Set returns the set in force: empty until the first successful refresh,
// never nil. Safe for concurrent use.
func (r *Refresher) Set() *Set { return r.set.Load() }

// Run refreshes now (unless Refresh already ran) and then every interval
// until ctx ends. Failures are logged and counted, never fatal; Run
// returns nil when ctx is done.
func (r *Refresher) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	r.mu.Lock()
	first := !r.refreshed
	r.mu.Unlock()
	for {
		if first {
			_ = r.Refresh(ctx) // failures are logged and counted per source
		}
		first = true
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh fetches every source once (conditionally when it was fetched
// before) and swaps in a new set if anything changed. The error joins the
// failures of all sources that failed; the others still apply. Callers
// that need ranges at startup call Refresh before Run and fail on error.
func (r *Refresher) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshed = true
	changed := false
	var errs []error
	for _, spec := range r.specs {
		st := r.state[spec]
		if st == nil {
			st = &sourceState{}
			r.state[spec] = st
		}
		l, v, notModified, err := fetchSpec(ctx, spec, r.opts, st.v)
		switch {
		case err != nil:
			errs = append(errs, err)
			r.refreshes.WithLabelValues(spec, "error").Inc()
			r.failures.WithLabelValues(spec).Inc()
			r.logger.Warn("ranges source failed; keeping its last good entries", "source", spec, "had_entries", st.loaded != nil, "err", err)
		case notModified:
			r.refreshes.WithLabelValues(spec, "not_modified").Inc()
			r.lastSuccess.WithLabelValues(spec).SetToCurrentTime()
			r.logger.Debug("ranges source not modified", "source", spec)
		default:
			st.loaded, st.v = l, v
			changed = true
			r.refreshes.WithLabelValues(spec, "updated").Inc()
			r.lastSuccess.WithLabelValues(spec).SetToCurrentTime()
			r.logger.Info("ranges source loaded", "source", spec, "format", l.Source.Format, "provider", l.Source.Provider, "entries", l.Source.Entries, "v4", l.Source.V4, "v6", l.Source.V6)
		}
	}
	if changed {
		loaded := make([]*Loaded, 0, len(r.specs))
		for _, spec := range r.specs {
			loaded = append(loaded, r.state[spec].loaded)
		}
		set := Build(loaded, r.opts.watch())
		r.set.Store(set)
		r.updateGauges(set)
	}
	return errors.Join(errs...)
}

func (r *Refresher) updateGauges(s *Set) {
	r.prefixes.Reset()
	for p, n := range s.table.All() {
		family := "ipv4"
		if p.Addr().Is6() {
			family = "ipv6"
		}
		seen := map[string]bool{}
		for _, t := range n.own() {
			if !seen[t.Provider] {
				seen[t.Provider] = true
				r.prefixes.WithLabelValues(t.Provider, family).Inc()
			}
		}
	}
}
