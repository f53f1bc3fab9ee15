package pipeline

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"routewatch/analyzer"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
	"routewatch/rpki"
	"routewatch/store"
)

// TestEngineRPKI runs the Route 53 hijack through the engine with a ROA
// for AS16509 (205.251.192.0/21, maxLength 23): the stored routes of the
// /24s from AS10297 are invalid, the gauge counts them while they last,
// and the more_specific event carries the states in its counts and its
// summary.
func TestEngineRPKI(t *testing.T) {
	sc := scenario.Route53(scenario.Options{Seed: 3})
	table := rpki.NewTable([]rpki.VRP{{Prefix: netip.MustParsePrefix("205.251.192.0/21"), MaxLength: 23, ASN: 16509}})
	st := store.NewMemory(store.MemoryConfig{})
	reg := prometheus.NewRegistry()
	e := New(Deps{Tagger: func() Tagger { return tagFunc(sc.Tag) }, Validator: func() Validator { return table },
		Analyzer: analyzer.New(analyzer.DefaultConfig()), Routes: st, Events: st, Registerer: reg})
	in, jobs := make(chan route.Batch), make(chan Job)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, in, jobs, Config{DataClock: true}) }()
	send := func(b route.Batch, end bool, at time.Time) {
		t.Helper()
		j := Job{Batch: b, End: end, At: at, Done: make(chan error, 1)}
		jobs <- j
		if err := <-j.Done; err != nil {
			t.Fatal(err)
		}
	}
	gauge := func() float64 {
		return testutil.ToFloat64(e.m.invalidWatched)
	}
	mid := sc.Expected[0].Start.Add(time.Hour)
	var b route.Batch
	var last time.Time
	checked := false
	for _, it := range sc.Items() {
		if it.Update == nil {
			b.States = append(b.States, *it.State)
			continue
		}
		if !checked && it.Update.Time.After(mid) {
			send(b, false, time.Time{})
			b = route.Batch{}
			checked = true
			if g := gauge(); g != 35 {
				t.Errorf("invalid watched routes during the hijack: %v, want 35", g)
			}
		}
		b.Updates = append(b.Updates, *it.Update)
		last = it.Update.Time
	}
	send(b, true, last)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g := gauge(); g != 0 {
		t.Errorf("invalid watched routes after the hijack: %v, want 0", g)
	}
	if n := testutil.ToFloat64(e.m.rpkiInvalid); n != 35 {
		t.Errorf("invalid updates counted: %v, want 35", n)
	}
	evs, _, err := st.Events(context.Background(), store.EventFilter{Kind: route.KindMoreSpecific})
	if err != nil || len(evs) != 1 {
		t.Fatalf("more_specific events: %+v %v", evs, err)
	}
	ev := evs[0]
	if ev.RPKI == nil || *ev.RPKI != (route.ROVCounts{Invalid: 35}) {
		t.Errorf("event rpki %+v, want 35 invalid", ev.RPKI)
	}
	if !strings.Contains(ev.Summary, "; RPKI-invalid: the ROA authorises AS16509 only") {
		t.Errorf("summary %q", ev.Summary)
	}
}

func TestAnnotateRPKI(t *testing.T) {
	p := netip.MustParsePrefix("205.251.193.0/24")
	two := rpki.NewTable([]rpki.VRP{{Prefix: netip.MustParsePrefix("205.251.192.0/21"), MaxLength: 23, ASN: 16509},
		{Prefix: netip.MustParsePrefix("205.251.192.0/22"), MaxLength: 22, ASN: 14618}})
	for _, tc := range []struct {
		name string
		c    *route.ROVCounts
		v    Validator
		want string
	}{
		{"none", nil, two, "s"},
		{"all_invalid_two_roas", &route.ROVCounts{Invalid: 3}, two, "s; RPKI-invalid: the ROAs authorise AS14618, AS16509 only"},
		{"all_invalid_no_table", &route.ROVCounts{Invalid: 3}, nil, "s; RPKI-invalid"},
		{"mixed", &route.ROVCounts{Invalid: 2, Valid: 1, NotFound: 4}, two, "s; RPKI: 2 invalid, 1 valid, 4 not-found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := route.Event{Kind: route.KindMoreSpecific, Summary: "s", RPKI: tc.c, SamplePrefixes: []netip.Prefix{p}}
			annotateRPKI(&ev, tc.v)
			annotateRPKI(&ev, tc.v) // idempotent
			if ev.Summary != tc.want {
				t.Errorf("summary %q, want %q", ev.Summary, tc.want)
			}
		})
	}
}
