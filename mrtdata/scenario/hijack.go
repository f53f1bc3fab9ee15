package scenario

import (
	"net/netip"
	"time"

	"routewatch/route"
)

// seq is an AS_SEQUENCE path.
func seq(asns ...uint32) route.ASPath {
	return route.ASPath{{Type: route.ASSequence, ASNs: asns}}
}

// via is the path vantage point v sees through carrier to origin (the
// carrier left out when it is the vantage point itself).
func via(v vantage, carrier, origin uint32) route.ASPath {
	if v.peer.ASN == carrier {
		return seq(carrier, origin)
	}
	return seq(v.peer.ASN, carrier, origin)
}

// Route53 is the 2018-04-24 Amazon Route 53 hijack: the RIB has Route 53's
// /23s (205.251.192.0/23 … 205.251.198.0/23) from AS16509; from 11:05:41
// UTC AS10297 announces the /24 more-specifics 205.251.192.0/24, .193,
// .195, .197 and .199 via AS6939 (at five vantage points) and AS8560 (at
// two); they are withdrawn about two hours later.
func Route53(o Options) *Scenario {
	if o.Start.IsZero() {
		o.Start = time.Date(2018, 4, 24, 10, 0, 0, 0, time.UTC)
	}
	if o.Duration <= 0 {
		o.Duration = 4 * time.Hour
	}
	if len(o.Regions) == 0 {
		o.Regions = []Region{{Provider: "aws", Region: "GLOBAL", Prefixes: []netip.Prefix{
			netip.MustParsePrefix("205.251.192.0/23"), netip.MustParsePrefix("205.251.194.0/23"),
			netip.MustParsePrefix("205.251.196.0/23"), netip.MustParsePrefix("205.251.198.0/23"),
		}}}
	}
	b := newBuilder("route53", o)
	start := time.Date(2018, 4, 24, 11, 5, 41, 0, time.UTC)
	end := start.Add(2*time.Hour + 3*time.Minute)
	last := end
	for i, third := range []byte{192, 193, 195, 197, 199} {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{205, 251, third, 0}), 24)
		for vi, v := range b.vps[:min(7, len(b.vps))] {
			carrier := uint32(6939)
			if vi >= 5 {
				carrier = 8560
			}
			k := slotKey{peer: vi, prefix: p}
			t1 := start.Add(time.Duration(i*7+vi*3) * time.Second)
			t2 := end.Add(time.Duration(i*5+vi*2) * time.Second)
			b.add(op{t: t1, kind: opSet, key: k, attrs: b.attrs(v, via(v, carrier, 10297))})
			b.add(op{t: t2, kind: opSet, key: k})
			last = maxTime(last, t2)
		}
	}
	r := b.regions[0]
	b.s.Expected = append(b.s.Expected, Expected{Kind: route.KindMoreSpecific, Provider: r.Provider, Region: r.Region, Start: start, End: last})
	return b.build()
}

// OriginHijack: 30 minutes in, AS64666 announces six of the first
// region's prefixes (exact) at four vantage points for 20 minutes; then
// the provider's routes come back there.
func OriginHijack(o Options) *Scenario {
	b := newBuilder("origin_hijack", o)
	r := b.regions[0]
	start, end := b.at(30*time.Minute), b.at(30*time.Minute)
	first := max(len(b.vps)-4, 0)
	for pi, p := range r.Prefixes[:min(6, len(r.Prefixes))] {
		for vi, v := range b.vps[first:] {
			vi += first
			k := slotKey{peer: vi, prefix: p}
			t1 := b.at(30*time.Minute + time.Duration(pi*5+vi)*time.Second)
			t2 := b.at(50*time.Minute + time.Duration(pi*5+vi)*time.Second)
			b.add(op{t: t1, kind: opSet, key: k, attrs: b.attrs(v, seq(v.peer.ASN, 64666))})
			b.add(op{t: t2, kind: opSet, key: k, attrs: b.intended[k]})
			start, end = minTime(start, t1), maxTime(end, t2)
		}
	}
	b.s.Expected = append(b.s.Expected, Expected{Kind: route.KindOriginChange, Provider: r.Provider, Region: r.Region, Start: start, End: end})
	return b.build()
}

// Deaggregation: 30 minutes in, the provider announces two /25s of ten of
// the first region's /24s from its own AS at every vantage point and keeps
// them: no hijack, no event.
func Deaggregation(o Options) *Scenario {
	b := newBuilder("deaggregation", o)
	r := b.regions[0]
	for pi, p := range r.Prefixes[:min(10, len(r.Prefixes))] {
		if !p.Addr().Is4() || p.Bits() != 24 {
			continue
		}
		for half := range 2 {
			a := p.Addr().As4()
			a[3] = byte(half * 128)
			sub := netip.PrefixFrom(netip.AddrFrom4(a), 25)
			for vi, v := range b.vps {
				path := b.path(v, r, -1, 0)
				b.add(op{t: b.at(30*time.Minute + time.Duration(pi*3+vi)*time.Second), kind: opSet,
					key: slotKey{peer: vi, prefix: sub}, attrs: b.attrs(v, path)})
			}
		}
	}
	return b.build()
}

// RouteLeak: 30 minutes in, a small AS (AS64555, a customer of the
// provider) leaks 70% of the first region's routes to the first upstream:
// the vantage points behind that upstream see upstream → AS64555 →
// provider for 30 minutes. The origin is right: a path_shift, not a
// hijack.
func RouteLeak(o Options) *Scenario {
	b := newBuilder("route_leak", o)
	r := b.regions[0]
	n := int(float64(len(r.Prefixes))*0.7 + 0.5)
	start, end := b.at(30*time.Minute), b.at(30*time.Minute)
	for pi, p := range r.Prefixes[:n] {
		for vi, v := range b.vps {
			if v.direct || v.primary != 0 {
				continue
			}
			k := slotKey{peer: vi, prefix: p}
			old := b.intended[k]
			asns := append([]uint32(nil), old.ASPath[0].ASNs...)
			// … upstream, origin…: insert the leaker before the origin run.
			i := len(asns) - 1 - prefixPrepends(pi)
			asns = append(asns[:i:i], append([]uint32{64555}, asns[i:]...)...)
			t1 := b.at(30*time.Minute + time.Duration(b.rng.IntN(90))*time.Second)
			t2 := b.at(60*time.Minute + time.Duration(b.rng.IntN(90))*time.Second)
			b.add(op{t: t1, kind: opSet, key: k, attrs: b.attrs(v, seq(asns...))})
			b.add(op{t: t2, kind: opSet, key: k, attrs: old})
			start, end = minTime(start, t1), maxTime(end, t2)
		}
	}
	b.s.Expected = append(b.s.Expected, Expected{Kind: route.KindPathShift, Provider: r.Provider, Region: r.Region, Start: start, End: end})
	return b.build()
}

// OriginPrepend: 30 minutes in, the provider prepends its AS three more
// times on 70% of the first region's prefixes (every vantage point sees
// it) and stops 30 minutes later: a path_shift with the prepend signal.
func OriginPrepend(o Options) *Scenario {
	b := newBuilder("origin_prepend", o)
	r := b.regions[0]
	n := int(float64(len(r.Prefixes))*0.7 + 0.5)
	start, end := b.at(30*time.Minute), b.at(30*time.Minute)
	for pi, p := range r.Prefixes[:n] {
		for vi, v := range b.vps {
			k := slotKey{peer: vi, prefix: p}
			old := b.intended[k]
			t1 := b.at(30*time.Minute + time.Duration(b.rng.IntN(90))*time.Second)
			t2 := b.at(60*time.Minute + time.Duration(b.rng.IntN(90))*time.Second)
			b.add(op{t: t1, kind: opSet, key: k, attrs: b.attrs(v, b.path(v, r, -1, prefixPrepends(pi)+3))})
			b.add(op{t: t2, kind: opSet, key: k, attrs: old})
			start, end = minTime(start, t1), maxTime(end, t2)
		}
	}
	b.s.Expected = append(b.s.Expected, Expected{Kind: route.KindPathShift, Provider: r.Provider, Region: r.Region, Start: start, End: end})
	return b.build()
}

// LoneForeignOrigin: one vantage point alone sees ten of the first
// region's prefixes from AS64666 for 20 minutes (a local leak or a
// misconfigured peer): nothing under the defaults.
func LoneForeignOrigin(o Options) *Scenario {
	b := newBuilder("lone_foreign_origin", o)
	r := b.regions[0]
	vi := len(b.vps) - 1
	v := b.vps[vi]
	for pi, p := range r.Prefixes[:min(10, len(r.Prefixes))] {
		k := slotKey{peer: vi, prefix: p}
		b.add(op{t: b.at(30*time.Minute + time.Duration(pi)*time.Second), kind: opSet, key: k, attrs: b.attrs(v, seq(v.peer.ASN, 64666))})
		b.add(op{t: b.at(50*time.Minute + time.Duration(pi)*time.Second), kind: opSet, key: k, attrs: b.intended[k]})
	}
	return b.build()
}
