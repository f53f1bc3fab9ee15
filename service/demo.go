package service

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"routewatch/mrtdata/scenario"
	"routewatch/ranges"
	"routewatch/route"
)

// demoSpeed compresses the demo's two hours of BGP time into about 30 s
// of wall-clock time, so a first run sees an event open and then resolve.
const demoSpeed = 240

func demoScenario() *scenario.Scenario {
	var regions []scenario.Region
	for _, name := range []string{"us-west-2", "us-west-1", "eu-west-1"} {
		r := scenario.Region{Provider: "aws", Region: name}
		for _, p := range demoAWSPrefixes[name] {
			r.Prefixes = append(r.Prefixes, netip.MustParsePrefix(p))
		}
		regions = append(regions, r)
	}
	return scenario.TEShift(scenario.Options{Seed: 1, Regions: regions})
}

// demoRanges are the regions of the demo scenario, published as if by
// their provider.
func demoRanges() *ranges.Set {
	sc := demoScenario()
	var entries []ranges.Entry
	for _, r := range sc.Regions {
		for _, p := range r.Prefixes {
			entries = append(entries, ranges.Entry{Prefix: p, Tag: route.Tag{Provider: r.Provider, Region: r.Region, Service: "DEMO"}})
		}
	}
	return ranges.NewSet(entries, map[string][]uint32{})
}

// feedDemo plays the demo scenario into the engine at demoSpeed.
func (s *Service) feedDemo(ctx context.Context) error {
	sc := demoScenario()
	s.logger.Info("demo: replaying a synthetic regional path shift and its restoration",
		"vantage_points", len(sc.Peers), "updates", len(sc.Updates), "bgp_time", sc.End.Sub(sc.Start), "speedup", demoSpeed,
		"try", "curl -s http://"+s.cfg.API.Listen+"/api/v1/events")
	if s.console != nil {
		fmt.Fprintf(s.console, "routewatch demo: web UI at %s\n", uiURL(s.cfg.API.Listen))
	}
	var last time.Time
	// The vantage points are up from the scenario's start, as the session
	// state of a real feed would say (the scenario has state changes only
	// for sessions that drop).
	b := route.Batch{}
	for _, p := range sc.Peers {
		b.States = append(b.States, route.PeerState{Time: sc.Start, Source: sc.Name, Peer: p, Old: route.StateIdle, New: route.StateEstablished})
	}
	flush := func() bool {
		if len(b.Updates) == 0 && len(b.States) == 0 {
			return true
		}
		select {
		case s.in <- b:
		case <-ctx.Done():
			return false
		}
		b = route.Batch{}
		return true
	}
	for _, it := range sc.Items() {
		t := itemTime(it)
		if !last.IsZero() && t.After(last) {
			if !flush() {
				return nil
			}
			select {
			case <-time.After(t.Sub(last) / demoSpeed):
			case <-ctx.Done():
				return nil
			}
		}
		last = t
		if it.Update != nil {
			b.Updates = append(b.Updates, *it.Update)
		} else {
			b.States = append(b.States, *it.State)
		}
	}
	flush()
	s.logger.Info("demo: scenario done; the service keeps running (Ctrl-C to stop)")
	return nil
}

func itemTime(it scenario.Item) time.Time {
	if it.Update != nil {
		return it.Update.Time
	}
	return it.State.Time
}

// uiURL is the web UI's address for a listen address (an unspecified host
// is reached on loopback).
func uiURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
