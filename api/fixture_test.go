package api

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"routewatch/route"
)

// rangeMatcher is a small real Matcher over a fixed list of published
// ranges (ranges.Set does the same with a trie over the full lists).
type rangeMatcher []struct {
	p   netip.Prefix
	tag route.Tag
}

func (m rangeMatcher) Match(p netip.Prefix) []route.Tag {
	var out []route.Tag
	for _, r := range m {
		t := r.tag
		switch {
		case r.p == p:
			t.Match = route.MatchEqual
		case p.Bits() < r.p.Bits() && p.Contains(r.p.Addr()):
			t.Match = route.MatchCovering
		case r.p.Bits() < p.Bits() && r.p.Contains(p.Addr()):
			t.Match = route.MatchCovered
		default:
			continue
		}
		out = append(out, t)
	}
	return out
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

var testMatcher = rangeMatcher{
	{mustPrefix("3.5.140.0/22"), route.Tag{Provider: "aws", Region: "ap-northeast-2", Service: "AMAZON", BorderGroup: "ap-northeast-2"}},
	{mustPrefix("52.94.0.0/22"), route.Tag{Provider: "aws", Region: "us-east-1", Service: "AMAZON", BorderGroup: "us-east-1"}},
	{mustPrefix("52.94.4.0/24"), route.Tag{Provider: "aws", Region: "us-east-1", Service: "EC2", BorderGroup: "us-east-1"}},
	{mustPrefix("2600:1f18::/36"), route.Tag{Provider: "aws", Region: "us-east-1", Service: "EC2", BorderGroup: "us-east-1"}},
	{mustPrefix("104.16.0.0/13"), route.Tag{Provider: "cloudflare"}},
}

// Fixture times: a path shift of us-east-1 from AS3356 to AS2914 at
// t0+10m, restored at t0+40m; a peer going down at t0+20m.
var (
	t0      = time.Date(2021, 12, 15, 15, 0, 0, 0, time.UTC)
	testNow = t0.Add(2 * time.Hour)
)

var (
	peerA = route.Peer{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 3333}
	peerB = route.Peer{Addr: netip.MustParseAddr("198.51.100.3"), ASN: 2914}
	peerC = route.Peer{Addr: netip.MustParseAddr("2001:db8::9"), ASN: 6939}
)

func seqPath(asns ...uint32) route.ASPath {
	return route.ASPath{{Type: route.ASSequence, ASNs: asns}}
}

// loadFixture fills a store through its public contract, the way the
// serve pipeline does: tagged updates, peer states, events.
func loadFixture(t testing.TB, st interface {
	ApplyUpdates(context.Context, []route.Update) error
	ApplyPeerStates(context.Context, []route.PeerState) error
	PutEvents(context.Context, []route.Event) error
}) {
	t.Helper()
	ctx := context.Background()
	est := func(p route.Peer, at time.Time) route.PeerState {
		return route.PeerState{Time: at, Source: "bgp", Peer: p, Old: route.StateOpenConfirm, New: route.StateEstablished}
	}
	if err := st.ApplyPeerStates(ctx, []route.PeerState{est(peerA, t0.Add(-time.Hour)), est(peerB, t0.Add(-time.Hour)), est(peerC, t0.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	via3356 := func(nh string, peer uint32) *route.Attrs {
		return &route.Attrs{
			ASPath: seqPath(peer, 3356, 16509), Origin: route.OriginIGP, NextHop: netip.MustParseAddr(nh),
			HasMED: true, MED: 10, Communities: []route.Community{3356<<16 | 100},
		}
	}
	via2914 := func(nh string, peer uint32) *route.Attrs {
		return &route.Attrs{
			ASPath: seqPath(peer, 2914, 16509, 16509), Origin: route.OriginIGP, NextHop: netip.MustParseAddr(nh),
			LargeCommunities: []route.LargeCommunity{{Global: 2914, Local1: 410, Local2: 1}},
		}
	}
	tagged := func(u route.Update) route.Update {
		u.Source = "bgp"
		u.Tags = testMatcher.Match(u.Prefix)
		return u
	}
	ann := func(at time.Time, p route.Peer, pfx string, a *route.Attrs) route.Update {
		return tagged(route.Update{Time: at, Peer: p, Prefix: mustPrefix(pfx), Attrs: a})
	}
	wd := func(at time.Time, p route.Peer, pfx string) route.Update {
		return tagged(route.Update{Time: at, Peer: p, Prefix: mustPrefix(pfx), Withdraw: true})
	}
	ups := []route.Update{
		ann(t0, peerA, "3.5.140.0/22", via3356("192.0.2.1", 3333)),
		ann(t0, peerB, "3.5.140.0/22", &route.Attrs{ASPath: seqPath(2914, 16509), NextHop: netip.MustParseAddr("198.51.100.3")}),
		ann(t0, peerA, "3.5.140.0/24", via3356("192.0.2.1", 3333)),
		ann(t0, peerA, "52.94.0.0/22", via3356("192.0.2.1", 3333)),
		ann(t0, peerB, "52.94.0.0/22", via3356("198.51.100.3", 2914)),
		ann(t0, peerA, "52.94.4.0/24", via3356("192.0.2.1", 3333)),
		ann(t0, peerC, "2600:1f18::/36", &route.Attrs{
			ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{6939, 3356}}, {Type: route.ASSet, ASNs: []uint32{16509, 14618}}},
			Origin: route.OriginIncomplete, NextHop: netip.MustParseAddr("2001:db8::9"),
			HasLocalPref: true, LocalPref: 100, AtomicAggregate: true,
			Aggregator: &route.Aggregator{ASN: 16509, Addr: netip.MustParseAddr("10.0.0.1")},
		}),
		ann(t0, peerA, "104.16.0.0/13", &route.Attrs{ASPath: seqPath(3333, 13335), NextHop: netip.MustParseAddr("192.0.2.1")}),
		// The shift.
		ann(t0.Add(10*time.Minute), peerA, "52.94.0.0/22", via2914("192.0.2.1", 3333)),
		ann(t0.Add(10*time.Minute), peerA, "52.94.4.0/24", via2914("192.0.2.1", 3333)),
		ann(t0.Add(11*time.Minute), peerB, "52.94.0.0/22", via2914("198.51.100.3", 2914)),
		wd(t0.Add(12*time.Minute), peerA, "3.5.140.0/24"),
		// Restoration.
		ann(t0.Add(40*time.Minute), peerA, "52.94.0.0/22", via3356("192.0.2.1", 3333)),
	}
	if err := st.ApplyUpdates(ctx, ups); err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyPeerStates(ctx, []route.PeerState{{
		Time: t0.Add(20 * time.Minute), Source: "bgp", Peer: peerC, Old: route.StateEstablished, New: route.StateIdle, Reason: "hold timer expired",
	}}); err != nil {
		t.Fatal(err)
	}
	end := t0.Add(40 * time.Minute)
	evs := []route.Event{
		{
			ID: "path_shift-aws-us-east-1-20211215T151000Z", Kind: route.KindPathShift, Provider: "aws", Region: "us-east-1",
			Start: t0.Add(10 * time.Minute), Detected: t0.Add(11 * time.Minute), End: &end, Prefixes: 2, Peers: 2,
			Summary:       "aws us-east-1: 2 prefixes moved from AS3356 to AS2914 at 2 peers",
			Transitions:   []route.Transition{{FromUpstream: 3356, ToUpstream: 2914, Prefixes: 2}},
			AffectedPeers: []route.Peer{peerA, peerB}, SamplePrefixes: []netip.Prefix{mustPrefix("52.94.0.0/22"), mustPrefix("52.94.4.0/24")},
			Incident: "inc-3356", Cause: route.Cause{Side: route.SideTransit, ASN: 3356, Reason: "AS3356 left the paths of most changed routes here and of 1 other groups (aws) in the same window"},
		},
		{
			ID: "withdrawal-aws-ap-northeast-2-20211215T151200Z", Kind: route.KindWithdrawal, Provider: "aws", Region: "ap-northeast-2",
			Start: t0.Add(12 * time.Minute), Detected: t0.Add(13 * time.Minute), Prefixes: 1, Peers: 1,
			Summary:       "aws ap-northeast-2: 1 prefix withdrawn at 1 peer",
			AffectedPeers: []route.Peer{peerA}, SamplePrefixes: []netip.Prefix{mustPrefix("3.5.140.0/24")},
			Incident: "inc-3356", Cause: route.Cause{Side: route.SideTransit, ASN: 3356, Reason: "AS3356 left the paths of most changed routes here and of 1 other groups (aws) in the same window"},
		},
		{
			ID: "peer_down-2001_db8__9-20211215T152000Z", Kind: route.KindPeerDown,
			Start: t0.Add(20 * time.Minute), Detected: t0.Add(20 * time.Minute), Prefixes: 1, Peers: 1,
			Summary: "peer 2001:db8::9 AS6939 down: hold timer expired", AffectedPeers: []route.Peer{peerC},
		},
	}
	if err := st.PutEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
}
