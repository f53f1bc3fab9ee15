package mrtdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"routewatch/internal/testenv"
)

// dumpM renders a whole archive like `bgpdump -m`. It returns the output and
// the first final error (nil at a clean end).
func dumpM(t testing.TB, name string) ([]byte, error) {
	t.Helper()
	rc, err := Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := NewReader(rc, name)
	var f BgpdumpFormatter
	var out []byte
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		var re *RecordError
		if errors.As(err, &re) && errors.Is(err, ErrCorrupt) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = f.Append(out, &rec)
	}
}

func gunzipFile(t testing.TB, name string) []byte { return testenv.Gunzip(t, name) }

// firstDiff describes the first differing line of two outputs.
func firstDiff(got, want []byte) string {
	g := strings.Split(string(got), "\n")
	w := strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d (of %d got, %d want):\n got: %q\nwant: %q", i+1, len(g), len(w), gl, wl)
		}
	}
	return "no line differs"
}

// TestBgpdumpSharedExpected compares with the checked-in outputs of
// bgpdump 1.6.2 next to the shared RIS files.
func TestBgpdumpSharedExpected(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "mrt")
	files, err := filepath.Glob(filepath.Join(dir, "*.bgpdump.gz"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no expected outputs in %s (%v)", dir, err)
	}
	for _, exp := range files {
		in := strings.TrimSuffix(exp, ".bgpdump.gz")
		t.Run(filepath.Base(in), func(t *testing.T) {
			got, err := dumpM(t, in)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			want := gunzipFile(t, exp)
			if !bytes.Equal(got, want) {
				t.Fatalf("differs from bgpdump: %s", firstDiff(got, want))
			}
		})
	}
}

// runBgpdump runs the installed bgpdump -m on name.
func runBgpdump(t testing.TB, name string) []byte {
	t.Helper()
	bin := testenv.Command(t, "bgpdump")
	cmd := exec.Command(bin, "-m", "-q", name)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("bgpdump -m %s: %v", name, err)
	}
	return stdout.Bytes()
}

// knownOracleDiffs lists where we knowingly differ from the installed
// bgpdump 1.6.2: file -> {bgpdump's text, ours}. bgpdump 1.6.2 prints NLRI
// host bits beyond the prefix length (11.13.0.0/13); the checked-in
// expected output (from a later bgpdump) and routewatch clear them
// (11.8.0.0/13), which is also what a route table keys on.
var knownOracleDiffs = map[string][2]string{
	"updates.nlri_mask_trailing_bits.gz": {"|11.13.0.0/13|", "|11.8.0.0/13|"},
}

// TestBgpdumpOracleShared runs the installed bgpdump on the shared files.
func TestBgpdumpOracleShared(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "mrt")
	files, _ := filepath.Glob(filepath.Join(dir, "*.gz"))
	for _, in := range files {
		if strings.HasSuffix(in, ".bgpdump.gz") {
			continue
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			want := runBgpdump(t, in)
			if d, ok := knownOracleDiffs[filepath.Base(in)]; ok {
				want = bytes.ReplaceAll(want, []byte(d[0]), []byte(d[1]))
			}
			got, err := dumpM(t, in)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("differs from bgpdump: %s", firstDiff(got, want))
			}
		})
	}
}
