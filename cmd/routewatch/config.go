package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"routewatch/service"
)

// cmdConfigCheck validates a config file like `promtool check config`:
// exit 0 and a one-line summary, or the problems and exit 1.
func cmdConfigCheck(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: routewatch config check FILE\n"+
			"Validates a serve config (environment overrides included) and prints a one-line summary.\n")
	}
	if code, ok := parseArgs(fs, args, io); !ok {
		return code
	}
	if args = fs.Args(); len(args) != 1 {
		fs.SetOutput(io.err)
		fs.Usage()
		return exitUsage
	}
	cfg, err := service.LoadFile(args[0], os.Getenv)
	if err != nil {
		fmt.Fprintf(io.err, "routewatch config check: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(io.out, "%s: OK (store %s, api %s, bgp %v port %d, %d neighbors, %d dynamic ranges, %d range specs, %d alert sinks)\n",
		args[0], cfg.Store.Backend, cfg.API.Listen, *cfg.Collector.Enabled, cfg.Collector.Port,
		len(cfg.Collector.Neighbors), len(cfg.Collector.DynamicNeighbors), len(cfg.Ranges.Specs), len(cfg.Alert.Sinks))
	return exitOK
}
