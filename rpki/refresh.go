package rpki

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/internal/fetch"
)

// Config is the rpki section of the routewatch configuration.
type Config struct {
	// VRPs is a FILE or URL with a validator's JSON export; "" disables
	// origin validation.
	VRPs string `yaml:"vrps"`
	// Refresh is how often VRPs are re-read (default 10m).
	Refresh time.Duration `yaml:"refresh"`
}

// DefaultRefresh is the refresh interval when none is configured.
const DefaultRefresh = 10 * time.Minute

// maxBytes bounds a VRP export (a full one is ~60 MB in jsonext).
const maxBytes = 512 << 20

// Refresher keeps a Table fresh from one source with conditional
// re-fetches. A failed or malformed fetch keeps the last good table in
// force; it is logged and counted.
type Refresher struct {
	cfg    Config
	client *http.Client
	logger *slog.Logger

	table atomic.Pointer[Table]

	mu        sync.Mutex // serializes Refresh; guards v
	v         fetch.Validators
	refreshed atomic.Bool

	refreshes   *prometheus.CounterVec
	vrps        prometheus.Gauge
	lastSuccess prometheus.Gauge
}

// NewRefresher makes a refresher; with cfg.VRPs empty it stays disabled
// (Table returns nil). reg nil: metrics are not registered; logger nil:
// nothing is logged.
func NewRefresher(cfg Config, client *http.Client, logger *slog.Logger, reg prometheus.Registerer) *Refresher {
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Refresher{cfg: cfg, client: client, logger: logger,
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_rpki_refreshes_total",
			Help: "VRP source fetches by result (updated, not_modified, error).",
		}, []string{"result"}),
		vrps: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_rpki_vrps", Help: "Validated ROA payloads in force (0: origin validation off or not loaded).",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_rpki_last_success_timestamp_seconds", Help: "Unix time of the last successful VRP fetch.",
		}),
	}
	for _, res := range []string{"updated", "not_modified", "error"} {
		r.refreshes.WithLabelValues(res)
	}
	if reg != nil {
		reg.MustRegister(r.refreshes, r.vrps, r.lastSuccess)
	}
	return r
}

// Enabled reports whether a VRP source is configured.
func (r *Refresher) Enabled() bool { return r != nil && r.cfg.VRPs != "" }

// Table returns the VRPs in force, nil before the first good load or when
// disabled. Safe for concurrent use.
func (r *Refresher) Table() *Table {
	if r == nil {
		return nil
	}
	return r.table.Load()
}

// Refresh reads the source once (conditionally after the first time) and
// swaps in the new table. On error the last good table stays.
func (r *Refresher) Refresh(ctx context.Context) error {
	if !r.Enabled() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshed.Store(true)
	data, v, notModified, err := fetch.Get(ctx, r.cfg.VRPs, fetch.Options{Client: r.client, MaxBytes: maxBytes}, r.v)
	if err == nil && notModified {
		r.refreshes.WithLabelValues("not_modified").Inc()
		r.lastSuccess.SetToCurrentTime()
		return nil
	}
	var vrps []VRP
	if err == nil {
		vrps, err = Parse(data)
	}
	if err != nil {
		r.refreshes.WithLabelValues("error").Inc()
		r.logger.Warn("rpki: VRPs could not be loaded; keeping the last good ones", "source", r.cfg.VRPs,
			"had_vrps", r.table.Load() != nil, "err", err)
		return fmt.Errorf("rpki: refresh %s: %w", r.cfg.VRPs, err)
	}
	r.v = v
	t := NewTable(vrps)
	r.table.Store(t)
	r.vrps.Set(float64(t.Len()))
	r.refreshes.WithLabelValues("updated").Inc()
	r.lastSuccess.SetToCurrentTime()
	r.logger.Info("rpki: VRPs loaded", "source", r.cfg.VRPs, "vrps", t.Len())
	return nil
}

// Run refreshes now (unless Refresh already ran) and then every interval
// until ctx ends; failures are logged and counted, never fatal.
func (r *Refresher) Run(ctx context.Context) error {
	if !r.Enabled() {
		<-ctx.Done()
		return nil
	}
	if !r.refreshed.Load() {
		_ = r.Refresh(ctx)
	}
	t := time.NewTicker(r.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = r.Refresh(ctx)
		}
	}
}
