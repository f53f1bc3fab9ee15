package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"routewatch/analyzer"
	"routewatch/mrtdata"
	"routewatch/pipeline"
	"routewatch/ranges"
	"routewatch/route"
	"routewatch/rpki"
	"routewatch/service"
)

// replayConfig is what `replay --config` uses of a serve config file
// (the same file `serve --config` takes, read by the same loader): the
// analyzer thresholds, the ranges section and the rpki section.
type replayConfig struct {
	Analyzer  analyzer.Config
	Ranges    []string
	watchASNs map[string][]uint32 // nil: the defaults
	RPKI      rpki.Config
}

func loadReplayConfig(path string) (replayConfig, error) {
	full, err := service.LoadFile(path, nil)
	if err != nil {
		return replayConfig{}, fmt.Errorf("replay: config: %w", err)
	}
	return replayConfig{Analyzer: full.Analyzer.Config, Ranges: full.Ranges.Specs, watchASNs: full.Ranges.WatchASNs, RPKI: full.RPKI}, nil
}

// cmdReplay implements `routewatch replay [--ranges SPEC]... [--format
// table|json] [--config FILE] FILE|URL...`.
func cmdReplay(ctx context.Context, args []string, io stdio) int {
	if wantsWindow(args) {
		return cmdReplayWindow(ctx, args, io) // window.go
	}
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	var specs multiFlag
	fs.Var(&specs, "ranges", "provider ranges: FILE, URL or NAME=FILE (repeatable; default: origin-ASN watch list only)")
	format := fs.String("format", "table", "output: table or json (one event per line)")
	cfgPath := fs.String("config", "", "serve config `FILE`: its analyzer, ranges and rpki sections are used")
	quiet := fs.Bool("q", false, "no progress and no summary on stderr")
	sortIn := fs.Bool("sort", false, "merge the inputs by record time (default: read them in the order given, oldest first)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: routewatch replay [--ranges SPEC]... [--format table|json] [--config FILE] [--sort] FILE|URL|- ...\n"+
			"       routewatch replay [--ranges SPEC]... [--format table|json] --collector NAME[,NAME…] --from T --to T [--base-url NAME=URL]... [--cache DIR]\n")
		fs.PrintDefaults()
	}
	if code, ok := parseArgs(fs, args, io); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(io.err, "routewatch replay: --format %q: want table or json\n", *format)
		return exitUsage
	}
	cfg := replayConfig{Analyzer: analyzer.DefaultConfig()}
	if *cfgPath != "" {
		var err error
		if cfg, err = loadReplayConfig(*cfgPath); err != nil {
			fmt.Fprintf(io.err, "routewatch %v\n", err)
			return exitUsage
		}
	}
	// Local inputs are checked before any work: a typo should not cost a
	// long replay.
	for _, name := range fs.Args() {
		if name == "-" || strings.Contains(name, "://") {
			continue
		}
		if _, err := os.Stat(name); err != nil {
			fmt.Fprintf(io.err, "routewatch replay: input %s: %v\n", name, err)
			return exitFail
		}
	}
	all := append(append([]string{}, cfg.Ranges...), specs...)
	var set *ranges.Set
	if len(all) == 0 {
		watch := cfg.watchASNs
		if watch == nil {
			watch = ranges.DefaultWatchASNs()
		}
		set = ranges.Build(nil, watch)
		if !*quiet {
			fmt.Fprintln(io.err, "routewatch replay: no --ranges given: watching the providers' origin ASNs only")
		}
	} else {
		var err error
		if set, err = ranges.Load(ctx, all, ranges.Options{WatchASNs: cfg.watchASNs}); err != nil {
			fmt.Fprintf(io.err, "routewatch replay: %v\n", err)
			return exitFail
		}
	}
	if os.Getenv("GOGC") == "" {
		// A replay allocates attributes for every route and keeps only the
		// watched ones: collecting less often saves a third of the CPU for
		// a bounded amount of extra memory.
		debug.SetGCPercent(400)
	}
	// VRPs are read once: a replay validates every watched route with the
	// same table.
	vrps := rpki.NewRefresher(cfg.RPKI, nil, slog.New(slog.DiscardHandler), nil)
	if err := vrps.Refresh(ctx); err != nil {
		fmt.Fprintf(io.err, "routewatch replay: %v\n", err)
		return exitFail
	}
	// The configured origin ASNs are the providers' legitimate origins
	// (nil: the analyzer's defaults).
	cfg.Analyzer.ProviderASNs = cfg.watchASNs
	r := newReplayer(cfg.Analyzer, set, io, *quiet)
	r.sort = *sortIn
	if t := vrps.Table(); t != nil {
		r.val = t
	}
	events, err := r.run(ctx, fs.Args())
	code := exitOK
	if err != nil {
		fmt.Fprintf(io.err, "routewatch replay: %v\n", err)
		code = exitFail
	}
	out := bufio.NewWriter(io.out)
	switch {
	case *format == "json":
		err = writeEventsJSON(out, events)
	case len(events) > 0 || code == exitOK:
		// After a failed input, "no events" would read as a verdict.
		err = writeEventsTable(out, events)
	default:
		err = nil
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		fmt.Fprintf(io.err, "routewatch replay: write: %v\n", err)
		code = exitFail
	}
	if !*quiet {
		fmt.Fprintln(io.err, r.summary(events))
	}
	return code
}

// replayer runs MRT inputs, in order, through the pipeline serve uses
// (mrtdata.Feed → pipeline.Engine), with no store: the events are kept
// in memory and printed at the end.
type replayer struct {
	an      *analyzer.Analyzer
	tag     pipeline.Tagger
	val     pipeline.Validator // nil: no VRPs
	io      stdio
	quiet   bool
	started time.Time
	feed    *mrtdata.Feed
	errs    recordErrors
	sort    bool // merge the inputs by record time (--sort)
}

func newReplayer(cfg analyzer.Config, tag pipeline.Tagger, io stdio, quiet bool) *replayer {
	return &replayer{an: analyzer.New(cfg), tag: tag, io: io, quiet: quiet, started: time.Now(),
		errs: recordErrors{w: io.err, prefix: "routewatch replay"}}
}

// run replays names and returns every event in its final state, ordered
// by start, and the first input error.
func (r *replayer) run(ctx context.Context, names []string) ([]route.Event, error) {
	log := &eventLog{byID: map[string]route.Event{}}
	reuse := make(chan route.Batch, 32)
	eng := pipeline.New(pipeline.Deps{Tagger: func() pipeline.Tagger { return r.tag }, Validator: func() pipeline.Validator { return r.val },
		Analyzer: r.an, Events: log,
		Recycle: reuse, Logger: slog.New(slog.NewTextHandler(r.io.err, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	// Sorted inputs are read at once: no progress bar per file.
	r.feed = &mrtdata.Feed{Inputs: names, Stdin: r.io.in, Open: inputOpener(r.io, r.quiet || r.sort), Corrupt: r.errs.report, Reuse: reuse, Sort: r.sort}
	if !r.quiet {
		r.feed.Note = func(note string) { fmt.Fprintln(r.io.err, "routewatch replay: note: "+note) }
	}
	in, jobs := make(chan route.Batch, 16), make(chan pipeline.Job)
	done := make(chan error, 1)
	// The engine stops when in is closed, after the last input settled,
	// also when ctx ends (Ctrl-C prints what was found so far).
	go func() { done <- eng.Run(context.WithoutCancel(ctx), in, jobs, pipeline.Config{DataClock: true}) }()
	err := r.feed.Run(ctx, in)
	r.errs.finish()
	j := pipeline.Job{End: true, At: r.feed.Stats().Last, Done: make(chan error, 1)}
	jobs <- j
	<-j.Done
	close(in)
	if eerr := <-done; err == nil {
		err = eerr
	}
	return log.events(), err
}

// eventLog keeps the last state of every event (the pipeline's event
// writer when replay runs without a store).
type eventLog struct {
	byID map[string]route.Event
}

func (l *eventLog) PutEvents(_ context.Context, evs []route.Event) error {
	for _, e := range evs {
		l.byID[e.ID] = e
	}
	return nil
}

// events returns the events ordered by start, then id.
func (l *eventLog) events() []route.Event {
	out := slices.Collect(maps.Values(l.byID))
	slices.SortFunc(out, func(x, y route.Event) int {
		if c := x.Start.Compare(y.Start); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

func (r *replayer) summary(events []route.Event) string {
	st := r.an.Stats()
	fs := r.feed.Stats()
	kinds := map[route.EventKind]int{}
	for _, e := range events {
		kinds[e.Kind]++
	}
	// Every kind, in a fixed order: the three always, the others when
	// they occurred.
	parts := []string{}
	for _, k := range []route.EventKind{route.KindPathShift, route.KindWithdrawal, route.KindPeerDown,
		route.KindOriginChange, route.KindMoreSpecific, route.KindPrependChange, route.KindCommunityChange} {
		if n := kinds[k]; n > 0 || k == route.KindPathShift || k == route.KindWithdrawal || k == route.KindPeerDown {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
		delete(kinds, k)
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
	}
	return fmt.Sprintf("replay: %d files, %d records, %d routes (%d watched), %d state changes, %d corrupt records; "+
		"%d events (%s) in %.2fs",
		fs.Inputs, fs.Records, fs.Routes, st.Watched, fs.States, fs.Corrupt,
		len(events), strings.Join(parts, ", "), time.Since(r.started).Seconds())
}

// writeEventsJSON writes one event per line (the event JSON contract).
func writeEventsJSON(w io.Writer, events []route.Event) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range events {
		if err := enc.Encode(&events[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeEventsTable writes a table for people.
func writeEventsTable(w io.Writer, events []route.Event) error {
	if len(events) == 0 {
		_, err := fmt.Fprintln(w, "no events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tGROUP\tSTART (UTC)\tEND\tDURATION\tPREFIXES\tPEERS\tTOP TRANSITION")
	for _, e := range events {
		group := e.Provider
		if e.Region != "" {
			group += "/" + e.Region
		}
		if e.Kind == route.KindPeerDown && len(e.AffectedPeers) == 1 {
			p := e.AffectedPeers[0]
			group = fmt.Sprintf("peer %s AS%d", p.Addr, p.ASN)
		}
		end, dur := "open", "-"
		if e.End != nil {
			end = e.End.UTC().Format("15:04:05")
			if y, m, d := e.End.UTC().Date(); y != e.Start.UTC().Year() || m != e.Start.UTC().Month() || d != e.Start.UTC().Day() {
				end = e.End.UTC().Format("2006-01-02 15:04:05")
			}
			dur = e.Duration().String()
		}
		top := "-"
		if len(e.Transitions) > 0 {
			t := e.Transitions[0]
			top = fmt.Sprintf("%s (%d)", analyzer.TransitionString(t), t.Prefixes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", e.Kind, group, e.Start.Format("2006-01-02 15:04:05"), end, dur, e.Prefixes, e.Peers, top)
	}
	return tw.Flush()
}
