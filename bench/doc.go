// Package bench holds routewatch's benchmarks: scripts that compare it with
// the reference tools side by side on the same input (bgpdump, plain
// GoBGP, redis-benchmark, wrk) and Go benchmarks such as the range
// matcher's. Results and the machine they ran on are in BENCHMARKS.md.
// Nothing here asserts a timing.
package bench
