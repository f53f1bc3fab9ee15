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

func cmdServe(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.err)
	cfgPath := fs.String("config", "", "YAML config `FILE` (default: built-in defaults, see config/routewatch.example.yaml)")
	demo := fs.Bool("demo", false, "replay a bundled synthetic regional path shift into the running service")
	var rangeSpecs multiFlag
	fs.Var(&rangeSpecs, "ranges", "provider range `SPEC` (FILE, URL or NAME=FILE); repeatable; replaces ranges.specs")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "routewatch serve: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := service.LoadFile(*cfgPath, os.Getenv)
	if err != nil {
		fmt.Fprintf(io.err, "routewatch serve: %v\n", err)
		return exitUsage
	}
	if *demo {
		cfg.Demo = true
	}
	if len(rangeSpecs) > 0 {
		cfg.Ranges.Specs = rangeSpecs
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
