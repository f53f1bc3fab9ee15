package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/analyzer"
	"routewatch/route"
	"routewatch/store"
)

// Checkpoints is the part of the store that keeps the engine's
// checkpoint (store.Checkpoints).
type Checkpoints interface {
	PutCheckpoint(ctx context.Context, name string, data []byte, at time.Time) error
	Checkpoint(ctx context.Context, name string) ([]byte, time.Time, error)
}

// CheckpointName is the name the engine's checkpoint is stored under.
const CheckpointName = "analyzer"

// CheckpointConfig says how often the engine checkpoints the analyzer and
// which checkpoint it still trusts at start (keys of the analyzer: block).
type CheckpointConfig struct {
	// CheckpointInterval is the time between checkpoints (default 1m,
	// negative disables checkpoints; one is also written on a clean
	// shutdown).
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// CheckpointMaxAge: a checkpoint whose data time is older than this
	// (against the wall clock) is stale — reported and discarded, the
	// analyzer starts cold (default 6h; negative: always used).
	CheckpointMaxAge time.Duration `yaml:"checkpoint_max_age"`
	// ResyncWindow: after a restore, a BGP or BMP vantage point of the
	// checkpoint whose session has not come back within this time (wall
	// clock) is taken as down: its routes go stale and a peer_down opens,
	// as for a session lost (default 10m: connect retries, hold time and
	// the collector's eor_timeout; negative disables).
	ResyncWindow time.Duration `yaml:"resync_window"`
}

// Defaults.
const (
	DefaultCheckpointInterval = time.Minute
	DefaultCheckpointMaxAge   = 6 * time.Hour
	DefaultResyncWindow       = 10 * time.Minute
)

func (c CheckpointConfig) withDefaults() CheckpointConfig {
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.CheckpointMaxAge == 0 {
		c.CheckpointMaxAge = DefaultCheckpointMaxAge
	}
	if c.ResyncWindow == 0 {
		c.ResyncWindow = DefaultResyncWindow
	}
	return c
}

// The envelope: magic, version, a length-prefixed JSON header with the
// engine's own bookkeeping, then the analyzer's Snapshot.
var checkpointMagic = [4]byte{'R', 'W', 'C', 'K'}

const checkpointVersion = 1

type checkpointHeader struct {
	// DataTime is the engine's data time when the checkpoint was taken.
	DataTime  time.Time `json:"data_time"`
	LastPrune time.Time `json:"last_prune"`
	// StreamID (analyzer role) is the last update stream entry the
	// snapshot holds: at restore the entries after it are re-read.
	StreamID string `json:"stream_id,omitempty"`
	// Sessions are the vantage points of session sources (Deps.Sessions)
	// whose session was up.
	Sessions []route.Peer `json:"sessions,omitempty"`
}

func encodeCheckpoint(h checkpointHeader, snap []byte) ([]byte, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 5+binary.MaxVarintLen64+len(hb)+len(snap))
	out = append(out, checkpointMagic[:]...)
	out = append(out, checkpointVersion)
	out = binary.AppendUvarint(out, uint64(len(hb)))
	out = append(out, hb...)
	return append(out, snap...), nil
}

var errCheckpoint = errors.New("invalid checkpoint")

func decodeCheckpoint(data []byte) (checkpointHeader, []byte, error) {
	var h checkpointHeader
	if len(data) < 5 || !bytes.Equal(data[:4], checkpointMagic[:]) {
		return h, nil, fmt.Errorf("%w: no magic", errCheckpoint)
	}
	if data[4] != checkpointVersion {
		return h, nil, fmt.Errorf("%w: version %d, want %d", errCheckpoint, data[4], checkpointVersion)
	}
	n, k := binary.Uvarint(data[5:])
	if k <= 0 || n > uint64(len(data)-5-k) {
		return h, nil, fmt.Errorf("%w: header length", errCheckpoint)
	}
	rest := data[5+k:]
	if err := json.Unmarshal(rest[:n], &h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", errCheckpoint, err)
	}
	return h, rest[n:], nil
}

type ckMetrics struct {
	saved    prometheus.Counter
	failures prometheus.Counter
	bytes    prometheus.Gauge
	seconds  prometheus.Gauge
	restores *prometheus.CounterVec
	// lastNanos is the wall time of the last checkpoint saved or
	// restored (0: none), read by the age gauge at scrape time.
	lastNanos atomic.Int64
}

func newCkMetrics(reg prometheus.Registerer, now func() time.Time) *ckMetrics {
	m := &ckMetrics{
		saved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_checkpoints_total", Help: "Analyzer checkpoints written to the store.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_checkpoint_failures_total", Help: "Analyzer checkpoints that could not be taken or written.",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_checkpoint_bytes", Help: "Size of the last analyzer checkpoint.",
		}),
		seconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_checkpoint_duration_seconds", Help: "Time the last checkpoint took (snapshot and write); the engine waits meanwhile.",
		}),
		restores: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routewatch_checkpoint_restores_total", Help: "Checkpoints found at start, by result: restored, stale (discarded), invalid (discarded), none, error.",
		}, []string{"result"}),
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "routewatch_checkpoint_age_seconds", Help: "Seconds since the last analyzer checkpoint was written (or the one restored at start was); -1 before any.",
	}, func() float64 {
		n := m.lastNanos.Load()
		if n == 0 {
			return -1
		}
		return now().Sub(time.Unix(0, n)).Seconds()
	})
	for _, r := range []string{"restored", "stale", "invalid", "none", "error"} {
		m.restores.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.saved, m.failures, m.bytes, m.seconds, m.restores, age)
	}
	return m
}

// RestoreResult says what Restore found.
type RestoreResult struct {
	// Restored is set when the analyzer now continues from the checkpoint.
	Restored bool
	// Stale is set when a checkpoint was found but discarded for its age.
	Stale bool
	// DataTime and Age (wall clock minus data time) of the checkpoint.
	DataTime time.Time
	Age      time.Duration
	// OpenEvents restored.
	OpenEvents int
	// StreamID is the last update stream entry the restored state holds
	// (analyzer role; "" when none).
	StreamID string
}

// Restore loads the last checkpoint from the store, before Run and
// before anything is fed. No checkpoint, a stale one (data time older
// than CheckpointMaxAge) or an unreadable one leaves the analyzer cold;
// each case is logged and counted. Only a store error is returned (the
// caller decides whether to start cold).
func (e *Engine) Restore(ctx context.Context) (RestoreResult, error) {
	var res RestoreResult
	cfg := e.ckCfg
	if e.d.Checkpoints == nil {
		return res, nil
	}
	data, at, err := e.d.Checkpoints.Checkpoint(ctx, CheckpointName)
	if errors.Is(err, store.ErrNotFound) {
		e.ck.restores.WithLabelValues("none").Inc()
		e.d.Logger.Info("checkpoint: none in the store; the analyzer starts cold")
		return res, nil
	}
	if err != nil {
		e.ck.restores.WithLabelValues("error").Inc()
		return res, fmt.Errorf("pipeline: read checkpoint: %w", err)
	}
	h, snap, err := decodeCheckpoint(data)
	var a *analyzer.Analyzer
	if err == nil {
		a, err = analyzer.Restore(e.d.Analyzer.Config(), snap)
	}
	if err != nil {
		e.ck.restores.WithLabelValues("invalid").Inc()
		e.d.Logger.Error("checkpoint: unreadable, discarded; the analyzer starts cold", "written", at, "bytes", len(data), "err", err)
		return res, nil
	}
	res.DataTime, res.Age = h.DataTime, e.now().Sub(h.DataTime)
	if cfg.CheckpointMaxAge > 0 && res.Age > cfg.CheckpointMaxAge {
		res.Stale = true
		e.ck.restores.WithLabelValues("stale").Inc()
		e.d.Logger.Warn("checkpoint: stale, discarded; the analyzer starts cold (analyzer.checkpoint_max_age)",
			"data_time", h.DataTime, "written", at, "age", res.Age.Round(time.Second), "max_age", cfg.CheckpointMaxAge)
		return res, nil
	}
	e.d.Analyzer = a
	e.lastData, e.lastPrune, e.lastWall = h.DataTime, h.LastPrune, e.now()
	e.streamID, res.StreamID = h.StreamID, h.StreamID
	e.restored = true
	e.resynced = make(map[route.Peer]struct{})
	e.restoreSessions(h.Sessions)
	for _, ev := range a.Events() {
		if ev.Open() {
			e.open[ev.ID] = ev.Kind
			res.OpenEvents++
		}
	}
	e.setOpenGauge()
	e.setHeld()
	res.Restored = true
	e.ck.restores.WithLabelValues("restored").Inc()
	e.ck.lastNanos.Store(at.UnixNano())
	st := a.Stats()
	e.d.Logger.Info("checkpoint: restored; the analyzer continues from it", "data_time", h.DataTime, "written", at,
		"age", res.Age.Round(time.Second), "open_events", res.OpenEvents, "routes", st.Slots, "peers", st.Peers, "stream_id", h.StreamID)
	return res, nil
}

// SetStreamBase (analyzer role, before Run) gives the update stream
// position the analyzer starts from when its state holds no entry yet (a
// cold start, or a checkpoint without one): checkpoints record it until
// the first entry is applied, so a restart from such a checkpoint re-reads
// what came after it.
func (e *Engine) SetStreamBase(id string) {
	if e.streamID == "" {
		e.streamBase = id
	}
}

// applied reports whether stream entry id is already in the analyzer's
// state: the group delivered it again (its handling failed to be stored,
// or a crash left it pending) or the restored checkpoint holds it.
func (e *Engine) applied(id string) bool {
	last := e.streamID
	if last == "" {
		last = e.streamBase
	}
	if id == "" || last == "" || store.CompareStreamIDs(id, last) > 0 {
		return false
	}
	e.d.Logger.Debug("engine: stream entry already applied; skipped", "id", id, "last", last)
	return true
}

// dueCheckpoint writes a checkpoint soon after an event opened or
// resolved (at most one a second), so that a crash right after does not
// restore a state that never saw it: an event stored open that the
// restored analyzer does not know would stay open, and one it still
// holds open after it was resolved would be resolved again. Not while a
// replay's clock holds (its events come by the thousand).
func (e *Engine) dueCheckpoint(ctx context.Context, cfg Config) {
	if !e.ckDue || cfg.DataClock || held(cfg.HoldClock) || e.d.Checkpoints == nil || e.ckCfg.CheckpointInterval < 0 {
		return
	}
	if e.now().Sub(e.lastCk) < time.Second {
		return // the next tick
	}
	if err := e.checkpoint(ctx); err != nil {
		e.d.Logger.Debug("checkpoint after an event change failed; retried", "err", err)
	}
}

// maybeCheckpoint writes a checkpoint when the interval has passed.
func (e *Engine) maybeCheckpoint(ctx context.Context) {
	iv := e.ckCfg.CheckpointInterval
	if e.d.Checkpoints == nil || iv < 0 || e.now().Sub(e.lastCk) < iv {
		return
	}
	if err := e.checkpoint(ctx); err != nil {
		e.d.Logger.Error("checkpoint failed; retried at the next interval", "err", err)
	}
}

// checkpoint snapshots the analyzer with the engine's bookkeeping and
// writes it to the store.
func (e *Engine) checkpoint(ctx context.Context) error {
	if e.d.Checkpoints == nil || e.ckCfg.CheckpointInterval < 0 {
		return nil
	}
	start := e.now()
	e.lastCk = start
	snap, err := e.d.Analyzer.Snapshot()
	if err == nil {
		pos := e.streamID
		if pos == "" {
			pos = e.streamBase
		}
		snap, err = encodeCheckpoint(checkpointHeader{DataTime: e.dataTime(), LastPrune: e.lastPrune, StreamID: pos,
			Sessions: e.sessionList()}, snap)
	}
	if err == nil {
		err = e.d.Checkpoints.PutCheckpoint(ctx, CheckpointName, snap, start)
	}
	if err != nil {
		e.ck.failures.Inc()
		return fmt.Errorf("pipeline: checkpoint: %w", err)
	}
	e.ckDue = false
	e.ck.saved.Inc()
	e.ck.bytes.Set(float64(len(snap)))
	e.ck.seconds.Set(e.now().Sub(start).Seconds())
	e.ck.lastNanos.Store(start.UnixNano())
	return nil
}

// dataTime is the data time a checkpoint records: the last record's, or
// extrapolated while the live clock runs on without data.
func (e *Engine) dataTime() time.Time {
	if e.lastData.IsZero() || e.dataClock {
		return e.lastData
	}
	if t := e.dataNow(); t.After(e.lastData) {
		return t
	}
	return e.lastData
}
