package main

import (
	"path/filepath"
	"strings"
	"testing"

	"routewatch/internal/testenv"
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
	if code, _, errOut := runCLI(t, "replay", "-q", "--ranges", filepath.Join(dir, "te_shift.ip-ranges.json"), old, fixture); code != exitOK {
		t.Errorf("oldest first: exit %d: %s", code, errOut)
	}
}
