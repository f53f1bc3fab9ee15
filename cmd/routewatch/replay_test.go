package main

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"routewatch/analyzer"
	"routewatch/internal/testenv"
	"routewatch/mrtdata"
	"routewatch/mrtdata/scenario"
	"routewatch/ranges"
	"routewatch/route"
)

var update = flag.Bool("update", false, "rewrite golden files")

// writeScenario writes s as a gzipped MRT file and its AWS ranges file.
func writeScenario(t *testing.T, s *scenario.Scenario) (mrtPath, rangesPath string) {
	t.Helper()
	dir := t.TempDir()
	mrtPath = filepath.Join(dir, s.Name+".mrt.gz")
	f, err := os.Create(mrtPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if err := s.Write(zw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rangesPath = filepath.Join(dir, "ip-ranges.json")
	var b bytes.Buffer
	if err := s.WriteRanges(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rangesPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return mrtPath, rangesPath
}

func decodeEvents(t *testing.T, out string) []route.Event {
	t.Helper()
	var evs []route.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e route.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestReplayScenarios replays every synthetic scenario end to end (MRT
// writer → reader → ranges → analyzer → JSON) and checks the events.
func TestReplayScenarios(t *testing.T) {
	for _, name := range scenario.Names() {
		t.Run(name, func(t *testing.T) {
			s, err := scenario.Build(name, scenario.Options{Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			mrtPath, rangesPath := writeScenario(t, s)
			code, out, errOut := runCLI(t, "replay", "--format", "json", "--ranges", rangesPath, mrtPath)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			evs := decodeEvents(t, out)
			if len(evs) != len(s.Expected) {
				t.Fatalf("%d events, want %d:\n%s", len(evs), len(s.Expected), out)
			}
			for i, x := range s.Expected {
				e := evs[i]
				if e.Kind != x.Kind || e.Provider != x.Provider || e.Region != x.Region {
					t.Errorf("event %d: %s %s/%s, want %s %s/%s", i, e.Kind, e.Provider, e.Region, x.Kind, x.Provider, x.Region)
				}
				if d := e.Start.Sub(x.Start).Abs(); d > 2*time.Minute {
					t.Errorf("event %d: start %s, want %s", i, e.Start, x.Start)
				}
				if e.End == nil || e.End.Sub(x.End).Abs() > 5*time.Minute {
					t.Errorf("event %d: end %v, want %s", i, e.End, x.End)
				}
				if !slices.IsSortedFunc(evs, func(a, b route.Event) int { return a.Start.Compare(b.Start) }) {
					t.Errorf("events not ordered by start")
				}
			}
			if !strings.Contains(errOut, "replay: 1 files") {
				t.Errorf("no summary on stderr: %q", errOut)
			}
		})
	}
}

// TestReplayTableGolden pins the table output shape.
func TestReplayTableGolden(t *testing.T) {
	for _, name := range []string{"overlap", "table_loss"} {
		t.Run(name, func(t *testing.T) {
			s, _ := scenario.Build(name, scenario.Options{Seed: 3})
			mrtPath, rangesPath := writeScenario(t, s)
			code, out, errOut := runCLI(t, "replay", "-q", "--ranges", rangesPath, mrtPath)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden := filepath.Join("testdata", "replay_"+name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("table output differs from %s (run with -update):\n%s", golden, out)
			}
		})
	}
}

func TestReplayErrors(t *testing.T) {
	s, _ := scenario.Build("te_shift", scenario.Options{Seed: 3})
	mrtPath, rangesPath := writeScenario(t, s)
	dir := t.TempDir()
	// Truncated: cut the decompressed MRT stream in the middle of a record.
	var raw bytes.Buffer
	if err := s.Write(&raw); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mrt")
	if err := os.WriteFile(truncated, raw.Bytes()[:raw.Len()/2+7], 0o644); err != nil {
		t.Fatal(err)
	}
	notMRT := filepath.Join(dir, "notmrt.txt")
	if err := os.WriteFile(notMRT, bytes.Repeat([]byte("this is not an MRT archive\n"), 200), 0o644); err != nil {
		t.Fatal(err)
	}
	badCfg := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badCfg, []byte("analyzer:\n  windw: 5m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	invalidCfg := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalidCfg, []byte("analyzer:\n  min_share: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		errText string
	}{
		{"no input", []string{"replay"}, exitUsage, "usage"},
		{"bad format", []string{"replay", "--format", "xml", mrtPath}, exitUsage, "--format"},
		{"missing file", []string{"replay", "--ranges", rangesPath, filepath.Join(dir, "nope.gz")}, exitFail, "no such file"},
		{"missing second file", []string{"replay", "--ranges", rangesPath, mrtPath, filepath.Join(dir, "nope.gz")}, exitFail, "nope.gz"},
		{"truncated", []string{"replay", "--ranges", rangesPath, truncated}, exitFail, "truncated"},
		{"not mrt", []string{"replay", "--ranges", rangesPath, notMRT}, exitFail, "not an MRT file"},
		{"bad ranges", []string{"replay", "--ranges", notMRT, mrtPath}, exitFail, "ranges"},
		{"unknown config field", []string{"replay", "--config", badCfg, mrtPath}, exitUsage, "windw"},
		{"invalid config value", []string{"replay", "--config", invalidCfg, mrtPath}, exitUsage, "min_share"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errOut)
			}
			if !strings.Contains(errOut, tt.errText) {
				t.Errorf("stderr %q does not mention %q", errOut, tt.errText)
			}
		})
	}
}

// TestReplayConfig: thresholds and ranges come from --config; the same
// stream split over two files is one stream.
func TestReplayConfig(t *testing.T) {
	s, _ := scenario.Build("te_shift", scenario.Options{Seed: 3})
	_, rangesPath := writeScenario(t, s)
	dir := t.TempDir()
	items := s.Items()
	half := len(items) / 2
	var parts [2]bytes.Buffer
	for i, it := range items {
		w := mrtdata.NewWriter(&parts[min(i/half, 1)])
		var err error
		if it.State != nil {
			err = w.WritePeerState(*it.State)
		} else {
			err = w.WriteUpdate(*it.Update)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	for i := range parts {
		p := filepath.Join(dir, fmt.Sprintf("part%d.mrt", i))
		if err := os.WriteFile(p, parts[i].Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	tests := []struct {
		name   string
		config string
		events int
	}{
		{"defaults, ranges specs", "ranges:\n  specs:\n    - " + rangesPath + "\n", 1},
		{"serve-style ranges mapping", "ranges:\n  specs: [" + rangesPath + "]\n", 1},
		{"threshold above the event", "analyzer:\n  min_prefixes: 500\nranges: {specs: [" + rangesPath + "]}\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(cfg, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, append([]string{"replay", "--format", "json", "--config", cfg}, files...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if evs := decodeEvents(t, out); len(evs) != tt.events {
				t.Errorf("%d events, want %d:\n%s", len(evs), tt.events, out)
			}
		})
	}
}

func sharedMRTFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.SharedData(t), "mrt", "*.gz"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".bgpdump.gz") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatal("no MRT files in shared data")
	}
	return out
}

// TestReplayRealFilesCloudRanges replays every RIS file with every shared
// cloud range file: no error, and what it finds is logged.
func TestReplayRealFilesCloudRanges(t *testing.T) {
	data := testenv.SharedData(t)
	cloud := filepath.Join(data, "cloud")
	set, err := ranges.Load(t.Context(), []string{
		filepath.Join(cloud, "aws-ip-ranges.2021-12-15.json"),
		filepath.Join(cloud, "aws-ip-ranges.2025-07-24.json"),
		filepath.Join(cloud, "gcp-cloud.2025-07-24.json"),
		filepath.Join(cloud, "azure-servicetags.2025-07.json"),
		filepath.Join(cloud, "oracle-cloud.2025-07-21.json"),
		"cloudflare=" + filepath.Join(cloud, "cloudflare-ips-v4.txt"),
		"cloudflare=" + filepath.Join(cloud, "cloudflare-ips-v6.txt"),
	}, ranges.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sharedMRTFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var errb bytes.Buffer
			r := newReplayer(analyzer.DefaultConfig(), set, stdio{err: &errb}, true)
			evs, err := r.run(t.Context(), []string{f})
			if err != nil {
				t.Fatalf("%v (%s)", err, errb.String())
			}
			if n := r.feed.Stats().Corrupt; n != 0 {
				t.Errorf("%d corrupt records: %s", n, errb.String())
			}
			logFindings(t, evs, r.summary(evs))
			for _, e := range evs {
				if e.Kind != route.KindPeerDown && strings.HasPrefix(filepath.Base(f), "bview.") {
					t.Errorf("RIB dump opened a provider event: %s", e.Summary)
				}
			}
		})
	}
}

// TestReplayRealFilesOriginGroups is the false-positive check on real
// churn: the watched "providers" are the 40 origin ASes with the most
// prefixes in each file, so thousands of real prefixes are tracked.
func TestReplayRealFilesOriginGroups(t *testing.T) {
	for _, f := range sharedMRTFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			specs := originRanges(t, f, 40)
			args := []string{"replay", "--format", "json"}
			for _, s := range specs {
				args = append(args, "--ranges", s)
			}
			code, out, errOut := runCLI(t, append(args, f)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			evs := decodeEvents(t, out)
			logFindings(t, evs, errOut)
			if strings.HasPrefix(filepath.Base(f), "bview.") {
				// A RIB dump is the initial load: it never opens events.
				if len(evs) != 0 {
					t.Errorf("RIB dump produced %d events", len(evs))
				}
			}
		})
	}
}

func logFindings(t *testing.T, evs []route.Event, errOut string) {
	t.Helper()
	t.Logf("%s", strings.TrimSpace(errOut[strings.LastIndex(errOut, "replay:"):]))
	for _, e := range evs {
		t.Logf("  %s %s/%s start=%s prefixes=%d peers=%d: %s", e.Kind, e.Provider, e.Region, e.Start.Format(time.RFC3339), e.Prefixes, e.Peers, e.Summary)
	}
}

// originRanges writes one plain CIDR list per top origin AS of the file
// (provider "asN") and returns the NAME=FILE specs.
func originRanges(t *testing.T, file string, top int) []string {
	t.Helper()
	byOrigin := map[uint32]map[string]struct{}{}
	feed := &mrtdata.Feed{Inputs: []string{file}}
	err := feed.Walk(t.Context(), func(_ string, rec *mrtdata.Record) error {
		for _, u := range rec.Updates {
			if u.Attrs == nil {
				continue
			}
			o, ok := u.Attrs.ASPath.Origin()
			if !ok {
				continue
			}
			if byOrigin[o] == nil {
				byOrigin[o] = map[string]struct{}{}
			}
			byOrigin[o][u.Prefix.String()] = struct{}{}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	origins := slices.Collect(maps.Keys(byOrigin))
	slices.SortFunc(origins, func(a, b uint32) int {
		if c := cmp.Compare(len(byOrigin[b]), len(byOrigin[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	dir := t.TempDir()
	var specs []string
	for _, o := range origins[:min(top, len(origins))] {
		p := filepath.Join(dir, fmt.Sprintf("as%d.txt", o))
		list := slices.Sorted(maps.Keys(byOrigin[o]))
		if err := os.WriteFile(p, []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, fmt.Sprintf("as%d=%s", o, p))
	}
	return specs
}

// awsRegions reads the real prefixes of some regions from the shared AWS
// ip-ranges.json of the day of the model event (2021-12-15).
func awsRegions(t *testing.T, file string, v6 bool, regions ...string) []scenario.Region {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Prefixes []struct {
			IPPrefix string `json:"ip_prefix"`
			Region   string `json:"region"`
		} `json:"prefixes"`
		IPv6Prefixes []struct {
			IPv6Prefix string `json:"ipv6_prefix"`
			Region     string `json:"region"`
		} `json:"ipv6_prefixes"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	byRegion := map[string][]netip.Prefix{}
	add := func(region, p string) {
		pp := netip.MustParsePrefix(p)
		if !slices.Contains(byRegion[region], pp) {
			byRegion[region] = append(byRegion[region], pp)
		}
	}
	for _, p := range doc.Prefixes {
		if !v6 {
			add(p.Region, p.IPPrefix)
		}
	}
	for _, p := range doc.IPv6Prefixes {
		if v6 {
			add(p.Region, p.IPv6Prefix)
		}
	}
	var out []scenario.Region
	for _, r := range regions {
		out = append(out, scenario.Region{Provider: "aws", Region: r, Prefixes: byRegion[r]})
	}
	return out
}

// TestReplayRealAWSRegions is the model case with real data: the real
// us-west-2 / us-west-1 / eu-west-1 prefixes of 2021-12-15 (nested ranges,
// several services per prefix), tagged by the real AWS range file.
func TestReplayRealAWSRegions(t *testing.T) {
	file := testenv.SharedFile(t, "cloud/aws-ip-ranges.2021-12-15.json")
	tests := []struct {
		name  string
		build func(scenario.Options) *scenario.Scenario
		v6    bool
	}{
		{"te shift and outage", scenario.Overlap, false},
		{"ipv6 te shift", scenario.IPv6Shift, true},
		{"peer reset", scenario.PeerReset, false},
		{"noise", scenario.Noise, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.build(scenario.Options{Seed: 5, Peers: 16, Regions: awsRegions(t, file, tt.v6, "us-west-2", "us-west-1", "eu-west-1")})
			mrtPath, _ := writeScenario(t, s)
			code, out, errOut := runCLI(t, "replay", "--format", "json", "--ranges", file, mrtPath)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			evs := decodeEvents(t, out)
			var got, want []string
			for _, e := range evs {
				got = append(got, fmt.Sprintf("%s %s/%s", e.Kind, e.Provider, e.Region))
				t.Logf("%s %s → %v: %s", e.Kind, e.Start.Format(time.TimeOnly), e.End, e.Summary)
			}
			for _, x := range s.Expected {
				want = append(want, fmt.Sprintf("%s %s/%s", x.Kind, x.Provider, x.Region))
			}
			if !slices.Equal(got, want) {
				t.Errorf("events %q, want %q", got, want)
			}
			for i := range min(len(evs), len(s.Expected)) {
				if d := evs[i].Start.Sub(s.Expected[i].Start).Abs(); d > 2*time.Minute {
					t.Errorf("%s: start %s, want %s", got[i], evs[i].Start, s.Expected[i].Start)
				}
				if evs[i].End == nil || evs[i].End.Sub(s.Expected[i].End).Abs() > 5*time.Minute {
					t.Errorf("%s: end %v, want %s", got[i], evs[i].End, s.Expected[i].End)
				}
			}
		})
	}
}
