package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"routewatch/ranges"
)

// cmdRanges: routewatch ranges [--ranges SPEC]... [--format table|json]
// prints, per provider and region, how many v4/v6 ranges are published and
// how much address space they span. Without --ranges it tries the
// providers' official URLs and says clearly when they cannot be reached.
func cmdRanges(ctx context.Context, args []string, io stdio) int {
	return rangesMain(ctx, args, io, ranges.DefaultSpecs())
}

// rangesMain is cmdRanges with the default sources as a parameter, so
// tests can point them at loopback.
func rangesMain(ctx context.Context, args []string, io stdio, defaults []string) int {
	fs := flag.NewFlagSet("routewatch ranges", flag.ContinueOnError)
	var specs multiFlag
	fs.Var(&specs, "ranges", "range source: FILE, URL, NAME=FILE or NAME=URL (repeatable; default: the official URLs)")
	format := fs.String("format", "table", "output: table or json")
	timeout := fs.Duration("timeout", 30*time.Second, "HTTP timeout per source")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: routewatch ranges [--ranges SPEC]... [--format table|json] [--timeout D]\n")
		fs.PrintDefaults()
	}
	if code, ok := parseArgs(fs, args, io); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "routewatch ranges: unexpected argument %q (sources go in --ranges)\n", fs.Arg(0))
		return exitUsage
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(io.err, "routewatch ranges: --format must be table or json, not %q\n", *format)
		return exitUsage
	}
	explicit := len(specs) > 0
	if !explicit {
		specs = defaults
	}

	opts := ranges.Options{Client: &http.Client{Timeout: *timeout}}
	var loaded []*ranges.Loaded
	var failed, unreachable int
	for _, spec := range specs {
		l, err := ranges.Fetch(ctx, spec, opts)
		if err != nil {
			failed++
			var fe *ranges.FetchError
			if errors.As(err, &fe) && fe.Unreachable() {
				unreachable++
			}
			// The package's errors start with "ranges: " already.
			fmt.Fprintf(io.err, "routewatch %v\n", err)
			continue
		}
		loaded = append(loaded, l)
	}
	if explicit && failed > 0 {
		// Sources asked for by name must all load: a partial table would
		// pass for a complete one.
		return exitFail
	}
	if !explicit {
		switch {
		case len(loaded) == 0 && unreachable == failed:
			fmt.Fprintf(io.err, "routewatch ranges: offline: none of the %d official range URLs could be reached.\n"+
				"Give downloaded files instead, e.g. --ranges ip-ranges.json --ranges cloud.json --ranges cloudflare=ips-v4.txt\n", len(specs))
			return exitFail
		case len(loaded) == 0:
			fmt.Fprintln(io.err, "routewatch ranges: no official range source could be loaded")
			return exitFail
		case failed > 0:
			fmt.Fprintf(io.err, "routewatch ranges: %d of %d official sources failed; showing the others\n", failed, len(specs))
		}
		fmt.Fprintln(io.err, "routewatch ranges: azure has no fixed URL (it changes weekly): add --ranges ServiceTags_Public_YYYYMMDD.json")
	}

	set := ranges.Build(loaded, nil)
	var err error
	if *format == "json" {
		err = writeRangesJSON(io, set)
	} else {
		err = writeRangesTable(io, set)
	}
	if err != nil {
		fmt.Fprintf(io.err, "routewatch ranges: write: %v\n", err)
		return exitFail
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

func writeRangesTable(io stdio, set *ranges.Set) error {
	for _, src := range set.Sources() {
		fmt.Fprintf(io.err, "source %s: %s format, provider %s, %d entries (%d v4, %d v6)\n",
			src.Spec, src.Format, src.Provider, src.Entries, src.V4, src.V6)
	}
	totals := map[string]ranges.GroupSummary{}
	for _, g := range set.ProviderSummary() {
		totals[g.Provider] = g
	}
	tw := tabwriter.NewWriter(io.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tREGION\tSERVICES\tV4 RANGES\tV6 RANGES\tV4 ADDRESSES\tV6 /48s")
	row := func(g ranges.GroupSummary, region string) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", g.Provider, region, g.Services, g.V4Ranges, g.V6Ranges, g.V4Addresses, slash48s(g.V6Slash48s))
	}
	groups := set.Summary()
	for i, g := range groups {
		region := g.Region
		if region == "" {
			region = "-"
		}
		row(g, region)
		if i == len(groups)-1 || groups[i+1].Provider != g.Provider {
			row(totals[g.Provider], "(total)")
		}
	}
	return tw.Flush()
}

// slash48s prints IPv6 space in /48s: whole numbers unless tiny.
func slash48s(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		s := strings.TrimRight(fmt.Sprintf("%.4f", v), "0")
		if s == "0." {
			return "<0.0001"
		}
		return s
	}
	return fmt.Sprintf("%.0f", v)
}

func writeRangesJSON(io stdio, set *ranges.Set) error {
	doc := struct {
		Sources   []ranges.Source       `json:"sources"`
		Regions   []ranges.GroupSummary `json:"regions"`
		Providers []ranges.GroupSummary `json:"providers"`
	}{set.Sources(), set.Summary(), set.ProviderSummary()}
	enc := json.NewEncoder(io.out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
