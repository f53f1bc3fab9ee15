package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"routewatch/service"
)

// serveFlags are the serve options people change first; each replaces
// its config key.
type serveFlags struct {
	cfgPath   string
	demo      bool
	ranges    multiFlag
	apiListen string
	bgpListen multiFlag
	bgpPort   int
}

func newServeFlags(f *serveFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.cfgPath, "config", "", "YAML config `FILE` (default: built-in defaults, see config/routewatch.example.yaml)")
	fs.BoolVar(&f.demo, "demo", false, "replay a bundled synthetic regional path shift into the running service")
	fs.Var(&f.ranges, "ranges", "provider range `SPEC` (FILE, URL or NAME=FILE); repeatable; replaces ranges.specs")
	fs.StringVar(&f.apiListen, "api-listen", "", "API `ADDR` (host:port); replaces api.listen and $ROUTEWATCH_API_LISTEN")
	fs.Var(&f.bgpListen, "bgp-listen", "BGP listener `ADDR` (an IP address); repeatable; replaces collector.listen_addresses")
	fs.IntVar(&f.bgpPort, "bgp-port", 0, "BGP listener port `N`; replaces collector.port")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: routewatch serve [--config FILE] [--demo] [--ranges SPEC]... [--api-listen ADDR] [--bgp-listen ADDR]... [--bgp-port N]\n")
		fs.PrintDefaults()
	}
	return fs
}

// apply puts the flags given over cfg (file and environment).
func (f *serveFlags) apply(fs *flag.FlagSet, cfg *service.Config) {
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "demo":
			cfg.Demo = f.demo
		case "ranges":
			cfg.Ranges.Specs = f.ranges
		case "api-listen":
			cfg.API.Listen = f.apiListen
		case "bgp-listen":
			cfg.Collector.ListenAddresses = f.bgpListen
		case "bgp-port":
			cfg.Collector.Port = f.bgpPort
		}
	})
}

func cmdServe(ctx context.Context, args []string, io stdio) int {
	var f serveFlags
	fs := newServeFlags(&f)
	if code, ok := parseArgs(fs, args, io); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "routewatch serve: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := service.LoadFile(f.cfgPath, os.Getenv)
	if err != nil {
		fmt.Fprintf(io.err, "routewatch serve: %v\n", err)
		return exitUsage
	}
	f.apply(fs, &cfg)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(io.err, "routewatch serve: %v\n", err)
		return exitUsage
	}
	logger := newLogger(io.err, cfg.Log)
	svc, err := service.New(ctx, cfg, logger, io.out)
	if err != nil {
		logger.Error("startup failed", "err", err)
		return exitFail
	}
	logger.Info("routewatch serving", "api", cfg.API.Listen, "store", cfg.Store.Backend,
		"bgp_port", cfg.Collector.Port, "bgp_enabled", *cfg.Collector.Enabled)
	if err := svc.Run(ctx); err != nil {
		logger.Error("stopped with error", "err", err)
		return exitFail
	}
	logger.Info("stopped cleanly")
	return exitOK
}

func newLogger(w io.Writer, c service.LogConfig) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
