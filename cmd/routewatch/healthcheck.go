package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"
)

// cmdHealthcheck probes the API's /readyz (or any URL) and exits 0 on a
// 200: the container HEALTHCHECK of the distroless image, which has no
// curl or shell.
func cmdHealthcheck(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: routewatch healthcheck [--url URL] [--timeout D]\n")
		fs.PrintDefaults()
	}
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "`URL` to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "request timeout")
	if code, ok := parseArgs(fs, args, io); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintf(io.err, "routewatch healthcheck: %v\n", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(io.err, "routewatch healthcheck: %v\n", err)
		return exitFail
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(io.err, "routewatch healthcheck: %s: %s\n", *url, resp.Status)
		return exitFail
	}
	return exitOK
}
