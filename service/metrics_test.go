package service

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"routewatch/alert"
	"routewatch/internal/testenv"
)

// readmeMetrics returns the metric names the README's Metrics section lists.
func readmeMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Metrics")
	if start < 0 {
		t.Fatal("README has no Metrics section")
	}
	end := strings.Index(text[start+1:], "\n## ")
	section := text[start : start+1+end]
	seen := map[string]bool{}
	var names []string
	for _, m := range regexp.MustCompile(`routewatch_[a-z_]+`).FindAllString(section, -1) {
		if !seen[m] {
			seen[m] = true
			names = append(names, m)
		}
	}
	return names
}

// TestMetricsAsDocumented starts the service as an operator would (Redis
// store, a range file, a webhook sink, a startup replay, the BMP station)
// and checks that
// every metric the README lists is exposed right away — 0 where nothing
// happened yet — and that promtool finds the exposition clean.
func TestMetricsAsDocumented(t *testing.T) {
	redis := testenv.RedisAddr(t)
	dir := t.TempDir()
	rangesFile := filepath.Join(dir, "cloud.txt")
	if err := os.WriteFile(rangesFile, []byte("192.0.2.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Store.Backend = "redis"
	cfg.Store.Redis.URL = "redis://" + redis + "/0"
	cfg.Store.Redis.KeyPrefix = fmt.Sprintf("rwmetrics%d", time.Now().UnixNano())
	cfg.Ranges.Specs = []string{"cloud=" + rangesFile}
	cfg.Replay.Files = []string{filepath.Join(dir, "missing.mrt")}
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.Collector.Port = testenv.FreePort(t)
	cfg.BMP.Enabled = true
	cfg.BMP.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.Alert.AllowPrivateTargets = true
	cfg.Alert.Sinks = []alert.SinkConfig{{Name: "chat", Type: alert.Slack, URL: "http://127.0.0.1:1/hook"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	runService(t, cfg)
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + cfg.API.Listen + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains(body, "routewatch_ranges_prefixes") {
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Series labelled by router (or by the router's own termination
	// reason) appear with the first router, as the README says.
	knownGaps := map[string]bool{
		"routewatch_bmp_statistics": true, "routewatch_bmp_route_mirroring_total": true,
		"routewatch_bmp_terminations_total": true, "routewatch_bmp_router_info": true,
	}
	// The archive fetcher's series belong to `replay --collector`, not to
	// serve (owner: archives).
	for _, n := range []string{"files", "missing_files", "failed_files", "truncated_files", "corrupt_records", "downloaded_bytes"} {
		knownGaps["routewatch_archive_"+n+"_total"] = true
	}
	for _, name := range readmeMetrics(t) {
		if knownGaps[name] {
			t.Logf("known gap: %s", name)
			continue
		}
		if !regexp.MustCompile(`(?m)^` + name + `(_bucket|_count|_sum)?[{ ]`).MatchString(body) {
			t.Errorf("README lists %s; /metrics does not expose it", name)
		}
	}
	if !regexp.MustCompile(`(?m)^routewatch_events_open\{kind="path_shift"\} 0$`).MatchString(body) {
		t.Error(`routewatch_events_open{kind="path_shift"} does not read 0 with nothing open`)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Command(t, "promtool") // skips outside CI, fails in CI
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
