package scenario

import (
	"fmt"
	"net/netip"
	"time"

	"routewatch/route"
)

// transitRegions are 40 groups of ten /24s behind the same transit
// upstreams: 5 AWS regions (AS16509), 3 Azure (AS8075), 32 Google Cloud
// (AS15169).
func transitRegions() []Region {
	var out []Region
	n := 0
	add := func(provider string, origin uint32, name string) {
		r := Region{Provider: provider, Region: name, Origin: origin}
		for range 10 {
			r.Prefixes = append(r.Prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 + byte(n>>8), byte(n), 0}), 24))
			n++
		}
		out = append(out, r)
	}
	for _, name := range []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1"} {
		add("aws", 16509, name)
	}
	for _, name := range []string{"eastus", "westus", "northeurope"} {
		add("azure", 8075, name)
	}
	for i := range 32 {
		add("gcp", 15169, fmt.Sprintf("region-%02d", i))
	}
	return out
}

// TransitFailure: 30 minutes in, AS3356 fails towards the eight vantage
// points that reach every provider through it; within 90 s they move to
// their next upstream (AS2914) for every prefix of 40 groups of three
// providers, and come back 30 minutes later. 40 path_shift events, one
// transit-side cause, one incident.
func TransitFailure(o Options) *Scenario {
	if o.Peers <= 0 {
		o.Peers = 20
	}
	if o.DirectShare == 0 {
		o.DirectShare = 0.2
	}
	if len(o.Regions) == 0 {
		o.Regions = transitRegions()
	}
	b := newBuilder("transit_failure", o)
	start, end := map[int]time.Time{}, map[int]time.Time{}
	for vi, v := range b.vps {
		if v.direct || v.primary != 0 {
			continue
		}
		// One delay per vantage point: its session to AS3356 fails once.
		lag := time.Duration(b.rng.IntN(90)) * time.Second
		back := time.Duration(b.rng.IntN(90)) * time.Second
		for ri, r := range b.regions {
			for pi, p := range r.Prefixes {
				k := slotKey{peer: vi, prefix: p}
				old := b.intended[k]
				t1 := b.at(30*time.Minute + lag + time.Duration(pi)*time.Second)
				t2 := b.at(60*time.Minute + back + time.Duration(pi)*time.Second)
				b.add(op{t: t1, kind: opSet, key: k, attrs: b.attrs(v, b.path(v, r, 1, prefixPrepends(pi)))})
				b.add(op{t: t2, kind: opSet, key: k, attrs: old})
				if s, ok := start[ri]; !ok || t1.Before(s) {
					start[ri] = t1
				}
				end[ri] = maxTime(end[ri], t2)
			}
		}
	}
	for ri, r := range b.regions {
		if _, ok := start[ri]; ok {
			b.s.Expected = append(b.s.Expected, Expected{Kind: route.KindPathShift, Provider: r.Provider, Region: r.Region, Start: start[ri], End: end[ri]})
		}
	}
	return b.build()
}
