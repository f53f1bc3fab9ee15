package archive

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
)

// Live bootstraps a live feed that sends no table (RIS Live): each call
// of Bootstrap reads, per collector, the latest RIB dump and the update
// files after it up to now, with route.Peer.Collector set to the
// collector, and returns the time up to which that state is complete. It
// implements rislive.Bootstrapper.
type Live struct {
	archive *Archive
	now     func() time.Time
}

// NewLive returns a Live bootstrap over cfg's collectors (From and To are
// ignored; PeerCollector is set; RIBFallback is at least 1, as the newest
// RIB dump is published some minutes after its time). now is the clock
// (nil: time.Now).
func NewLive(cfg Config, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*Live, error) {
	cfg.PeerCollector = true
	cfg.RIBFallback = max(cfg.RIBFallback, 1)
	a, err := New(cfg, log, reg)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Live{archive: a, now: now}, nil
}

// Bootstrap sends the collectors' state up to now on out and returns the
// time of the last record read (the update files of the last minutes are
// often not published yet: they count as missing, not as an error). The
// error is that of Archive.Bootstrap.
func (l *Live) Bootstrap(ctx context.Context, out chan<- route.Batch) (time.Time, error) {
	now := l.now().UTC()
	err := l.archive.Bootstrap(ctx, now, now, out)
	return l.archive.Stats().Last, err
}

// Stats describes the last bootstrap.
func (l *Live) Stats() Stats { return l.archive.Stats() }
