package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/term"

	"routewatch/analyzer"
	"routewatch/archive"
	"routewatch/pipeline"
	"routewatch/ranges"
	"routewatch/route"
)

// wantsWindow reports whether replay's arguments ask for archives by
// collector and time window rather than files.
func wantsWindow(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "collector" {
			return true
		}
	}
	return false
}

// baseURLFlag collects --base-url NAME=URL.
type baseURLFlag map[string]string

func (b baseURLFlag) String() string { return fmt.Sprint(map[string]string(b)) }
func (b baseURLFlag) Set(v string) error {
	name, u, ok := strings.Cut(v, "=")
	if !ok || name == "" || u == "" {
		return fmt.Errorf("want NAME=URL, got %q", v)
	}
	if _, dup := b[name]; dup {
		return fmt.Errorf("base URL for %s given twice", name)
	}
	b[name] = u
	return nil
}

// windowArgs is the parsed command line of `replay --collector`.
type windowArgs struct {
	collectors     []string
	from, to       time.Time
	baseURLs       baseURLFlag
	cache          string
	specs          multiFlag
	format, config string
	quiet          bool
}

func parseWindowArgs(args []string, io stdio) (windowArgs, int) {
	w := windowArgs{baseURLs: baseURLFlag{}}
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.err)
	collectors := fs.String("collector", "", "collectors, comma separated: rrc00…rrc26, route-views2, route-views.linx, …")
	from := fs.String("from", "", "window start, RFC 3339 (the RIB dump at or before it is read first)")
	to := fs.String("to", "", "window end, RFC 3339")
	fs.Var(w.baseURLs, "base-url", "`NAME=URL`: archive root of a collector (mirrors, private collectors; repeatable)")
	fs.StringVar(&w.cache, "cache", "", "`DIR` keeping downloaded archive files for later runs (default: a temporary directory)")
	fs.Var(&w.specs, "ranges", "provider ranges: FILE, URL or NAME=FILE (repeatable; default: origin-ASN watch list only)")
	fs.StringVar(&w.format, "format", "table", "output: table or json (one event per line)")
	fs.StringVar(&w.config, "config", "", "serve config `FILE`: its analyzer and ranges sections are used")
	fs.BoolVar(&w.quiet, "q", false, "no progress and no summary on stderr")
	fs.Usage = func() {
		fmt.Fprint(io.err, "usage: routewatch replay [--ranges SPEC]... [--format table|json] --collector NAME[,NAME…] --from T --to T\n"+
			"                         [--base-url NAME=URL]... [--cache DIR]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return w, exitOK
		}
		return w, exitUsage
	}
	fail := func(format string, a ...any) (windowArgs, int) {
		fmt.Fprintf(io.err, "routewatch replay: "+format+"\n", a...)
		return w, exitUsage
	}
	if fs.NArg() > 0 {
		return fail("--collector reads archives by window: give no files (%s)", fs.Arg(0))
	}
	for _, c := range strings.Split(*collectors, ",") {
		if c = strings.TrimSpace(c); c != "" {
			w.collectors = append(w.collectors, c)
		}
	}
	if len(w.collectors) == 0 {
		return fail("--collector: no collector given")
	}
	var err error
	if w.from, err = time.Parse(time.RFC3339, *from); err != nil {
		return fail("--from %q: want an RFC 3339 time (2021-12-15T15:00:00Z)", *from)
	}
	if w.to, err = time.Parse(time.RFC3339, *to); err != nil {
		return fail("--to %q: want an RFC 3339 time (2021-12-15T16:30:00Z)", *to)
	}
	if !w.to.After(w.from) {
		return fail("--to %s is not after --from %s", *to, *from)
	}
	if w.format != "table" && w.format != "json" {
		return fail("--format %q: want table or json", w.format)
	}
	return w, -1
}

// cmdReplayWindow implements `routewatch replay --collector NAME[,NAME…]
// --from T --to T [--base-url NAME=URL]... [--cache DIR]`: the archives
// of the collectors merged by record time, through the same tagging and
// analyzer as a replay of files. Missing update files are reported and
// skipped (exit 0); a missing RIB dump fails the run; truncated or failed
// files are reported and the events printed, with exit 1.
func cmdReplayWindow(ctx context.Context, args []string, io stdio) int {
	w, code := parseWindowArgs(args, io)
	if code >= 0 {
		return code
	}
	cfg := replayConfig{Analyzer: analyzer.DefaultConfig()}
	if w.config != "" {
		var err error
		if cfg, err = loadReplayConfig(w.config); err != nil {
			fmt.Fprintf(io.err, "routewatch %v\n", err)
			return exitUsage
		}
	}
	set, err := loadReplayRanges(ctx, cfg, w.specs, io, w.quiet)
	if err != nil {
		fmt.Fprintf(io.err, "routewatch replay: %v\n", err)
		return exitFail
	}
	acfg := archive.Config{Collectors: w.collectors, BaseURLs: w.baseURLs, CacheDir: w.cache, From: w.from, To: w.to}
	if f, ok := io.err.(*os.File); ok && !w.quiet && term.IsTerminal(int(f.Fd())) {
		acfg.Progress = io.err
	}
	level := slog.LevelWarn
	if w.quiet {
		level = slog.LevelError
	}
	logger := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: level}))
	src, err := archive.New(acfg, logger, nil)
	if err != nil {
		fmt.Fprintf(io.err, "routewatch replay: %v\n", err)
		return exitUsage
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // as in a replay of files
	}
	started := time.Now()
	an := analyzer.New(cfg.Analyzer)
	events, err := runWindow(ctx, src, an, set, logger)
	code = exitOK
	if err != nil {
		fmt.Fprintf(io.err, "routewatch replay: %v\n", err)
		code = exitFail
	}
	st := src.Stats()
	if code == exitOK && (st.Truncated > 0 || st.Failed > 0) {
		code = exitFail
	}
	out := bufio.NewWriter(io.out)
	switch {
	case w.format == "json":
		err = writeEventsJSON(out, events)
	case len(events) > 0 || code == exitOK:
		err = writeEventsTable(out, events)
	default:
		err = nil // after a failed run, "no events" would read as a verdict
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		fmt.Fprintf(io.err, "routewatch replay: write: %v\n", err)
		code = exitFail
	}
	if !w.quiet {
		fmt.Fprintln(io.err, st)
		kinds := map[route.EventKind]int{}
		for _, e := range events {
			kinds[e.Kind]++
		}
		fmt.Fprintf(io.err, "replay: %d routes (%d watched); %d events (%d path_shift, %d withdrawal, %d peer_down) in %.2fs\n",
			st.Routes, an.Stats().Watched, len(events), kinds[route.KindPathShift], kinds[route.KindWithdrawal], kinds[route.KindPeerDown],
			time.Since(started).Seconds())
	}
	return code
}

// runWindow runs the archive source through the pipeline serve uses, with
// no store (as a replay of files does), and returns every event in its
// final state, ordered by start.
func runWindow(ctx context.Context, src *archive.Archive, an *analyzer.Analyzer, tag pipeline.Tagger, logger *slog.Logger) ([]route.Event, error) {
	log := &eventLog{byID: map[string]route.Event{}}
	eng := pipeline.New(pipeline.Deps{Tagger: func() pipeline.Tagger { return tag }, Analyzer: an, Events: log, Logger: logger})
	in, jobs := make(chan route.Batch, 16), make(chan pipeline.Job)
	done := make(chan error, 1)
	// The engine outlives ctx, so Ctrl-C prints what was found so far.
	go func() { done <- eng.Run(context.WithoutCancel(ctx), in, jobs, pipeline.Config{DataClock: true}) }()
	err := src.Run(ctx, in)
	j := pipeline.Job{End: true, At: src.Stats().Last, Done: make(chan error, 1)}
	jobs <- j
	<-j.Done
	close(in)
	if eerr := <-done; err == nil {
		err = eerr
	}
	return log.events(), err
}

// loadReplayRanges builds the range set of a replay: config specs and
// --ranges, or the providers' origin ASNs alone.
func loadReplayRanges(ctx context.Context, cfg replayConfig, specs []string, io stdio, quiet bool) (*ranges.Set, error) {
	all := append(append([]string{}, cfg.Ranges...), specs...)
	if len(all) > 0 {
		return ranges.Load(ctx, all, ranges.Options{WatchASNs: cfg.watchASNs})
	}
	watch := cfg.watchASNs
	if watch == nil {
		watch = ranges.DefaultWatchASNs()
	}
	if !quiet {
		fmt.Fprintln(io.err, "routewatch replay: no --ranges given: watching the providers' origin ASNs only")
	}
	return ranges.Build(nil, watch), nil
}
