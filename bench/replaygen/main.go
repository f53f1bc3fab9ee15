// Command replaygen writes a large synthetic replay input for the replay
// benchmark: a TE shift scenario (mrtdata/scenario) over many provider
// regions, every prefix watched, with its AWS-format ranges file.
//
//	go run ./bench/replaygen -regions 40 -prefixes 500 -peers 20 -o /tmp/replay-bench
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"

	"routewatch/mrtdata/scenario"
)

func main() {
	regions := flag.Int("regions", 40, "provider regions")
	prefixes := flag.Int("prefixes", 500, "prefixes per region")
	peers := flag.Int("peers", 20, "vantage points")
	noise := flag.Float64("noise", 300, "random flaps per minute")
	seed := flag.Int64("seed", 1, "seed")
	out := flag.String("o", "replay-bench", "output directory")
	flag.Parse()
	if err := run(*regions, *prefixes, *peers, *noise, *seed, *out); err != nil {
		fmt.Fprintln(os.Stderr, "replaygen:", err)
		os.Exit(1)
	}
}

func run(nRegions, nPrefixes, peers int, noise float64, seed int64, dir string) error {
	if nRegions < 1 || nPrefixes < 1 || nRegions*nPrefixes > 1<<20 {
		return fmt.Errorf("regions × prefixes must be 1..%d", 1<<20)
	}
	var regs []scenario.Region
	n := 0
	for i := range nRegions {
		r := scenario.Region{Provider: "aws", Region: fmt.Sprintf("bench-%02d", i)}
		for range nPrefixes {
			// 100.64.0.0/10 and up: n-th /24.
			r.Prefixes = append(r.Prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(100 + n>>16), byte(64 + (n>>8)&0xff), byte(n), 0}), 24))
			n++
		}
		regs = append(regs, r)
	}
	s := scenario.Overlap(scenario.Options{Seed: seed, Peers: peers, Regions: regs, Noise: noise})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "replay-bench.mrt.gz"))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := gzip.NewWriter(bw)
	if err := s.Write(zw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	rf, err := os.Create(filepath.Join(dir, "replay-bench-ranges.json"))
	if err != nil {
		return err
	}
	if err := s.WriteRanges(rf); err != nil {
		return err
	}
	if err := rf.Close(); err != nil {
		return err
	}
	fmt.Printf("%s: %d updates (%d RIB), %d state changes, %d expected events\n", dir, len(s.Updates), nRegions*nPrefixes*peers, len(s.States), len(s.Expected))
	return nil
}
