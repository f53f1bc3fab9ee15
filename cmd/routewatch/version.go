package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
)

// gobgpModule is the module whose version `routewatch version` reports.
const gobgpModule = "github.com/osrg/gobgp/v4"

// cmdVersion prints the module version, the VCS commit it was built from,
// the Go version and the GoBGP version.
func cmdVersion(_ context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), "usage: routewatch version\n") }
	if code, ok := parseArgs(fs, args, io); !ok {
		return code
	}
	fmt.Fprint(io.out, versionText())
	return exitOK
}

func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "routewatch: no build information in this binary\n"
	}
	vcs := map[string]string{}
	for _, s := range bi.Settings {
		vcs[s.Key] = s.Value
	}
	commit := vcs["vcs.revision"]
	if commit == "" {
		commit = "unknown"
	}
	if vcs["vcs.modified"] == "true" {
		commit += " (modified)"
	}
	if t := vcs["vcs.time"]; t != "" {
		commit += " " + t
	}
	gobgp := "not linked"
	for _, d := range bi.Deps {
		if d.Path == gobgpModule {
			gobgp = d.Version
			if d.Replace != nil {
				gobgp += " => " + d.Replace.Path + " " + d.Replace.Version
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "routewatch %s\ncommit     %s\ngo         %s\ngobgp      %s\n", bi.Main.Version, commit, bi.GoVersion, gobgp)
	return b.String()
}

// parseArgs parses a command's flags. --help / -h prints the command's
// usage on stdout and ends it with exit 0; a bad flag ends it with exit 2
// (usage on stderr). ok is false when the command must end with code.
func parseArgs(fs *flag.FlagSet, args []string, io stdio) (code int, ok bool) {
	fs.SetOutput(io.err)
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" || a == "-help" || a == "--h" {
			fs.SetOutput(io.out)
		}
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK, false
		}
		return exitUsage, false
	}
	return exitOK, true
}
