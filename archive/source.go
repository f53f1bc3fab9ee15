package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/mrtdata"
	"routewatch/route"
)

// Config says which archives to read. The zero values of the optional
// fields are sensible defaults.
type Config struct {
	// Collectors by name (rrc00, route-views2, route-views.linx, …).
	Collectors []string
	// BaseURLs replaces the archive root of a collector (see
	// ResolveCollector).
	BaseURLs map[string]string
	// CacheDir keeps downloaded files for later runs; empty: a temporary
	// directory, removed when the run ends (files are deleted as soon as
	// they are read).
	CacheDir string
	// From and To are the window Run reads: the RIB dump at or before
	// From, then the update files up to To.
	From, To time.Time
	// RIBFallback is how many earlier RIB dumps are tried when the one
	// at or before From is missing (0: none; the run fails).
	RIBFallback int
	// Prefetch is how many files per collector are downloaded ahead of
	// the one being decoded (default 2).
	Prefetch int
	// Client is the HTTP client (default: a client with a 30 s header
	// timeout, a read that waits longer than StallTimeout failing, and no
	// overall timeout, as RIB dumps are large).
	Client *http.Client
	// StallTimeout bounds the wait for the next bytes of a response with
	// the default Client (default 1 min): a stalled download fails and is
	// resumed instead of hanging. Ignored when Client is set.
	StallTimeout time.Duration
	// Progress, when set, gets a progress bar over the whole window
	// (pass stderr when it is a terminal).
	Progress io.Writer
	// BatchSize bounds the updates per route.Batch (default 2048).
	BatchSize int
	// PeerCollector sets route.Peer.Collector to the collector's name,
	// making the same neighbor at two collectors two vantage points (as
	// RIS Live reports them). Off for replays: their peers are what the
	// MRT files say.
	PeerCollector bool
}

// Archive reads RIS and RouteViews archives by collector and time window
// and produces route.Batch values: a source for the pipeline (Run) and a
// bootstrap for live feeds (Bootstrap). Several collectors are merged by
// record time into one stream.
type Archive struct {
	cfg        Config
	collectors []Collector
	log        *slog.Logger
	metrics    *metrics

	mu    sync.Mutex
	stats Stats
}

// New checks cfg and returns an Archive. reg may be nil (no metrics).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Archive, error) {
	if len(cfg.Collectors) == 0 {
		return nil, errors.New("archive: no collector given")
	}
	seen := map[string]bool{}
	var cs []Collector
	for _, name := range cfg.Collectors {
		if seen[name] {
			return nil, fmt.Errorf("archive: collector %s given twice", name)
		}
		seen[name] = true
		c, err := ResolveCollector(name, cfg.BaseURLs[name])
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	for name := range cfg.BaseURLs {
		if !seen[name] {
			return nil, fmt.Errorf("archive: base URL for %s, which is not among the collectors", name)
		}
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 2
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 2048
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = defaultClient(cfg.StallTimeout)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Archive{cfg: cfg, collectors: cs, log: log, metrics: m}, nil
}

// Collectors returns the resolved collectors.
func (a *Archive) Collectors() []Collector { return append([]Collector(nil), a.collectors...) }

// Run reads the configured window (Config.From, Config.To) into out.
func (a *Archive) Run(ctx context.Context, out chan<- route.Batch) error {
	return a.Bootstrap(ctx, a.cfg.From, a.cfg.To, out)
}

// Bootstrap reads, for every collector, the RIB dump at or before from
// and the update files from that dump up to to, merged by record time,
// into out: the state of the collectors' peers at to. It returns nil when
// every collector's RIB was read (missing update files and truncated
// files are reported in Stats and the log, not as an error), the first
// fatal error otherwise (a missing RIB, a failed download of a RIB, ctx).
// It can be called again (e.g. after a reconnect of a live feed); Stats
// then describe the last call.
func (a *Archive) Bootstrap(ctx context.Context, from, to time.Time, out chan<- route.Batch) error {
	if !to.After(from) && !to.Equal(from) {
		return fmt.Errorf("archive: window ends (%s) before it starts (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if to.Equal(from) {
		to = to.Add(time.Second)
	}
	dir := a.cfg.CacheDir
	temp := dir == ""
	if temp {
		var err error
		if dir, err = os.MkdirTemp("", "routewatch-archive-"); err != nil {
			return fmt.Errorf("archive: temporary directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	a.mu.Lock()
	a.stats = Stats{Collectors: len(a.collectors), started: time.Now()}
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prog := newProgress(a.cfg.Progress, a.collectors, from, to)
	defer prog.finish()
	fetch := &fetcher{client: a.cfg.Client, dir: dir, log: a.log, retries: 3, progress: func(n int64) {
		a.metrics.bytes.Add(float64(n))
		prog.bytes(n)
	}}
	streams := make([]mrtdata.RecordStream, len(a.collectors))
	open := make([]*collectorStream, len(a.collectors))
	defer func() {
		for _, s := range open {
			s.close()
		}
	}()
	var wg sync.WaitGroup
	for i, c := range a.collectors {
		files := make(chan fetched, a.cfg.Prefetch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.download(ctx, fetch, c, from, to, files)
		}()
		open[i] = &collectorStream{a: a, c: c, files: files, to: to, temp: temp, prog: prog, ctx: ctx}
		streams[i] = open[i]
	}
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: stops the downloads on early return
	return a.merge(ctx, streams, out, prog)
}

// merge runs the k-way merge and batches the records into out.
func (a *Archive) merge(ctx context.Context, streams []mrtdata.RecordStream, out chan<- route.Batch, prog *progress) error {
	m := mrtdata.NewMerger(streams...)
	var b route.Batch
	var last time.Time
	defer func() { a.count(func(s *Stats) { s.Last = last }) }()
	send := func() error {
		if b.Empty() {
			return nil
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		b = route.Batch{}
		return nil
	}
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, i, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, mrtdata.ErrCorrupt) {
				a.count(func(s *Stats) { s.Corrupt++ })
				a.metrics.corrupt.Inc()
				a.logLimited("archive: corrupt record", "collector", a.collectors[i].Name, "err", err)
				continue
			}
			var fatal *fatalError
			if errors.As(err, &fatal) {
				return fatal.err
			}
			return err
		}
		if rec.Local {
			continue // what the collector sent, not what it learned
		}
		prog.at(rec.Time)
		if rec.Time.After(last) {
			last = rec.Time
		}
		name := a.collectors[i].Name
		if len(rec.Updates) > 0 && len(b.States) > 0 {
			// A batch's updates come before its states.
			if err := send(); err != nil {
				return err
			}
		}
		for _, u := range rec.Updates {
			u.Source = name
			if a.cfg.PeerCollector {
				u.Peer.Collector = name
			}
			b.Updates = append(b.Updates, u)
		}
		for _, s := range rec.States {
			s.Source = name
			if a.cfg.PeerCollector {
				s.Peer.Collector = name
			}
			b.States = append(b.States, s)
		}
		a.count(func(s *Stats) {
			s.Records++
			s.Routes += int64(len(rec.Updates))
			s.States += int64(len(rec.States))
		})
		if len(b.Updates) >= a.cfg.BatchSize {
			if err := send(); err != nil {
				return err
			}
		}
	}
	return send()
}

// logLimited logs the first few corrupt records; Stats counts them all.
func (a *Archive) logLimited(msg string, args ...any) {
	a.mu.Lock()
	n := a.stats.Corrupt
	a.mu.Unlock()
	if n <= 20 {
		a.log.Warn(msg, args...)
	}
}

func (a *Archive) count(f func(*Stats)) {
	a.mu.Lock()
	f(&a.stats)
	a.mu.Unlock()
}

// Stats returns what the last (or running) Run or Bootstrap has seen.
func (a *Archive) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Problems = append([]string(nil), a.stats.Problems...)
	return s
}

// fetched is one file of a collector, on disk or failed.
type fetched struct {
	file File
	res  fetchResult
	err  error
}

// fatalError ends the whole run (a collector's RIB is missing).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// download fetches c's RIB (falling back to earlier dumps when allowed),
// then its update files from that dump to to, in order, into files. It
// runs ahead of the decoder by the channel's capacity.
func (a *Archive) download(ctx context.Context, d *fetcher, c Collector, from, to time.Time, files chan<- fetched) {
	defer close(files)
	send := func(f fetched) bool {
		select {
		case files <- f:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var rib fetched
	for back := 0; back <= a.cfg.RIBFallback; back++ {
		f := c.RIBAtOrBefore(from, back)
		res, err := d.fetch(ctx, f)
		rib = fetched{file: f, res: res, err: err}
		if err == nil || !errors.Is(err, ErrMissing) || back == a.cfg.RIBFallback {
			break
		}
		a.problem(fmt.Sprintf("%s: RIB %s missing, trying the one before", c.Name, f.URL))
		a.count(func(s *Stats) { s.Missing++ })
		a.metrics.missing.Inc()
	}
	if !send(rib) || rib.err != nil {
		return
	}
	for _, f := range c.Updates(rib.file.Start, to) {
		res, err := d.fetch(ctx, f)
		if ctx.Err() != nil {
			return
		}
		if !send(fetched{file: f, res: res, err: err}) {
			return
		}
	}
}

func (a *Archive) problem(p string) {
	a.log.Warn("archive: " + p)
	a.mu.Lock()
	if len(a.stats.Problems) < 100 {
		a.stats.Problems = append(a.stats.Problems, p)
	}
	a.mu.Unlock()
}

// collectorStream reads one collector's files in order as one record
// stream (a mrtdata.RecordStream for the merge), skipping missing update
// files and going on after a truncated one, both reported.
type collectorStream struct {
	a     *Archive
	c     Collector
	ctx   context.Context
	files <-chan fetched
	to    time.Time
	temp  bool
	prog  *progress

	cur     *mrtdata.Reader
	curFile fetched
	closer  io.Closer
	good    int64
}

func (s *collectorStream) Next() (mrtdata.Record, error) {
	for {
		if s.cur == nil {
			var f fetched
			var ok bool
			select {
			case f, ok = <-s.files:
			case <-s.ctx.Done():
				return mrtdata.Record{}, s.ctx.Err()
			}
			if !ok {
				return mrtdata.Record{}, io.EOF
			}
			if err := s.open(f); err != nil {
				return mrtdata.Record{}, err
			}
			continue
		}
		rec, err := s.cur.Next()
		switch {
		case err == io.EOF:
			s.endFile(nil)
			continue
		case errors.Is(err, mrtdata.ErrCorrupt):
			return rec, err
		case err != nil:
			s.endFile(err)
			continue
		}
		s.good++
		if !rec.Time.Before(s.to) {
			continue // past the window (the last file runs on)
		}
		return rec, nil
	}
}

// open starts reading f. A RIB that could not be had ends the run.
func (s *collectorStream) open(f fetched) error {
	a := s.a
	if f.err != nil {
		missing := errors.Is(f.err, ErrMissing)
		if f.file.Kind == KindRIB {
			a.count(func(st *Stats) { st.Missing++ })
			a.metrics.missing.Inc()
			return &fatalError{fmt.Errorf("archive: %s: no RIB dump at or before the window: %w", s.c.Name, f.err)}
		}
		if missing {
			a.count(func(st *Stats) { st.Missing++ })
			a.metrics.missing.Inc()
			a.problem(fmt.Sprintf("%s: missing %s", s.c.Name, f.file.URL))
		} else {
			a.count(func(st *Stats) { st.Failed++ })
			a.metrics.failed.Inc()
			a.problem(fmt.Sprintf("%s: %v", s.c.Name, f.err))
		}
		s.prog.file()
		return nil
	}
	fh, err := os.Open(f.res.Path)
	if err == nil {
		var rc io.ReadCloser
		if rc, err = mrtdata.Decompress(fh); err == nil {
			s.cur, s.closer, s.curFile, s.good = mrtdata.NewReader(rc, f.file.URL), rc, f, 0
			a.count(func(st *Stats) {
				st.Files++
				st.Bytes += fileSize(f.res.Path)
				if f.res.Cached {
					st.Cached++
				}
			})
			a.metrics.files.Inc()
			return nil
		}
	}
	err = fmt.Errorf("archive: %s: %w", f.file.URL, err)
	if f.file.Kind == KindRIB {
		return &fatalError{err}
	}
	a.count(func(st *Stats) { st.Failed++ })
	a.problem(err.Error())
	return nil
}

// endFile closes the current file; err is why it ended early.
func (s *collectorStream) endFile(err error) {
	a := s.a
	f := s.curFile
	if err != nil {
		if s.good == 0 && errors.Is(err, mrtdata.ErrTruncated) {
			err = fmt.Errorf("%w (no complete record: empty or not MRT?)", err)
		}
		a.count(func(st *Stats) { st.Truncated++ })
		a.metrics.truncated.Inc()
		a.problem(fmt.Sprintf("%s: %s ends early after %d records: %v", s.c.Name, f.file.URL, s.good, err))
	}
	s.closer.Close()
	if s.temp {
		os.Remove(f.res.Path)
	}
	s.cur, s.closer = nil, nil
	s.prog.file()
}

// close closes the file being read, if any (a run that ended early).
func (s *collectorStream) close() {
	if s.closer != nil {
		s.closer.Close()
		s.cur, s.closer = nil, nil
	}
}

// Stats counts what a run has read.
type Stats struct {
	Collectors int
	Files      int   // files read (Cached of them from the cache)
	Cached     int   // files found in the cache
	Bytes      int64 // compressed bytes of the files read
	Missing    int   // files the server does not have
	Failed     int   // downloads that failed otherwise
	Truncated  int   // files that end inside a record or compressed block
	Records    int64
	Routes     int64
	States     int64
	Corrupt    int64
	Last       time.Time // time of the latest record read
	// Problems lists the first 100 missing, failed and truncated files.
	Problems []string
	started  time.Time
}

// Complete reports whether every file of the window was read completely.
func (s Stats) Complete() bool { return s.Missing == 0 && s.Failed == 0 && s.Truncated == 0 }

// String is the summary sentence printed at the end of a run.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "archive: %d collectors, %d files read (%s, %d from the cache), %d missing, %d failed, %d truncated; "+
		"%d records, %d routes, %d state changes, %d corrupt records",
		s.Collectors, s.Files, humanBytes(s.Bytes), s.Cached, s.Missing, s.Failed, s.Truncated,
		s.Records, s.Routes, s.States, s.Corrupt)
	if !s.started.IsZero() {
		fmt.Fprintf(&b, " in %.1fs", time.Since(s.started).Seconds())
	}
	return b.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
