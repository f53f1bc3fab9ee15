package rislive

import (
	"net/netip"
	"slices"
	"strconv"
)

// Ranges gives the watched ranges in force (ranges.Set via the service):
// the prefixes to cover and the origin ASNs to follow. A ranges refresh
// changes the answer; the client asks again periodically and resubscribes
// when the subscriptions it derives change.
type Ranges interface {
	Watched() (prefixes []netip.Prefix, originASNs []uint32)
}

// Subscription is the data of one ris_subscribe (RIS Live manual,
// "Client messages"). Zero fields are left out: RIS Live then does not
// filter on them.
type Subscription struct {
	Host         string `json:"host,omitempty"`
	Type         string `json:"type,omitempty"`
	Prefix       string `json:"prefix,omitempty"`
	MoreSpecific bool   `json:"moreSpecific,omitempty"`
	Path         string `json:"path,omitempty"`
}

// Beacons are the RIPE routing beacons (84.205.64.0/24–84.205.83.0/24,
// 2001:7fb:fe00::/48–2001:7fb:fe13::/48), as two covering subscriptions.
// They are announced and withdrawn on a fixed schedule, so the feed is
// never quiet for long when it is alive.
var beacons = []netip.Prefix{netip.MustParsePrefix("84.205.64.0/19"), netip.MustParsePrefix("2001:7fb:fe00::/43")}

// Subscription budget and floors: at most this many prefix
// subscriptions per address family, never wider than /8 (IPv4) or /16
// (IPv6).
const (
	maxPrefixSubs = 32
	minBits4      = 8
	minBits6      = 16
)

// Subscriptions derives the few, wide subscriptions that cover the
// watched ranges: the prefixes merged into less-specifics (with
// moreSpecific), closest first, until at most maxPrefixSubs per family
// remain or the /8 (/16) floor is reached, one
// `path: "<asn>$"` per watched origin ASN, the beacons, and RIS_PEER_STATE
// messages. With hosts, each is repeated per host (RIS filters them
// server-side); without, every RRC is heard. The result is sorted and
// deterministic, so two derivations compare equal when nothing changed.
func Subscriptions(prefixes []netip.Prefix, asns []uint32, hosts []string) []Subscription {
	var v4, v6 []netip.Prefix
	for _, p := range prefixes {
		switch {
		case !p.IsValid():
		case p.Addr().Is4():
			v4 = append(v4, p.Masked())
		default:
			v6 = append(v6, p.Masked())
		}
	}
	all := append(aggregate(v4, maxPrefixSubs, minBits4), aggregate(v6, maxPrefixSubs, minBits6)...)
	all = append(all, beacons...)
	all = removeCovered(all)
	var base []Subscription
	for _, p := range all {
		base = append(base, Subscription{Type: TypeUpdate, Prefix: p.String(), MoreSpecific: true})
	}
	as := slices.Clone(asns)
	slices.Sort(as)
	for _, a := range slices.Compact(as) {
		base = append(base, Subscription{Type: TypeUpdate, Path: strconv.FormatUint(uint64(a), 10) + "$"})
	}
	base = append(base, Subscription{Type: TypePeerState})
	if len(hosts) == 0 {
		return base
	}
	out := make([]Subscription, 0, len(base)*len(hosts))
	for _, h := range hosts {
		for _, s := range base {
			s.Host = h
			out = append(out, s)
		}
	}
	return out
}

// aggregate merges the closest prefixes first: level by level from the
// longest, every run of prefixes inside one supernet of that length
// becomes the supernet, until at most budget remain or minBits is reached.
// A prefix with no neighbour nearby stays as narrow as it is, so the
// subscriptions cover little more address space than the ranges.
func aggregate(ps []netip.Prefix, budget, minBits int) []netip.Prefix {
	ps = removeCovered(ps)
	longest := 0
	for _, p := range ps {
		longest = max(longest, p.Bits())
	}
	for l := longest - 1; len(ps) > budget && l >= minBits; l-- {
		out := ps[:0]
		for i := 0; i < len(ps); {
			j := i + 1
			if ps[i].Bits() > l {
				super, _ := ps[i].Addr().Prefix(l)
				for j < len(ps) && ps[j].Bits() >= l && super.Contains(ps[j].Addr()) {
					j++
				}
				if j-i > 1 {
					out = append(out, super)
					i = j
					continue
				}
			}
			out = append(out, ps[i])
			i = j
		}
		ps = out
	}
	return ps
}

// removeCovered sorts ps and drops duplicates and prefixes inside another.
func removeCovered(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	out := ps[:0]
	for _, p := range ps {
		// Sorted by address then length: a covering prefix comes before
		// everything inside it, and inside prefixes follow it directly.
		if n := len(out); n > 0 && out[n-1].Addr().Is4() == p.Addr().Is4() && out[n-1].Contains(p.Addr()) && out[n-1].Bits() <= p.Bits() {
			continue
		}
		out = append(out, p)
	}
	return out
}
