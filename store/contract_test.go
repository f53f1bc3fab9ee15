package store

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"routewatch/route"
)

// backend builds an empty store with the given retention; each backend
// test file registers one and runs contractSuite against it.
type backend func(t *testing.T, ret Retention) Store

var t0 = time.Date(2021, 12, 15, 15, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

var (
	peerA = route.Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 3333}
	peerB = route.Peer{Addr: netip.MustParseAddr("198.51.100.2"), ASN: 2914}
	peerC = route.Peer{Addr: netip.MustParseAddr("2001:db8::3"), ASN: 6939}
	// Vantage points sharing peerA's address (and ASN): one RIS feeder at
	// two collectors, one BMP neighbor in two RIB views of one router.
	peerARRC00   = route.Peer{Addr: peerA.Addr, ASN: peerA.ASN, Collector: "rrc00"}
	peerARRC01   = route.Peer{Addr: peerA.Addr, ASN: peerA.ASN, Collector: "rrc01"}
	peerABMPPre  = route.Peer{Addr: peerA.Addr, ASN: peerA.ASN, Router: "192.0.2.9", Distinguisher: 65000<<32 | 7}
	peerABMPPost = route.Peer{Addr: peerA.Addr, ASN: peerA.ASN, Router: "192.0.2.9", Distinguisher: 65000<<32 | 7, View: route.ViewAdjRIBInPost}
	awsW2        = []route.Tag{{Provider: "aws", Region: "us-west-2", Service: "EC2", Match: route.MatchEqual}}
	gcpE1        = []route.Tag{{Provider: "gcp", Region: "us-east1", Match: route.MatchEqual}}
)

func path(asns ...uint32) *route.Attrs {
	return &route.Attrs{
		ASPath:      route.ASPath{{Type: route.ASSequence, ASNs: asns}},
		NextHop:     netip.MustParseAddr("198.51.100.254"),
		Communities: []route.Community{65000<<16 | 1},
	}
}

func ann(sec int, p route.Peer, pfx string, tags []route.Tag, asns ...uint32) route.Update {
	return route.Update{Time: at(sec), Source: "test", Peer: p, Prefix: netip.MustParsePrefix(pfx), Attrs: path(asns...), Tags: tags}
}

func wd(sec int, p route.Peer, pfx string) route.Update {
	return route.Update{Time: at(sec), Source: "test", Peer: p, Prefix: netip.MustParsePrefix(pfx), Withdraw: true}
}

func state(sec int, p route.Peer, old, nw route.SessionState) route.PeerState {
	return route.PeerState{Time: at(sec), Source: "test", Peer: p, Old: old, New: nw}
}

func mustApply(t *testing.T, s Store, ups ...route.Update) {
	t.Helper()
	if err := s.ApplyUpdates(context.Background(), ups); err != nil {
		t.Fatalf("ApplyUpdates: %v", err)
	}
}

func mustStates(t *testing.T, s Store, sts ...route.PeerState) {
	t.Helper()
	if err := s.ApplyPeerStates(context.Background(), sts); err != nil {
		t.Fatalf("ApplyPeerStates: %v", err)
	}
}

func routesOf(t *testing.T, s Store, pfx string, m Match) []PrefixRoutes {
	t.Helper()
	rs, err := s.Routes(context.Background(), netip.MustParsePrefix(pfx), m)
	if err != nil {
		t.Fatalf("Routes(%s): %v", pfx, err)
	}
	return rs
}

func prefixesOf(rs []PrefixRoutes) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Prefix.String())
	}
	return out
}

func history(t *testing.T, s Store, pfx string) []HistoryEntry {
	t.Helper()
	var all []HistoryEntry
	cur := ""
	for {
		hs, next, err := s.History(context.Background(), netip.MustParsePrefix(pfx), Page{Cursor: cur, Limit: 2})
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		all = append(all, hs...)
		if next == "" {
			return all
		}
		cur = next
	}
}

// contractSuite runs every contract function on a fresh store of the
// backend; each is a named function, so a failure points at it.
func contractSuite(t *testing.T, mk backend) {
	tests := []struct {
		name string
		ret  Retention
		run  func(t *testing.T, s Store)
	}{
		{"announce change withdraw and idempotent reapply", Retention{}, contractAnnounceChangeWithdrawAndIdempotentReapply},
		{"add-path ids are separate paths", Retention{}, contractAddPathIdsAreSeparatePaths},
		{"covering and covered lookups", Retention{}, contractCoveringAndCoveredLookups},
		{"routes page", Retention{}, contractRoutesPage},
		{"routes at a past time", Retention{}, contractRoutesAtAPastTime},
		{"history bounded by count", Retention{HistoryCount: 3}, contractHistoryBoundedByCount},
		{"history bounded by age", Retention{HistoryAge: time.Minute}, contractHistoryBoundedByAge},
		{"history cursor", Retention{}, contractHistoryCursor},
		{"prefixes by asn", Retention{}, contractPrefixesByAsn},
		{"peer sessions and staleness", Retention{}, contractPeerSessionsAndStaleness},
		{"two collectors same feeder", Retention{}, contractTwoCollectorsSameFeeder},
		{"bmp views same neighbor", Retention{}, contractBMPViewsSameNeighbor},
		{"session down of one vantage point", Retention{}, contractSessionDownOfOneVantagePoint},
		{"bmp router descr", Retention{}, contractBMPRouterDescr},
		{"versions follow every change", Retention{}, contractVersionsFollowEveryChange},
		{"same-second flap redelivered", Retention{}, contractSameSecondFlapRedelivered},
		{"group summaries", Retention{}, contractGroupSummaries},
		{"group prefixes", Retention{}, contractGroupPrefixes},
		{"events", Retention{ResolvedEvents: 3}, contractEvents},
		{"outbox", Retention{FinishedDeliveries: 10}, contractOutbox},
		{"outbox lease is exclusive under concurrency", Retention{}, contractOutboxLeaseIsExclusiveUnderConcurrency},
		{"concurrent writers", Retention{}, contractConcurrentWriters},
		{"bad input is an error", Retention{}, contractBadInputIsAnError},
		{"checkpoints", Retention{}, contractCheckpoints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, mk(t, tt.ret))
		})
	}
}

func TestMemoryContract(t *testing.T) {
	contractSuite(t, func(t *testing.T, ret Retention) Store {
		s := NewMemory(MemoryConfig{Retention: ret})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// contractBadInputIsAnError: bad input is an error.
func contractBadInputIsAnError(t *testing.T, s Store) {
	ctx := context.Background()
	bad := []route.Update{
		{Time: at(1), Peer: peerA, Attrs: path(1)},
		{Time: at(1), Prefix: netip.MustParsePrefix("192.0.2.0/24"), Attrs: path(1)},
		{Time: at(1), Peer: peerA, Prefix: netip.MustParsePrefix("192.0.2.0/24")},
	}
	for i, u := range bad {
		if err := s.ApplyUpdates(ctx, []route.Update{u}); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad update %d: err = %v want ErrInvalid", i, err)
		}
	}
	if _, err := s.Routes(ctx, netip.Prefix{}, MatchExact); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid prefix: %v", err)
	}
	if err := s.PutEvents(ctx, []route.Event{{}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("event without id: %v", err)
	}
	if err := s.Enqueue(ctx, []Delivery{{}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("delivery without id: %v", err)
	}
	if err := s.ApplyPeerStates(ctx, []route.PeerState{{}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("state without peer: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
