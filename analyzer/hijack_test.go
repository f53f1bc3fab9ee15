package analyzer_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

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
