package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"routewatch/internal/testenv"
)

var updateRanges = flag.Bool("update-ranges", false, "rewrite the ranges CLI golden files")

// rangesFixtures and the golden files live with the ranges package.
const rangesTestdata = "../../ranges/testdata"

func runRanges(t *testing.T, defaults []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := rangesMain(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb}, defaults)
	return code, out.String(), errb.String()
}

func TestRangesGolden(t *testing.T) {
	fixtures := []string{
		"--ranges", filepath.Join(rangesTestdata, "aws.json"),
		"--ranges", filepath.Join(rangesTestdata, "gcp.json"),
		"--ranges", filepath.Join(rangesTestdata, "azure.json"),
		"--ranges", filepath.Join(rangesTestdata, "oracle.json"),
		"--ranges", "cloudflare=" + filepath.Join(rangesTestdata, "cidr.txt"),
	}
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"table", fixtures, "cli_table.golden"},
		{"json", append([]string{"--format", "json"}, fixtures...), "cli_json.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runRanges(t, nil, tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			// Paths in the output are relative to this package: stable.
			golden := filepath.Join(rangesTestdata, "cli", tt.golden)
			if *updateRanges {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update-ranges)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, out)
			}
		})
	}
}

// TestRangesSharedFiles runs the command over every real provider file.
func TestRangesSharedFiles(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "cloud")
	var args []string
	for _, f := range []string{"aws-ip-ranges.2025-07-24.json", "gcp-cloud.2025-07-24.json", "azure-servicetags.2025-07.json", "oracle-cloud.2025-07-21.json"} {
		args = append(args, "--ranges", filepath.Join(dir, f))
	}
	args = append(args, "--ranges", "cloudflare="+filepath.Join(dir, "cloudflare-ips-v4.txt"), "--ranges", "cloudflare="+filepath.Join(dir, "cloudflare-ips-v6.txt"))
	code, out, errOut := runRanges(t, nil, append([]string{"--format", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Sources []struct {
			Provider string
			Entries  int
		}
		Providers []struct {
			Provider    string
			V4Ranges    int     `json:"v4_ranges"`
			V6Ranges    int     `json:"v6_ranges"`
			V4Addresses uint64  `json:"v4_addresses"`
			V6Slash48s  float64 `json:"v6_slash48s"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Sources) != 6 {
		t.Errorf("sources %+v", doc.Sources)
	}
	got := map[string]bool{}
	for _, p := range doc.Providers {
		got[p.Provider] = true
		if p.V4Ranges == 0 || p.V4Addresses == 0 {
			t.Errorf("provider %+v has no IPv4 space", p)
		}
	}
	for _, want := range []string{"aws", "azure", "cloudflare", "gcp", "oracle"} {
		if !got[want] {
			t.Errorf("provider %s missing from %v", want, got)
		}
	}
	code, out, _ = runRanges(t, nil, args...)
	if code != exitOK || !strings.Contains(out, "us-west-2") || !strings.Contains(out, "westeurope") {
		t.Errorf("table lacks known regions (exit %d):\n%.2000s", code, out)
	}
}

func TestRangesErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"createDate":"x","prefixes":[{"ip_prefix":"3.5.0.0/16"},{"ip_prefix":"x"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad format flag", []string{"--format", "xml", "--ranges", bad}, exitUsage, "--format must be table or json"},
		{"positional argument", []string{"somefile"}, exitUsage, "sources go in --ranges"},
		{"malformed file", []string{"--ranges", bad}, exitFail, "prefixes[1]"},
		{"missing file", []string{"--ranges", filepath.Join(dir, "nope.json")}, exitFail, "nope.json"},
		{"plain list without name", []string{"--ranges", filepath.Join(rangesTestdata, "cidr.txt")}, exitFail, "needs a provider name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runRanges(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.code, tt.want)
			}
			if out != "" {
				t.Errorf("output despite the error: %q", out)
			}
		})
	}
}

// TestRangesDefaults: without --ranges the official URLs are tried; here
// they point at loopback, as there is no internet.
func TestRangesDefaults(t *testing.T) {
	aws, err := os.ReadFile(filepath.Join(rangesTestdata, "aws.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ip-ranges.json" {
			w.Write(aws)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	t.Run("offline", func(t *testing.T) {
		code, out, errOut := runRanges(t, []string{deadURL + "/ip-ranges.json", "cloudflare=" + deadURL + "/ips-v4"})
		if code != exitFail || out != "" || !strings.Contains(errOut, "offline") || !strings.Contains(errOut, "--ranges") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("partly reachable", func(t *testing.T) {
		code, out, errOut := runRanges(t, []string{srv.URL + "/ip-ranges.json", "cloudflare=" + srv.URL + "/ips-v4"})
		if code != exitFail || !strings.Contains(out, "us-west-2") || !strings.Contains(errOut, "1 of 2 official sources failed") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("all reachable", func(t *testing.T) {
		code, out, errOut := runRanges(t, []string{srv.URL + "/ip-ranges.json"})
		if code != exitOK || !strings.Contains(out, "us-west-2") || !strings.Contains(errOut, "azure has no fixed URL") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}
