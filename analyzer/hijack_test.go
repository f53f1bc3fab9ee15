package analyzer_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"routewatch/analyzer"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

// hijackEvents runs a scenario and returns its events of kind k.
func eventsOf(t *testing.T, name string, cfg analyzer.Config, edit func(*route.Update), k route.EventKind) []route.Event {
	t.Helper()
	s, err := scenario.Build(name, scenario.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		for i := range s.Updates {
			edit(&s.Updates[i])
		}
	}
	evs, _ := run(t, s, cfg)
	var out []route.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func TestRoute53MoreSpecifics(t *testing.T) {
	evs := eventsOf(t, "route53", analyzer.DefaultConfig(), nil, route.KindMoreSpecific)
	if len(evs) != 1 {
		t.Fatalf("%d more_specific events, want 1:%s", len(evs), describe(evs))
	}
	e := evs[0]
	var want []netip.Prefix
	for _, third := range []byte{192, 193, 195, 197, 199} {
		want = append(want, netip.PrefixFrom(netip.AddrFrom4([4]byte{205, 251, third, 0}), 24))
	}
	if !slices.Equal(e.Origins, []uint32{10297}) || !slices.Equal(e.SamplePrefixes, want) || e.Prefixes != 5 || e.Peers != 7 || e.Sessions != 7 {
		t.Errorf("event %+v", e)
	}
	if e.Cause.ASN != 10297 || e.Cause.Side != route.SideUnknown {
		t.Errorf("cause %+v", e.Cause)
	}
	for _, carrier := range []string{"AS6939", "AS8560"} {
		if !strings.Contains(e.Summary, carrier) {
			t.Errorf("summary %q does not name carrier %s", e.Summary, carrier)
		}
	}
}

func TestHijackThresholdConfigurable(t *testing.T) {
	if evs := eventsOf(t, "lone_foreign_origin", analyzer.DefaultConfig(), nil, route.KindOriginChange); len(evs) != 0 {
		t.Errorf("one peer alone opened:%s", describe(evs))
	}
	cfg := analyzer.DefaultConfig()
	cfg.HijackMinPeers = 1
	if evs := eventsOf(t, "lone_foreign_origin", cfg, nil, route.KindOriginChange); len(evs) != 1 || evs[0].Peers != 1 {
		t.Errorf("hijack_min_peers 1: want one origin_change at one peer ASN:%s", describe(evs))
	}
	cfg = analyzer.DefaultConfig()
	cfg.HijackMinPeers = 5
	if evs := eventsOf(t, "origin_hijack", cfg, nil, route.KindOriginChange); len(evs) != 0 {
		t.Errorf("hijack_min_peers 5 with 4 peer ASNs opened:%s", describe(evs))
	}
}

func TestSuppressRPKIValid(t *testing.T) {
	valid := func(u *route.Update) {
		if u.Attrs != nil {
			if o, _ := u.Attrs.ASPath.Origin(); o == 64666 {
				u.RPKI = route.ROVValid
			}
		}
	}
	if evs := eventsOf(t, "origin_hijack", analyzer.DefaultConfig(), valid, route.KindOriginChange); len(evs) != 1 {
		t.Errorf("RPKI-valid routes without the option: %d events, want 1", len(evs))
	}
	cfg := analyzer.DefaultConfig()
	cfg.SuppressRPKIValid = true
	if evs := eventsOf(t, "origin_hijack", cfg, valid, route.KindOriginChange); len(evs) != 0 {
		t.Errorf("all routes RPKI-valid, suppressed: got%s", describe(evs))
	}
	if evs := eventsOf(t, "origin_hijack", cfg, nil, route.KindOriginChange); len(evs) != 1 {
		t.Errorf("not-validated routes with the option: %d events, want 1", len(evs))
	}
}

func TestProviderASNsLegitimate(t *testing.T) {
	cfg := analyzer.DefaultConfig()
	cfg.ProviderASNs = map[string][]uint32{"aws": {16509, 64666}}
	if evs := eventsOf(t, "origin_hijack", cfg, nil, route.KindOriginChange); len(evs) != 0 {
		t.Errorf("a configured provider ASN opened:%s", describe(evs))
	}
}

// TestTransitFailureOneIncident: AS3356 failing towards 8 vantage points
// shifts 40 groups of three providers at once: one incident, every event
// transit-side through AS3356.
func TestTransitFailureOneIncident(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			s, err := scenario.Build("transit_failure", scenario.Options{Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			evs, _ := run(t, s, analyzer.DefaultConfig())
			incidents := map[string]int{}
			for _, e := range evs {
				incidents[e.Incident]++
				if e.Cause.Side != route.SideTransit || e.Cause.ASN != 3356 {
					t.Errorf("%s %s/%s cause %+v, want transit AS3356", e.Kind, e.Provider, e.Region, e.Cause)
				}
			}
			if len(evs) != 40 || len(incidents) != 1 || incidents[""] != 0 {
				t.Errorf("%d events in incidents %v, want 40 in one", len(evs), incidents)
			}
		})
	}
}

func TestShiftSignals(t *testing.T) {
	tests := []struct {
		name string
		want route.SignalKind
		side route.CauseSide
	}{
		{"origin_prepend", route.SignalPrepend, route.SideProvider},
		{"route_leak", route.SignalUpstream, route.SideProvider},
		{"te_shift", route.SignalUpstream, route.SideProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := eventsOf(t, tt.name, analyzer.DefaultConfig(), nil, route.KindPathShift)
			if len(evs) != 1 {
				t.Fatalf("%d path_shift events, want 1", len(evs))
			}
			e := evs[0]
			if len(e.Signals) == 0 || e.Signals[0].Kind != tt.want && !slices.ContainsFunc(e.Signals, func(s route.Signal) bool { return s.Kind == tt.want && s.Count*2 >= e.Signals[0].Count }) {
				t.Errorf("signals %+v, want %s among the main ones", e.Signals, tt.want)
			}
			if e.Cause.Side != tt.side || e.Incident != "" || len(e.Origins) != 0 {
				t.Errorf("cause %+v incident %q origins %v", e.Cause, e.Incident, e.Origins)
			}
			if !strings.Contains(e.Summary, "signals:") || !strings.Contains(e.Summary, "looks like the") {
				t.Errorf("summary %q lacks signals or cause", e.Summary)
			}
		})
	}
}

// TestCommunityChange: correlated community changes without a path change
// open community_change only when Config.CommunityChanges is on.
func TestCommunityChange(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			w := newWorld(6, 40)
			cfg := analyzer.DefaultConfig()
			cfg.CommunityChanges = on
			a := analyzer.New(cfg)
			w.load(a, t0, true)
			a.Tick(t0.Add(10 * time.Minute))
			start := t0.Add(10 * time.Minute)
			for i := range 20 {
				for p := range 6 {
					at := path(w.peers[p].ASN, 3356, 16509)
					at.Communities = []route.Community{route.Community(3356<<16 | 666)}
					a.Observe(w.update(start.Add(time.Duration(i*6+p)*time.Second), p, i, at, false))
				}
			}
			a.Tick(start.Add(3 * time.Minute))
			evs := a.Events()
			if !on {
				if len(evs) != 0 {
					t.Errorf("off by default, got %v", kinds(evs))
				}
				return
			}
			if len(evs) != 1 || evs[0].Kind != route.KindCommunityChange || evs[0].Prefixes != 20 {
				t.Fatalf("got %+v", evs)
			}
			if len(evs[0].Signals) != 1 || evs[0].Signals[0].Kind != route.SignalCommunity {
				t.Errorf("signals %+v", evs[0].Signals)
			}
		})
	}
}
