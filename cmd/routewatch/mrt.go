package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"routewatch/mrtdata"
	"routewatch/route"
)

// cmdMRTDump implements `routewatch mrt dump [-m] [-count] FILE|URL...`.
func cmdMRTDump(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("mrt dump", flag.ContinueOnError)
	oneLine := fs.Bool("m", false, "one line per route, byte-identical to `bgpdump -m`")
	count := fs.Bool("count", false, "decode only: print no routes, just the summary")
	quiet := fs.Bool("q", false, "no progress bar and no summary line")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: routewatch mrt dump [-m] [-count] [-q] FILE|URL|- ...\n"+
			"Without -m: one JSON object per route (and per peer state change).\n")
		fs.PrintDefaults()
	}
	if code, ok := parseArgs(fs, args, io); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	// A streaming dump keeps almost nothing alive but allocates fast:
	// collect less often, within a memory cap (RSS stays well under 64 MB).
	// GOGC / GOMEMLIMIT from the environment win.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(32 << 20))
	}
	out := bufio.NewWriterSize(io.out, 1<<20)
	d := &dumper{out: out, oneLine: *oneLine, count: *count, start: time.Now()}
	errs := recordErrors{w: io.err, prefix: "routewatch mrt dump"}
	feed := &mrtdata.Feed{Inputs: fs.Args(), Stdin: io.in, Open: inputOpener(io, *quiet), Corrupt: errs.report}
	code := exitOK
	err := feed.Walk(ctx, d.record)
	errs.finish()
	if err != nil {
		fmt.Fprintf(io.err, "routewatch mrt dump: %v\n", err)
		code = exitFail
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(io.err, "routewatch mrt dump: write: %v\n", err)
		code = exitFail
	}
	if !*quiet {
		fmt.Fprintln(io.err, d.summary(feed.Stats()))
	}
	return code
}

// dumper prints the records of an mrtdata.Feed.
type dumper struct {
	out            *bufio.Writer
	oneLine, count bool
	fm             mrtdata.BgpdumpFormatter
	buf            []byte
	start          time.Time
}

func (d *dumper) record(_ string, rec *mrtdata.Record) error {
	if d.count {
		return nil
	}
	if d.oneLine {
		d.buf = d.fm.Append(d.buf[:0], rec)
	} else {
		d.buf = appendJSON(d.buf[:0], rec)
	}
	if _, err := d.out.Write(d.buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (d *dumper) summary(s mrtdata.FeedStats) string {
	el := time.Since(d.start)
	var b strings.Builder
	fmt.Fprintf(&b, "mrt dump: %d files, %d records, %d routes, %d state changes, %.1f MB in %.2fs",
		s.Inputs, s.Records, s.Routes, s.States, float64(s.Bytes)/1e6, el.Seconds())
	b.WriteString("; skipped: ")
	b.WriteString(counts(s.Skipped))
	b.WriteString("; errors: ")
	b.WriteString(counts(s.Errors))
	return b.String()
}

func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatInt(m[k], 10)
	}
	return strings.Join(parts, " ")
}

// appendJSON renders one JSON object per route and per state change.
// Field names are snake_case; absent MED / local-pref are null.
func appendJSON(dst []byte, rec *mrtdata.Record) []byte {
	for i := range rec.Updates {
		u := &rec.Updates[i]
		typ := "A"
		switch {
		case u.Withdraw:
			typ = "W"
		case u.TableDump:
			typ = "B"
		}
		dst = append(dst, `{"type":"`...)
		dst = append(dst, typ...)
		dst = append(dst, `","time":"`...)
		dst = u.Time.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `","peer":"`...)
		dst = u.Peer.Addr.AppendTo(dst)
		dst = append(dst, `","peer_asn":`...)
		dst = strconv.AppendUint(dst, uint64(u.Peer.ASN), 10)
		dst = append(dst, `,"prefix":"`...)
		dst = u.Prefix.AppendTo(dst)
		dst = append(dst, `","path_id":`...)
		dst = strconv.AppendUint(dst, uint64(u.PathID), 10)
		if rec.Local {
			dst = append(dst, `,"local":true`...)
		}
		if a := u.Attrs; a != nil {
			dst = appendAttrsJSON(dst, a)
		}
		dst = append(dst, "}\n"...)
	}
	for _, s := range rec.States {
		dst = append(dst, `{"type":"STATE","time":"`...)
		dst = s.Time.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `","peer":"`...)
		dst = s.Peer.Addr.AppendTo(dst)
		dst = append(dst, `","peer_asn":`...)
		dst = strconv.AppendUint(dst, uint64(s.Peer.ASN), 10)
		dst = append(dst, `,"old_state":"`...)
		dst = append(dst, s.Old.String()...)
		dst = append(dst, `","new_state":"`...)
		dst = append(dst, s.New.String()...)
		dst = append(dst, "\"}\n"...)
	}
	return dst
}

func appendAttrsJSON(dst []byte, a *route.Attrs) []byte {
	dst = append(dst, `,"as_path":[`...)
	for i, s := range a.ASPath {
		if i > 0 {
			dst = append(dst, ',')
		}
		if s.Type == route.ASSequence {
			for j, asn := range s.ASNs {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = strconv.AppendUint(dst, uint64(asn), 10)
			}
			continue
		}
		// Sets and confederation segments become nested arrays tagged
		// by type so the flat sequence stays easy to read.
		dst = append(dst, `{"`...)
		switch s.Type {
		case route.ASSet:
			dst = append(dst, "set"...)
		case route.ASConfedSequence:
			dst = append(dst, "confed_sequence"...)
		default:
			dst = append(dst, "confed_set"...)
		}
		dst = append(dst, `":[`...)
		for j, asn := range s.ASNs {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, uint64(asn), 10)
		}
		dst = append(dst, "]}"...)
	}
	dst = append(dst, `],"origin":"`...)
	dst = append(dst, a.Origin.String()...)
	dst = append(dst, `","next_hop":`...)
	if a.NextHop.IsValid() {
		dst = append(dst, '"')
		dst = a.NextHop.AppendTo(dst)
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"med":`...)
	if a.HasMED {
		dst = strconv.AppendUint(dst, uint64(a.MED), 10)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"local_pref":`...)
	if a.HasLocalPref {
		dst = strconv.AppendUint(dst, uint64(a.LocalPref), 10)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"communities":[`...)
	for i, c := range a.Communities {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = strconv.AppendUint(dst, uint64(c>>16), 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(c&0xffff), 10)
		dst = append(dst, '"')
	}
	dst = append(dst, `],"large_communities":[`...)
	for i, c := range a.LargeCommunities {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = strconv.AppendUint(dst, uint64(c.Global), 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(c.Local1), 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(c.Local2), 10)
		dst = append(dst, '"')
	}
	dst = append(dst, ']')
	if a.AtomicAggregate {
		dst = append(dst, `,"atomic_aggregate":true`...)
	}
	if ag := a.Aggregator; ag != nil {
		dst = append(dst, `,"aggregator":{"asn":`...)
		dst = strconv.AppendUint(dst, uint64(ag.ASN), 10)
		dst = append(dst, `,"addr":"`...)
		dst = ag.Addr.AppendTo(dst)
		dst = append(dst, `"}`...)
	}
	return dst
}
