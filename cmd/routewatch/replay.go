package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.yaml.in/yaml/v3"

	"routewatch/analyzer"
	"routewatch/mrtdata"
	"routewatch/ranges"
	"routewatch/route"
	"routewatch/service"
)

// replayConfig is the file given to `replay --config`: the analyzer
// thresholds and the range sources, strictly decoded.
type replayConfig struct {
	Analyzer analyzer.Config `yaml:"analyzer"`
	// Ranges is a list of specs (FILE, URL, NAME=FILE); a mapping with
	// `specs:` (the serve config's ranges section) is accepted too.
	Ranges replayRanges `yaml:"ranges"`
	// watchASNs comes from a serve config's ranges.watch_asns (nil: the
	// defaults).
	watchASNs map[string][]uint32
}

type replayRanges []string

// UnmarshalYAML accepts a list of specs or a mapping with a specs list.
func (r *replayRanges) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		var specs []string
		if err := n.Decode(&specs); err != nil {
			return err
		}
		*r = specs
		return nil
	}
	var m struct {
		Specs     []string            `yaml:"specs"`
		Refresh   string              `yaml:"refresh"`
		WatchASNs map[string][]uint32 `yaml:"watch_asns"`
	}
	if err := decodeStrict(n, &m); err != nil {
		return err
	}
	*r = m.Specs
	return nil
}

// decodeStrict re-encodes a node and decodes it with KnownFields: a
// yaml.Node's own Decode does not reject unknown fields.
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	return d.Decode(v)
}

// loadReplayConfig reads the analyzer and ranges sections of a serve
// config file (the same file `serve --config` takes), or of the short form
// with just those two sections.
func loadReplayConfig(path string) (replayConfig, error) {
	full, err := service.LoadFile(path, nil)
	if err == nil {
		return replayConfig{Analyzer: full.Analyzer, Ranges: full.Ranges.Specs, watchASNs: full.Ranges.WatchASNs}, nil
	}
	short, serr := loadShortReplayConfig(path)
	if serr != nil {
		return short, fmt.Errorf("replay: config: %w", err)
	}
	return short, nil
}

// loadShortReplayConfig reads the short form over the analyzer defaults.
func loadShortReplayConfig(path string) (replayConfig, error) {
	cfg := replayConfig{Analyzer: analyzer.DefaultConfig()}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("replay: read config: %w", err)
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("replay: config %s: %w", path, err)
	}
	if err := cfg.Analyzer.Validate(); err != nil {
		return cfg, fmt.Errorf("replay: config %s: %w", path, err)
	}
	return cfg, nil
}

// cmdReplay implements `routewatch replay [--ranges SPEC]... [--format
// table|json] [--config FILE] FILE|URL...`.
func cmdReplay(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var specs multiFlag
	fs.Var(&specs, "ranges", "provider ranges: FILE, URL or NAME=FILE (repeatable; default: origin-ASN watch list only)")
	format := fs.String("format", "table", "output: table or json (one event per line)")
	cfgPath := fs.String("config", "", "serve config `FILE`: its analyzer and ranges sections are used")
	quiet := fs.Bool("q", false, "no progress and no summary on stderr")
	fs.Usage = func() {
		fmt.Fprint(io.err, "usage: routewatch replay [--ranges SPEC]... [--format table|json] [--config FILE] FILE|URL|- ...\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
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
	r := newReplayer(cfg.Analyzer, set, io.err, *quiet)
	code := exitOK
	for _, name := range fs.Args() {
		if err := r.file(ctx, name, io.in); err != nil {
			fmt.Fprintf(io.err, "routewatch replay: %v\n", err)
			code = exitFail
			break
		}
	}
	events := r.finish()
	out := bufio.NewWriter(io.out)
	var err error
	if *format == "json" {
		err = writeEventsJSON(out, events)
	} else {
		err = writeEventsTable(out, events)
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

// replayMaxErrors bounds the per-record error lines on stderr; the
// summary counts every corrupt record.
const replayMaxErrors = 20

// tagger fills route.Update.Tags (ranges.Set).
type tagger interface{ Tag(u *route.Update) }

// newReplayer returns a replayer with its own analyzer.
func newReplayer(cfg analyzer.Config, tag tagger, errw io.Writer, quiet bool) *replayer {
	return &replayer{an: analyzer.New(cfg), tag: tag, errw: errw, quiet: quiet, started: time.Now()}
}

// replayer feeds MRT inputs, in order, through tagging and the analyzer.
type replayer struct {
	an       *analyzer.Analyzer
	tag      tagger
	errw     io.Writer
	quiet    bool
	started  time.Time
	files    int
	total    mrtdata.Stats
	corrupt  int64
	reported int
	last     time.Time
	// sawRIB: a table dump came before the first update message; without
	// one, the first sighting of each route is its state, not a change.
	sawRIB, warnedNoRIB bool
}

func (r *replayer) file(ctx context.Context, name string, stdin io.Reader) error {
	rc, bar, err := r.open(ctx, name, stdin)
	if err != nil {
		return err
	}
	defer rc.Close()
	r.files++
	rd := mrtdata.NewReader(rc, name)
	defer func() { r.add(rd.Stats()) }()
	good := int64(0)
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return fmt.Errorf("%s: %w", name, ctx.Err())
		}
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, mrtdata.ErrCorrupt) {
				r.corrupt++
				if r.reported < replayMaxErrors {
					fmt.Fprintf(r.errw, "routewatch replay: %v\n", err)
				}
				r.reported++
				if good == 0 && rec.Index >= 16 {
					return fmt.Errorf("%s: not an MRT file (no valid record among the first %d)", name, rec.Index)
				}
				continue
			}
			if good == 0 {
				return fmt.Errorf("%s: not an MRT file: %w", name, err)
			}
			return err
		}
		good++
		r.record(&rec)
	}
	if good == 0 && rd.Stats().Records > 0 {
		return fmt.Errorf("%s: not an MRT file (no valid record)", name)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return nil
}

func (r *replayer) record(rec *mrtdata.Record) {
	if rec.Local {
		return // what the collector sent, not what it learned
	}
	for i := range rec.States {
		r.an.ObservePeer(rec.States[i])
	}
	if len(rec.Updates) > 0 && !r.sawRIB && !r.warnedNoRIB {
		if rec.Updates[0].TableDump {
			r.sawRIB = true
		} else {
			r.warnedNoRIB = true
			if !r.quiet {
				fmt.Fprintln(r.errw, "routewatch replay: note: the input starts with update messages, not a RIB: "+
					"the first update of each route only sets its state, so changes are seen from each route's second update on "+
					"(give the RIB dump that precedes the updates first, e.g. a RIS bview or RouteViews rib file)")
			}
		}
	}
	for i := range rec.Updates {
		u := rec.Updates[i]
		r.tag.Tag(&u)
		r.an.Observe(u)
	}
	if rec.Time.After(r.last) {
		r.last = rec.Time
	}
}

// finish runs the clock to the end of the stream and returns the events.
func (r *replayer) finish() []route.Event {
	if !r.last.IsZero() {
		r.an.Tick(r.last)
	}
	r.an.Flush()
	return r.an.Events()
}

// open opens name (see openMRT).
func (r *replayer) open(ctx context.Context, name string, stdin io.Reader) (io.ReadCloser, *progressbar.ProgressBar, error) {
	return openMRT(ctx, name, stdin, r.errw, r.quiet)
}

func (r *replayer) add(s mrtdata.Stats) {
	r.total.Records += s.Records
	r.total.Routes += s.Routes
	r.total.States += s.States
	r.total.Bytes += s.Bytes
}

func (r *replayer) summary(events []route.Event) string {
	st := r.an.Stats()
	kinds := map[route.EventKind]int{}
	for _, e := range events {
		kinds[e.Kind]++
	}
	return fmt.Sprintf("replay: %d files, %d records, %d routes (%d watched), %d state changes, %d corrupt records; "+
		"%d events (%d path_shift, %d withdrawal, %d peer_down) in %.2fs",
		r.files, r.total.Records, r.total.Routes, st.Watched, r.total.States, r.corrupt,
		len(events), kinds[route.KindPathShift], kinds[route.KindWithdrawal], kinds[route.KindPeerDown],
		time.Since(r.started).Seconds())
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
			end = e.End.Format("15:04:05")
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
