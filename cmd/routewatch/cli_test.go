package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/mrtdata"
	"routewatch/route"
	"routewatch/service"
)

// TestReplayOutOfOrder: the README's 2021 fixture followed by a 2016 RIS
// file is an error naming both, and nothing of 2016 is re-dated into the
// 2021 stream.
func TestReplayOutOfOrder(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "testdata", "scenarios")
	fixture := filepath.Join(dir, "te_shift.mrt.gz")
	old := testenv.SharedFile(t, "mrt/updates.20160811.1600.gz")
	code, out, errOut := runCLI(t, "replay", "--format", "json", "--ranges", filepath.Join(dir, "te_shift.ip-ranges.json"), fixture, old)
	if code != exitFail {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitFail, errOut)
	}
	for _, want := range []string{"out of time order", "te_shift.mrt.gz", "updates.20160811.1600.gz", "oldest first"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	for _, e := range decodeEvents(t, out) {
		if e.Start.Year() != 2021 || (e.End != nil && e.End.Year() != 2021) {
			t.Errorf("event dated outside the 2021 input: %+v", e)
		}
	}
	code, want, errOut := runCLI(t, "replay", "-q", "--format", "json", "--ranges", filepath.Join(dir, "te_shift.ip-ranges.json"), old, fixture)
	if code != exitOK {
		t.Errorf("oldest first: exit %d: %s", code, errOut)
	}
	// --sort merges by record time: the same events as oldest first.
	code, got, errOut := runCLI(t, "replay", "-q", "--sort", "--format", "json", "--ranges", filepath.Join(dir, "te_shift.ip-ranges.json"), fixture, old)
	if code != exitOK {
		t.Errorf("--sort: exit %d: %s", code, errOut)
	}
	if got != want || len(decodeEvents(t, got)) == 0 {
		t.Errorf("--sort events differ from oldest first:\n%s\nwant\n%s", got, want)
	}
}

// commands lists every command with the arguments that name it.
var commands = [][]string{
	{"serve"}, {"replay"}, {"mrt", "dump"}, {"ranges"}, {"config", "check"}, {"healthcheck"}, {"version"},
}

// TestHelpEveryCommand: --help and -h print the command's usage on stdout
// and exit 0.
func TestHelpEveryCommand(t *testing.T) {
	for _, cmd := range commands {
		for _, h := range []string{"--help", "-h"} {
			t.Run(strings.Join(cmd, " ")+" "+h, func(t *testing.T) {
				code, out, errOut := runCLI(t, append(slices.Clone(cmd), h)...)
				if code != exitOK {
					t.Fatalf("exit %d, want 0; stderr %s", code, errOut)
				}
				if want := "usage: routewatch " + strings.Join(cmd, " "); !strings.Contains(out, want) {
					t.Errorf("stdout %q does not start with %q", out, want)
				}
			})
		}
	}
}

// TestUsageListsEveryFlag: the top-level usage names every flag of every
// command.
func TestUsageListsEveryFlag(t *testing.T) {
	_, top, _ := runCLI(t, "--help")
	flagLine := regexp.MustCompile(`(?m)^  -(\S+)`)
	for _, cmd := range commands {
		_, out, _ := runCLI(t, append(slices.Clone(cmd), "--help")...)
		for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
			if !regexp.MustCompile(`\[-{1,2}` + regexp.QuoteMeta(m[1]) + `\b`).MatchString(top) {
				t.Errorf("top-level usage does not list %s -%s:\n%s", strings.Join(cmd, " "), m[1], top)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, errOut := runCLI(t, "version")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"routewatch ", "commit ", "go         go1.", "gobgp      v4."} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

// TestReplayFailedInputs: an empty file is not an MRT archive, and a
// failed input is not also reported as "no events".
func TestReplayFailedInputs(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.mrt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	raw := testenv.Gunzip(t, filepath.Join(testenv.RepoRoot(t), "testdata", "scenarios", "te_shift.mrt.gz"))
	cut := filepath.Join(dir, "cut.mrt")
	if err := os.WriteFile(cut, raw[:len(raw)/3+5], 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, file, errText string }{
		{"empty", empty, "not an MRT file (empty input)"},
		{"truncated", cut, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "replay", tt.file)
			if code != exitFail || !strings.Contains(errOut, tt.errText) {
				t.Errorf("exit %d, stderr %q; want exit 1 mentioning %q", code, errOut, tt.errText)
			}
			if strings.Contains(out, "no events") {
				t.Errorf("stdout says %q after a failed input", out)
			}
		})
	}
}

func TestEventsTableEndDate(t *testing.T) {
	start := time.Date(2021, 12, 15, 23, 50, 0, 0, time.UTC)
	sameDay, nextDay := start.Add(5*time.Minute), start.Add(20*time.Minute)
	var b strings.Builder
	if err := writeEventsTable(&b, []route.Event{
		{Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2", Start: start, End: &sameDay},
		{Kind: route.KindWithdrawal, Provider: "aws", Region: "us-east-1", Start: start, End: &nextDay},
	}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[1], "2021-12-15 23:50:00  23:55:00") {
		t.Errorf("same day: %q", lines[1])
	}
	if !strings.Contains(lines[2], "2021-12-15 23:50:00  2021-12-16 00:10:00") {
		t.Errorf("next day: %q", lines[2])
	}
}

func TestRecordErrorsList(t *testing.T) {
	var b strings.Builder
	r := recordErrors{w: &b, prefix: "routewatch replay"}
	for i := range 25 {
		r.report(&mrtdata.RecordError{File: "x.mrt", Index: int64(i), Kind: "corrupt", Reason: "bad"})
	}
	r.finish()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != maxReportedErrors+1 || lines[len(lines)-1] != "routewatch replay: … 5 more corrupt records (25 in all)" {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

// TestProgressFirstSample: the bar sees no bytes until progressHold has
// passed, so its first rate is over a real interval.
func TestProgressFirstSample(t *testing.T) {
	now := time.Unix(1700000000, 0)
	bar := newBar(io.Discard, -1, "stdin")
	p := newProgressReader(io.NopCloser(bytes.NewReader(make([]byte, 1<<20))), bar, func() time.Time { return now })
	buf := make([]byte, 256<<10)
	if _, err := p.Read(buf); err != nil {
		t.Fatal(err)
	}
	if n := bar.State().CurrentNum; n != 0 {
		t.Fatalf("bar shows %d bytes before the hold", n)
	}
	now = now.Add(progressHold)
	if _, err := p.Read(buf); err != nil {
		t.Fatal(err)
	}
	if n := bar.State().CurrentBytes; n != 512<<10 {
		t.Fatalf("bar shows %v bytes, want both reads", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServeFlags: flags replace file and environment settings.
func TestServeFlags(t *testing.T) {
	cfg, err := service.LoadFile("", func(k string) string {
		if k == "ROUTEWATCH_API_LISTEN" {
			return "127.0.0.1:18090"
		}
		return ""
	})
	if err != nil || cfg.API.Listen != "127.0.0.1:18090" {
		t.Fatalf("env: api.listen %q, %v", cfg.API.Listen, err)
	}
	var f serveFlags
	fs := newServeFlags(&f)
	if err := fs.Parse([]string{"--api-listen", "127.0.0.1:18091", "--bgp-listen", "127.0.0.2", "--bgp-listen", "::1", "--bgp-port", "18179"}); err != nil {
		t.Fatal(err)
	}
	f.apply(fs, &cfg)
	if cfg.API.Listen != "127.0.0.1:18091" || !slices.Equal(cfg.Collector.ListenAddresses, []string{"127.0.0.2", "::1"}) || cfg.Collector.Port != 18179 {
		t.Errorf("api %q, bgp %v port %d", cfg.API.Listen, cfg.Collector.ListenAddresses, cfg.Collector.Port)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}
