package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"routewatch/internal/testenv"
)

// readmeCommand is one `routewatch …` example of the README's sh blocks,
// with its continuation lines joined.
type readmeCommand struct {
	line int
	text string
}

// readmeCommands returns the README's routewatch command examples.
func readmeCommands(t *testing.T) []readmeCommand {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []readmeCommand
	inSh, n := false, 0
	var cur *readmeCommand
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inSh, cur = strings.TrimPrefix(line, "```") == "sh", nil
			continue
		}
		if !inSh {
			continue
		}
		if cur == nil {
			if !strings.HasPrefix(line, "routewatch ") {
				continue
			}
			out = append(out, readmeCommand{line: n})
			cur = &out[len(out)-1]
		}
		body := line
		if i := strings.Index(body, " #"); i >= 0 {
			body = body[:i]
		}
		body = strings.TrimSpace(body)
		cont := strings.HasSuffix(body, "\\") || strings.HasSuffix(body, "|")
		cur.text += strings.TrimSuffix(body, "\\") + " "
		if !cont {
			cur = nil
		}
	}
	return out
}

// skipReason says why a README example is not run here, "" to run it.
func skipReason(cmd string) string {
	switch {
	case strings.HasPrefix(cmd, "routewatch serve"):
		return "long-running (serve is covered by the e2e and README curl tests)"
	case strings.Contains(cmd, "https://") || strings.Contains(cmd, "--collector"):
		return "reads the public archives (covered by the archive tests' local servers)"
	case strings.Contains(cmd, "$TOKEN"):
		return "posts to a running server with a token (covered by the API import tests)"
	}
	return ""
}

// TestReadmeCommandExamples runs every `routewatch …` example of the
// README (replay, mrt dump, ranges, config check) as a shell line, in a
// folder where the file names the README uses point at the repository's
// fixtures and ../shared/data: each must exit 0 and print something.
func TestReadmeCommandExamples(t *testing.T) {
	sh := testenv.Command(t, "sh")
	bin := buildBinary(t)
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	links := map[string]string{
		"routewatch":                     bin,
		"testdata":                       filepath.Join(root, "testdata"),
		"config":                         filepath.Join(root, "config"),
		"aws-ip-ranges.2021-12-15.json":  testenv.SharedFile(t, "cloud/aws-ip-ranges.2021-12-15.json"),
		"ips-v4.txt":                     testenv.SharedFile(t, "cloud/cloudflare-ips-v4.txt"),
		"updates.20160811.1600.gz":       testenv.SharedFile(t, "mrt/updates.20160811.1600.gz"),
		"updates.mrt.gz":                 testenv.SharedFile(t, "mrt/updates.20160811.1600.gz"),
		"bview.20020722.2337.gz":         testenv.SharedFile(t, "mrt/bview.20020722.2337.gz"),
		"updates.20070211.0141.gz":       testenv.SharedFile(t, "mrt/updates.20070211.0141.gz"),
		"bview.ipv4_unicast_add_path.gz": testenv.SharedFile(t, "mrt/bview.ipv4_unicast_add_path.gz"),
	}
	// Two collectors' downloads, as the --sort example names them.
	links["rrc00/updates.20211215.1505.gz"] = testenv.SharedFile(t, "mrt/updates.20160811.1600.gz")
	links["rrc01/updates.20211215.1505.gz"] = testenv.SharedFile(t, "mrt/updates.20070211.0141.gz")
	for name, target := range links {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	cmds := readmeCommands(t)
	ran := map[string]int{}
	for _, c := range cmds {
		t.Run(strings.Join(strings.Fields(c.text)[:2], "_"), func(t *testing.T) {
			if why := skipReason(c.text); why != "" {
				t.Skipf("README line %d: %s", c.line, why)
			}
			// No pipefail: `| head` would fail the example; an error leaves stdout
			// empty, which fails it too.
			cmd := exec.Command(sh, "-ec", c.text)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("README line %d: %s: %v\n%s", c.line, c.text, err, stderr)
			}
			if strings.TrimSpace(string(out)) == "" {
				t.Fatalf("README line %d: %s printed nothing", c.line, c.text)
			}
			ran[strings.Fields(c.text)[1]]++
		})
	}
	for _, sub := range []string{"replay", "mrt", "ranges", "config"} {
		if ran[sub] == 0 {
			t.Errorf("no README example of routewatch %s ran (found %d commands)", sub, len(cmds))
		}
	}
}
