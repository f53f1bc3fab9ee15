package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

// TestReplayRPKI replays the Route 53 hijack with VRPs from a file named
// by the config's rpki section: the /24s from AS10297 are RPKI-invalid
// under a ROA for AS16509, and a ROA authorising AS10297 with
// suppress_rpki_valid suppresses the event.
func TestReplayRPKI(t *testing.T) {
	s := scenario.Route53(scenario.Options{Seed: 3})
	mrtPath, rangesPath := writeScenario(t, s)
	for _, tc := range []struct {
		name     string
		vrps     string // "" no rpki section
		suppress bool
		want     *route.ROVCounts // nil: no RPKI counts; zero Invalid with want == nil means no event
		summary  string
		events   int
	}{
		{name: "no_vrps", events: 1},
		{name: "invalid", vrps: `{"roas":[{"prefix":"205.251.192.0/21","maxLength":23,"asn":"AS16509"}]}`,
			want: &route.ROVCounts{Invalid: 35}, summary: "; RPKI-invalid: the ROA authorises AS16509 only", events: 1},
		{name: "not_found", vrps: `{"roas":[{"prefix":"192.0.2.0/24","maxLength":24,"asn":"AS64500"}]}`,
			want: &route.ROVCounts{NotFound: 35}, summary: "; RPKI: 35 not-found", events: 1},
		{name: "valid_not_suppressed", vrps: `{"roas":[{"prefix":"205.251.192.0/21","maxLength":24,"asn":10297}]}`,
			want: &route.ROVCounts{Valid: 35}, summary: "; RPKI: 35 valid", events: 1},
		{name: "valid_suppressed", vrps: `{"roas":[{"prefix":"205.251.192.0/21","maxLength":24,"asn":10297}]}`,
			suppress: true, events: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var cfg strings.Builder
			if tc.vrps != "" {
				vp := filepath.Join(dir, "vrps.json")
				if err := os.WriteFile(vp, []byte(tc.vrps), 0o644); err != nil {
					t.Fatal(err)
				}
				cfg.WriteString("rpki:\n  vrps: " + vp + "\n")
			}
			if tc.suppress {
				cfg.WriteString("analyzer:\n  suppress_rpki_valid: true\n")
			}
			cp := filepath.Join(dir, "routewatch.yaml")
			if err := os.WriteFile(cp, []byte(cfg.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, "replay", "--format", "json", "--config", cp, "--ranges", rangesPath, mrtPath)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			evs := decodeEvents(t, out)
			if len(evs) != tc.events {
				t.Fatalf("%d events, want %d:\n%s", len(evs), tc.events, out)
			}
			if tc.events == 0 {
				if !strings.Contains(errOut, "0 events (") {
					t.Errorf("summary: %q", errOut)
				}
				return
			}
			e := evs[0]
			if e.Kind != route.KindMoreSpecific {
				t.Fatalf("kind %s, want more_specific", e.Kind)
			}
			if !strings.Contains(errOut, "1 more_specific") {
				t.Errorf("summary line does not count more_specific: %q", errOut)
			}
			switch {
			case tc.want == nil && e.RPKI != nil:
				t.Errorf("rpki %+v, want none", *e.RPKI)
			case tc.want != nil && (e.RPKI == nil || *e.RPKI != *tc.want):
				t.Errorf("rpki %+v, want %+v", e.RPKI, *tc.want)
			}
			if tc.summary != "" && !strings.HasSuffix(strings.SplitN(e.Summary, "; gone after", 2)[0], tc.summary) &&
				!strings.Contains(e.Summary, tc.summary) {
				t.Errorf("summary %q, want %q in it", e.Summary, tc.summary)
			}
			if tc.summary == "" && strings.Contains(e.Summary, "RPKI") {
				t.Errorf("summary %q mentions RPKI", e.Summary)
			}
		})
	}
}

// TestReplayRPKIBadVRPs: a malformed VRP file is a clear error naming the
// entry, before any work.
func TestReplayRPKIBadVRPs(t *testing.T) {
	s := scenario.Route53(scenario.Options{Seed: 3})
	mrtPath, rangesPath := writeScenario(t, s)
	dir := t.TempDir()
	vp := filepath.Join(dir, "vrps.json")
	if err := os.WriteFile(vp, []byte(`{"roas":[{"prefix":"205.251.192.0/21","maxLength":23,"asn":"AS16509"},{"prefix":"bogus","maxLength":24,"asn":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "routewatch.yaml")
	if err := os.WriteFile(cp, []byte("rpki:\n  vrps: "+vp+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "replay", "--config", cp, "--ranges", rangesPath, mrtPath)
	if code != exitFail || !strings.Contains(errOut, "roas[1]") {
		t.Errorf("exit %d, stderr %q: want a failure naming roas[1]", code, errOut)
	}
}
