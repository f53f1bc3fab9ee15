package bench

// Benchmarks of ranges.Set: classify every prefix of a real RIS RIB (and
// generated prefixes) against all five providers' published ranges at
// once. Run with bench/ranges.sh; figures go to bench/results/ranges.md.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gaissmai/bart"
	"github.com/klauspost/compress/gzip"

	"routewatch/internal/testenv"
	"routewatch/mrtdata"
	"routewatch/ranges"
	"routewatch/route"
)

// allProviderSpecs are the shared files of the five providers.
func allProviderSpecs(tb testing.TB) []string {
	dir := filepath.Join(testenv.SharedData(tb), "cloud")
	return []string{
		filepath.Join(dir, "aws-ip-ranges.2025-07-24.json"),
		filepath.Join(dir, "gcp-cloud.2025-07-24.json"),
		filepath.Join(dir, "azure-servicetags.2025-07.json"),
		filepath.Join(dir, "oracle-cloud.2025-07-21.json"),
		"cloudflare=" + filepath.Join(dir, "cloudflare-ips-v4.txt"),
		"cloudflare=" + filepath.Join(dir, "cloudflare-ips-v6.txt"),
	}
}

// ribPrefixes decodes the prefixes of a TABLE_DUMP (v1) RIB: a dozen lines
// of framing, enough for a benchmark input without depending on mrtdata.
func ribPrefixes(tb testing.TB, path string) []netip.Prefix {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	r := bufio.NewReaderSize(zr, 1<<20)
	var out []netip.Prefix
	hdr := make([]byte, 12)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			tb.Fatal(err)
		}
		typ, sub := binary.BigEndian.Uint16(hdr[4:]), binary.BigEndian.Uint16(hdr[6:])
		body := make([]byte, binary.BigEndian.Uint32(hdr[8:]))
		if _, err := io.ReadFull(r, body); err != nil {
			tb.Fatal(err)
		}
		if typ != 12 { // TABLE_DUMP
			continue
		}
		switch {
		case sub == 1 && len(body) >= 9:
			a := netip.AddrFrom4([4]byte(body[4:8]))
			if p, err := a.Prefix(int(body[8])); err == nil {
				out = append(out, p)
			}
		case sub == 2 && len(body) >= 21:
			a := netip.AddrFrom16([16]byte(body[4:20]))
			if p, err := a.Prefix(int(body[20])); err == nil {
				out = append(out, p)
			}
		}
	}
}

// tablePrefixes generates n distinct prefixes shaped like a full table:
// IPv4 /16–/24 (mostly /24) and IPv6 /32–/48 at random, with share (in
// percent) made of more-specifics of, equals of and aggregates over
// published ranges. peers repeats each prefix that many times in a row, as
// a TABLE_DUMP_V2 RIB lists every peer's route for one prefix together.
func tablePrefixes(published []netip.Prefix, n, share, peers int) []netip.Prefix {
	rng := rand.New(rand.NewPCG(1, 2))
	v4len := []int{16, 18, 19, 20, 21, 22, 22, 23, 23, 24, 24, 24, 24, 24, 24, 24}
	out := make([]netip.Prefix, 0, n*peers)
	for range n {
		var p netip.Prefix
		switch k := rng.IntN(1000); {
		case k < share*10*5/6: // inside or equal to a published range
			q := published[rng.IntN(len(published))]
			p = netip.PrefixFrom(q.Addr(), min(q.Bits()+rng.IntN(4), q.Addr().BitLen())).Masked()
		case k < share*10: // aggregate over a published range
			q := published[rng.IntN(len(published))]
			p = netip.PrefixFrom(q.Addr(), max(q.Bits()-4, 8)).Masked()
		case k < 850:
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], rng.Uint32())
			p = netip.PrefixFrom(netip.AddrFrom4(b), v4len[rng.IntN(len(v4len))]).Masked()
		default:
			var b [16]byte
			binary.BigEndian.PutUint64(b[:], 0x2000_0000_0000_0000|rng.Uint64()>>4)
			p = netip.PrefixFrom(netip.AddrFrom16(b), 32+rng.IntN(17)).Masked()
		}
		for range peers {
			out = append(out, p)
		}
	}
	return out
}

func loadAll(tb testing.TB) *ranges.Set {
	s, err := ranges.Load(context.Background(), allProviderSpecs(tb), ranges.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func publishedPrefixes(tb testing.TB) []netip.Prefix {
	var out []netip.Prefix
	for _, spec := range allProviderSpecs(tb) {
		l, err := ranges.Fetch(context.Background(), spec, ranges.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range l.Entries {
			out = append(out, e.Prefix)
		}
	}
	return out
}

// BenchmarkRangesMatchRIB classifies every prefix of the 2002 RIS RIB
// (115 k routes; cycled) — almost all miss: the worst case for nothing.
func BenchmarkRangesMatchRIB(b *testing.B) {
	set := loadAll(b)
	ps := ribPrefixes(b, testenv.SharedFile(b, "mrt/bview.20020722.2337.gz"))
	benchMatch(b, set, ps)
}

// BenchmarkRangesMatchMRT classifies every route of the RIB named by
// $ROUTEWATCH_BENCH_RIB (bench/ranges.sh makes a 4 M-entry one with
// bench/cmd/mkrib from the shared RIS files), decoded with mrtdata, in
// file order.
func BenchmarkRangesMatchMRT(b *testing.B) {
	path := os.Getenv("ROUTEWATCH_BENCH_RIB")
	if path == "" {
		b.Skip("ROUTEWATCH_BENCH_RIB not set (bench/ranges.sh sets it)")
	}
	set := loadAll(b)
	rc, err := mrtdata.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	r := mrtdata.NewReader(rc, path)
	var ps []netip.Prefix
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range rec.Updates {
			ps = append(ps, u.Prefix)
		}
	}
	b.Logf("%s: %d routes", path, len(ps))
	benchMatch(b, set, ps)
}

// BenchmarkRangesMatchFullTable classifies a 4 M-route full-table-shaped
// RIB: 1 M prefixes, 4 % related to a published range, 4 peers each.
func BenchmarkRangesMatchFullTable(b *testing.B) {
	set := loadAll(b)
	benchMatch(b, set, tablePrefixes(publishedPrefixes(b), 1_000_000, 4, 4))
}

// BenchmarkRangesMatchHits: every prefix relates to a published range (in
// random order, one route each) — the slow path only.
func BenchmarkRangesMatchHits(b *testing.B) {
	set := loadAll(b)
	benchMatch(b, set, tablePrefixes(publishedPrefixes(b), 1_000_000, 100, 1))
}

// BenchmarkBartOverlapsBaseline is the floor: a bare bart.Lite
// OverlapsPrefix over the same published prefixes and the same full-table
// stream, no tags.
func BenchmarkBartOverlapsBaseline(b *testing.B) {
	published := publishedPrefixes(b)
	var lite bart.Lite
	for _, p := range published {
		lite.Insert(p)
	}
	ps := tablePrefixes(published, 1_000_000, 4, 4)
	hits := 0
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		if lite.OverlapsPrefix(ps[i%len(ps)]) {
			hits++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mlookups/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds()/1e6, "Mlookups/cpu-s")
	b.ReportMetric(float64(hits)/float64(b.N)*100, "%hit")
}

// benchMatch reports wall-clock and CPU-time rates: the machine is shared,
// so lookups per CPU-second is the per-core figure. The first pass over ps
// fills the covering cache; its rate is reported as cold-Mlookups/s.
func benchMatch(b *testing.B, set *ranges.Set, ps []netip.Prefix) {
	cpu0 := cpuTime()
	for _, p := range ps {
		set.Match(p)
	}
	cold := float64(len(ps)) / (cpuTime() - cpu0).Seconds() / 1e6
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 = cpuTime()
	for i := 0; b.Loop(); i++ {
		if set.Match(ps[i%len(ps)]) != nil {
			hits++
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mlookups/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds()/1e6, "Mlookups/cpu-s")
	b.ReportMetric(float64(hits)/float64(b.N)*100, "%hit")
	b.ReportMetric(cold, "cold-Mlookups/cpu-s") // ResetTimer drops metrics reported before it
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRangesTag is Match plus the origin-ASN fallback, as replay runs it.
func BenchmarkRangesTag(b *testing.B) {
	set := loadAll(b)
	ps := tablePrefixes(publishedPrefixes(b), 1_000_000, 4, 4)
	attrs := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{3356, 16509}}}}
	u := route.Update{Attrs: attrs}
	for _, p := range ps { // warm the covering cache
		set.Match(p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		u.Prefix = ps[i%len(ps)]
		set.Tag(&u)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mlookups/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds()/1e6, "Mlookups/cpu-s")
}

// TestRangesMemory reports the heap held by the full five-provider set.
func TestRangesMemory(t *testing.T) {
	specs := allProviderSpecs(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	set, err := ranges.Load(context.Background(), specs, ranges.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("five-provider set: %d prefixes from %d entries, heap held %.1f MB", set.Len(), set.Entries(), float64(held)/1e6)
	if held > 50<<20 {
		t.Errorf("set holds %d bytes, budget 50 MiB", held)
	}
	runtime.KeepAlive(set)
}
