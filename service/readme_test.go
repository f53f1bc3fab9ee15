package service

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"routewatch/internal/testenv"
)

// readmeCurls returns the README's curl example lines (shell code blocks).
func readmeCurls(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	inSh := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			inSh = strings.TrimPrefix(line, "```") == "sh"
		case inSh && strings.HasPrefix(line, "curl -s"):
			out = append(out, line)
		}
	}
	return out
}

// TestReadmeCurlExamples runs every curl line of the README (with jq where
// the README pipes into it) against `serve --demo` once its event has
// resolved: each must succeed (HTTP 2xx, jq happy) and print something.
// POSTs need a token and are skipped.
func TestReadmeCurlExamples(t *testing.T) {
	curl := testenv.Command(t, "curl")
	testenv.Command(t, "jq") // the README pipes into jq
	cfg := Default()
	cfg.Demo = true
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg.Collector.Port = testenv.FreePort(t)
	runService(t, cfg)
	base := "http://" + cfg.API.Listen
	// The demo's event resolves at about 40 s of its 30 s-per-2 h clock.
	for deadline := time.Now().Add(90 * time.Second); ; {
		resp, err := http.Get(base + "/api/v1/events?kind=path_shift&status=resolved")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"kind":"path_shift"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo's event never resolved")
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Demo vantage points are Established since the scenario's start.
	resp, err := http.Get(base + "/api/v1/peers")
	if err != nil {
		t.Fatal(err)
	}
	peers, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(peers), `"Unknown"`) || strings.Contains(string(peers), `"state_since":null`) {
		t.Errorf("demo peers without their state: %.400s", peers)
	}
	lines := readmeCurls(t)
	if len(lines) < 10 {
		t.Fatalf("found %d curl examples in the README", len(lines))
	}
	for _, line := range lines {
		if strings.Contains(line, "--data") || strings.Contains(line, "-X POST") {
			continue
		}
		t.Run(line, func(t *testing.T) {
			cmdline := strings.ReplaceAll(line, "http://127.0.0.1:8080", base)
			cmdline = strings.ReplaceAll(cmdline, "$API", base+"/api/v1")
			cmdline = strings.Replace(cmdline, "curl -s", curl+" -sf", 1)
			cmd := exec.Command("bash", "-c", "set -o pipefail; "+cmdline)
			out, err := cmd.CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) == 0 {
				t.Errorf("%s\n-> err %v, output %q", cmdline, err, out)
			}
			if strings.Contains(string(out), `"events":[]`) || strings.Contains(string(out), `"prefixes":[]`) || strings.Contains(string(out), `"entries":[]`) {
				t.Errorf("%s\n-> empty answer: %.300s", cmdline, out)
			}
		})
	}
}
