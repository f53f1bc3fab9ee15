package analyzer_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"routewatch/analyzer"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

// benchScenario: 20 regions × 500 prefixes × 20 vantage points = 200k
// watched routes, then the TE shift / outage updates and noise.
func benchScenario(b *testing.B) (rib, updates []route.Update) {
	b.Helper()
	var regs []scenario.Region
	n := 0
	for i := range 20 {
		r := scenario.Region{Provider: "aws", Region: fmt.Sprintf("r%02d", i)}
		for range 500 {
			r.Prefixes = append(r.Prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(64 + n>>8), byte(n), 0}), 24))
			n++
		}
		regs = append(regs, r)
	}
	s := scenario.Overlap(scenario.Options{Seed: 1, Peers: 20, Regions: regs, Noise: 200})
	for _, u := range s.Updates {
		s.Tag(&u)
		if u.TableDump {
			rib = append(rib, u)
		} else {
			updates = append(updates, u)
		}
	}
	return rib, updates
}

// cpuTime is the process's user+system CPU time: on a shared, loaded
// machine wall time says little.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkObserve measures the initial table load and the update stream
// per route.
func BenchmarkObserve(b *testing.B) {
	rib, updates := benchScenario(b)
	b.Run("rib", func(b *testing.B) {
		b.ReportAllocs()
		var cpu time.Duration
		for b.Loop() {
			a := analyzer.New(analyzer.DefaultConfig())
			c := cpuTime()
			for i := range rib {
				a.Observe(rib[i])
			}
			cpu += cpuTime() - c
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(rib)), "cpu-ns/route")
		// Live heap of the analyzer's state per route after the load,
		// attributes excluded (rib holds them).
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		a := analyzer.New(analyzer.DefaultConfig())
		for i := range rib {
			a.Observe(rib[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		runtime.KeepAlive(a)
		b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(len(rib)), "state-B/route")
	})
	b.Run("updates", func(b *testing.B) {
		b.ReportAllocs()
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			a := analyzer.New(analyzer.DefaultConfig())
			for i := range rib {
				a.Observe(rib[i])
			}
			b.StartTimer()
			c := cpuTime()
			for i := range updates {
				a.Observe(updates[i])
			}
			cpu += cpuTime() - c
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(updates)), "cpu-ns/update")
	})
	b.Run("untagged", func(b *testing.B) {
		a := analyzer.New(analyzer.DefaultConfig())
		u := rib[0]
		u.Tags = nil
		u.Prefix = netip.MustParsePrefix("192.0.2.0/24")
		for b.Loop() {
			a.Observe(u)
		}
	})
}
