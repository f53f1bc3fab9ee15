// Command routewatch watches cloud providers' prefixes in BGP and flags
// sudden, correlated path shifts and withdrawals per provider and region.
//
// Subcommands (the CLI contract of DESIGN.md):
//
//	routewatch serve   [--config FILE] [--demo] [--ranges SPEC]... [--api-listen ADDR] [--bgp-listen ADDR] [--bgp-port N]
//	routewatch replay  [--ranges SPEC]... [--format table|json] [--config FILE] [--sort] FILE|URL...
//	routewatch replay  [--ranges SPEC]... [--format table|json] --collector NAME[,NAME…] --from T --to T
//	                   [--base-url NAME=URL]... [--cache DIR]
//	routewatch mrt dump [-m] FILE|URL...
//	routewatch ranges  [--ranges SPEC]...
//	routewatch config check FILE
//	routewatch healthcheck [--url URL]   (the container HEALTHCHECK)
//	routewatch version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the work failed (bad or truncated input, runtime error)
	exitUsage = 2 // bad command line, or a subcommand that is not built yet
)

// stdio carries the process streams so subcommands are testable.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

const usage = `usage:
  routewatch serve   [--config FILE] [--demo] [--ranges SPEC]... [--api-listen ADDR]
                     [--bgp-listen ADDR]... [--bgp-port N]
  routewatch replay  [--ranges SPEC]... [--format table|json] [--config FILE] [--sort] [-q] FILE|URL|-...
  routewatch replay  [--ranges SPEC]... [--format table|json] --collector NAME[,NAME…] --from T --to T
                     [--base-url NAME=URL]... [--cache DIR]
  routewatch mrt dump [-m] [-count] [-q] FILE|URL|-...
  routewatch ranges  [--ranges SPEC]... [--format table|json] [--timeout D]
  routewatch config check FILE
  routewatch healthcheck [--url URL] [--timeout D]
  routewatch version

Every command takes --help. Environment: REDIS_URL, ROUTEWATCH_API_LISTEN,
ROUTEWATCH_API_TOKENS, ROUTEWATCH_WEBHOOK_<SINK>_URL / _SECRET (see README).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprint(io.err, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], io)
	case "replay":
		return cmdReplay(ctx, args[1:], io)
	case "mrt":
		if len(args) < 2 || args[1] != "dump" {
			fmt.Fprint(io.err, "routewatch mrt: the only subcommand is dump\n"+usage)
			return exitUsage
		}
		return cmdMRTDump(ctx, args[2:], io)
	case "ranges":
		return cmdRanges(ctx, args[1:], io)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(io.err, "routewatch config: the only subcommand is check\n"+usage)
			return exitUsage
		}
		return cmdConfigCheck(ctx, args[2:], io)
	case "healthcheck":
		return cmdHealthcheck(ctx, args[1:], io)
	case "version", "--version":
		return cmdVersion(ctx, args[1:], io)
	case "-h", "--help", "help":
		fmt.Fprint(io.out, usage)
		return exitOK
	}
	fmt.Fprintf(io.err, "routewatch: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// multiFlag is a repeatable string flag (--ranges SPEC --ranges SPEC).
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
