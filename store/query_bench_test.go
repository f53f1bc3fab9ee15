package store

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"routewatch/route"
)

// benchEventStore holds n events over 3 providers x 4 regions and 3
// kinds, one a minute, three in four resolved (as bench/apiserve loads).
func benchEventStore(b *testing.B, n int) *Memory {
	s := NewMemory(MemoryConfig{})
	kinds := []route.EventKind{route.KindPathShift, route.KindWithdrawal, route.KindPeerDown}
	provs := []string{"aws", "gcp", "azure"}
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "ap-south-1"}
	evs := make([]route.Event, n)
	for i := range evs {
		e := route.Event{ID: fmt.Sprintf("bench-%05d", i), Kind: kinds[i%len(kinds)], Start: t0.Add(time.Duration(i) * time.Minute),
			Provider: provs[i%len(provs)], Region: regions[i/3%len(regions)]}
		if i%4 != 0 {
			end := e.Start.Add(20 * time.Minute)
			e.End = &end
		}
		evs[i] = e
	}
	if err := s.PutEvents(context.Background(), evs); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkMemoryEvents: one 20-event page per filter set of
// bench/apiwrk/events.lua over 2,000 events.
func BenchmarkMemoryEvents(b *testing.B) {
	s := benchEventStore(b, 2000)
	filters := []struct {
		name string
		f    EventFilter
	}{
		{"all", EventFilter{}},
		{"provider_region", EventFilter{Provider: "aws", Region: "us-east-1"}},
		{"open", EventFilter{Status: StatusOpen}},
		{"kind_time", EventFilter{Kind: route.KindPathShift, From: t0.Add(10 * time.Hour), To: t0.Add(20 * time.Hour)}},
		{"provider_resolved", EventFilter{Provider: "aws", Status: StatusResolved}},
		{"region_kind", EventFilter{Region: "eu-west-1", Kind: route.KindWithdrawal}},
	}
	for _, tc := range filters {
		b.Run(tc.name, func(b *testing.B) {
			f := tc.f
			f.Page.Limit = 20
			for b.Loop() {
				if es, _, err := s.Events(context.Background(), f); err != nil || len(es) == 0 {
					b.Fatalf("%d events, %v", len(es), err)
				}
			}
		})
	}
}

// benchRouteStore holds n /24s inside 10.0.0.0/8, one path each.
func benchRouteStore(b *testing.B, n int) *Memory {
	s := NewMemory(MemoryConfig{})
	ups := make([]route.Update, n)
	for i := range ups {
		ups[i] = ann(1, peerA, fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256), awsW2, 3333, 16509)
	}
	if err := s.ApplyUpdates(context.Background(), ups); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkMemoryCovered: the first page (100) of 0.0.0.0/0 covered over
// 10,000 prefixes, whole-table Routes against RoutesPage, and a page deep
// in the table (resumed from a cursor).
func BenchmarkMemoryCovered(b *testing.B) {
	s := benchRouteStore(b, 10000)
	ctx := context.Background()
	all := netip.MustParsePrefix("0.0.0.0/0")
	b.Run("routes_whole_table", func(b *testing.B) {
		for b.Loop() {
			if rs, err := s.Routes(ctx, all, MatchCovered); err != nil || len(rs) != 10000 {
				b.Fatal(len(rs), err)
			}
		}
	})
	b.Run("routes_page_first", func(b *testing.B) {
		for b.Loop() {
			if rs, _, err := s.RoutesPage(ctx, all, MatchCovered, Page{Limit: 100}); err != nil || len(rs) != 100 {
				b.Fatal(len(rs), err)
			}
		}
	})
	b.Run("routes_page_deep", func(b *testing.B) {
		cur := routesCursor(netip.MustParsePrefix("10.30.0.0/24"))
		for b.Loop() {
			if rs, _, err := s.RoutesPage(ctx, all, MatchCovered, Page{Limit: 100, Cursor: cur}); err != nil || len(rs) != 100 {
				b.Fatal(len(rs), err)
			}
		}
	})
}
