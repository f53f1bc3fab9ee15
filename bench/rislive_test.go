package bench

// Benchmark of the RIS Live path: ris_message JSON decoded (rislive),
// tagged against all five providers' published ranges (ranges.Set) and
// fed to the analyzer, as serve does it, on one core. Run with
// bench/rislive.sh; figures go to bench/results/rislive.md.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"routewatch/analyzer"
	"routewatch/internal/rislivetest"
	"routewatch/ranges"
	"routewatch/rislive"
	"routewatch/route"
)

// risCorpus makes n ris_messages shaped like the RIS Live firehose: 20
// RRCs × 30 feeders, 1–4 prefixes per announcement, one message in ten a
// withdrawal, about half of the prefixes inside a cloud's published
// ranges (the subscriptions are wide less-specifics; the rest is what
// they bring along), paths of 3–6 ASNs with communities.
func risCorpus(tb testing.TB, set *ranges.Set, n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var cloud []netip.Prefix
	for _, p := range set.Roots() {
		if p.Addr().Is4() && p.Bits() <= 24 {
			cloud = append(cloud, p)
		}
	}
	prefix := func(inCloud bool) netip.Prefix {
		if inCloud {
			r := cloud[rng.IntN(len(cloud))]
			a := r.Addr().As4()
			v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8
			if r.Bits() < 24 {
				v += rng.Uint32N(1<<(24-r.Bits())) << 8
			}
			p, _ := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}).Prefix(24)
			return p
		}
		p, _ := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0}).Prefix(24)
		return p
	}
	type feeder struct {
		host string
		peer route.Peer
	}
	var feeders []feeder
	for h := range 20 {
		for f := range 30 {
			feeders = append(feeders, feeder{fmt.Sprintf("rrc%02d", h), route.Peer{
				Addr: netip.AddrFrom4([4]byte{198, 51, byte(h), byte(f + 1)}), ASN: uint32(64500 + f)}})
		}
	}
	t0 := time.Date(2025, 7, 24, 12, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		f := feeders[rng.IntN(len(feeders))]
		t := t0.Add(time.Duration(i) * 200 * time.Microsecond) // 5 k msgs/s
		var ups []route.Update
		if rng.IntN(10) == 0 {
			ups = append(ups, route.Update{Time: t, Peer: f.peer, Prefix: prefix(rng.IntN(2) == 0), Withdraw: true})
		} else {
			path := route.ASPath{{Type: route.ASSequence, ASNs: []uint32{f.peer.ASN}}}
			for range 1 + rng.IntN(4) {
				path[0].ASNs = append(path[0].ASNs, uint32([]int{174, 1299, 2914, 3257, 3356, 6939, 6453}[rng.IntN(7)]))
			}
			cloudMsg := rng.IntN(2) == 0
			origin := uint32(16509)
			if !cloudMsg {
				origin = uint32(1000 + rng.IntN(60000))
			}
			path[0].ASNs = append(path[0].ASNs, origin)
			a := &route.Attrs{ASPath: path, NextHop: f.peer.Addr, Communities: []route.Community{route.Community(f.peer.ASN<<16 | 1), 174<<16 | 21000}}
			for range 1 + rng.IntN(4) {
				ups = append(ups, route.Update{Time: t, Peer: f.peer, Prefix: prefix(cloudMsg), Attrs: a})
			}
		}
		out[i] = rislivetest.Encode(f.host, "UPDATE", f.peer, t, ups, nil)
	}
	return out
}

// BenchmarkRISLivePipeline: one op is one ris_message through decode →
// tag → analyze. The analyzer starts empty and the corpus is replayed
// in time order, so each pass grows and churns the state as a live feed
// does.
func BenchmarkRISLivePipeline(b *testing.B) {
	set, err := ranges.Load(context.Background(), allProviderSpecs(b), ranges.Options{})
	if err != nil {
		b.Fatal(err)
	}
	corpus := risCorpus(b, set, 200_000)
	bytes := 0
	for _, m := range corpus {
		bytes += len(m)
	}
	for _, stage := range []string{"decode", "decode+tag", "decode+tag+analyze"} {
		b.Run(stage, func(b *testing.B) {
			dec := rislive.NewDecoder()
			an := analyzer.New(analyzer.DefaultConfig())
			watched, updates := 0, 0
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				if i%len(corpus) == 0 && i > 0 {
					an = analyzer.New(analyzer.DefaultConfig()) // time starts over
				}
				m, err := dec.Decode(corpus[i%len(corpus)])
				if err != nil {
					b.Fatal(err)
				}
				updates += len(m.Updates)
				if stage == "decode" {
					continue
				}
				for j := range m.Updates {
					u := &m.Updates[j]
					set.Tag(u)
					if len(u.Tags) == 0 {
						continue
					}
					watched++
					if stage == "decode+tag+analyze" {
						an.Observe(*u)
					}
				}
			}
			cpu := (cpuTime() - cpu0).Seconds()
			b.ReportMetric(float64(b.N)/cpu, "msgs/cpu-s")
			b.ReportMetric(float64(b.N)/cpu/5000, "x-firehose-5k")
			b.ReportMetric(float64(updates)/float64(b.N), "updates/msg")
			b.ReportMetric(float64(watched)/float64(max(updates, 1))*100, "%watched")
			b.ReportMetric(float64(bytes)/float64(len(corpus)), "bytes/msg")
		})
	}
}
