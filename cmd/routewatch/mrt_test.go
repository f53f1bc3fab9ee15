package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/mrtdata"
	"routewatch/route"
)

func runMRTDump(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runMRTDumpIn(t, nil, args...)
}

func runMRTDumpIn(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"mrt", "dump"}, args...), stdio{in: bytes.NewReader(stdin), out: &out, err: &errb})
	return out.String(), errb.String(), code
}

func TestMRTDumpStdin(t *testing.T) {
	name := writeFixture(t)
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	fromFile, _, _ := runMRTDump(t, "-m", name)
	for _, in := range [][]byte{raw, gz.Bytes()} {
		out, errs, code := runMRTDumpIn(t, in, "-m", "-")
		if code != exitOK || out != fromFile || out == "" {
			t.Fatalf("exit %d, stderr %q, output %q, want %q", code, errs, out, fromFile)
		}
	}
}

func gunzip(t *testing.T, name string) string { return string(testenv.Gunzip(t, name)) }

// TestMRTDumpMatchesBgpdumpExpected checks `mrt dump -m` against the
// checked-in bgpdump outputs of every shared RIS file.
func TestMRTDumpMatchesBgpdumpExpected(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "mrt")
	exps, _ := filepath.Glob(filepath.Join(dir, "*.bgpdump.gz"))
	if len(exps) == 0 {
		t.Fatal("no expected outputs")
	}
	for _, exp := range exps {
		in := strings.TrimSuffix(exp, ".bgpdump.gz")
		t.Run(filepath.Base(in), func(t *testing.T) {
			out, errs, code := runMRTDump(t, "-m", in)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if want := gunzip(t, exp); out != want {
				t.Fatalf("output differs from bgpdump's (%d vs %d bytes)", len(out), len(want))
			}
			if !strings.Contains(errs, "mrt dump: 1 files,") {
				t.Errorf("no summary line on stderr: %q", errs)
			}
		})
	}
}

// writeFixture writes a small BGP4MP + TABLE_DUMP_V2 archive.
func writeFixture(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "fixture.mrt")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := mrtdata.NewWriter(f)
	tm := time.Unix(1700000000, 0)
	peer := route.Peer{Addr: netip.MustParseAddr("2001:db8::1"), ASN: 64500}
	attrs := &route.Attrs{
		ASPath:  route.ASPath{{Type: route.ASSequence, ASNs: []uint32{64500, 16509}}},
		NextHop: netip.MustParseAddr("2001:db8::1"), Communities: []route.Community{64500<<16 | 7},
	}
	for _, u := range []route.Update{
		{Time: tm, Peer: peer, Prefix: netip.MustParsePrefix("2600:1f00::/24"), Attrs: attrs},
		{Time: tm.Add(time.Second), Peer: peer, Prefix: netip.MustParsePrefix("2600:1f00::/24"), Withdraw: true},
	} {
		if err := w.WriteUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WritePeerState(route.PeerState{Time: tm.Add(2 * time.Second), Peer: peer, Old: route.StateEstablished, New: route.StateIdle}); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestMRTDumpFixtureAgainstBgpdump(t *testing.T) {
	bin := testenv.Command(t, "bgpdump")
	name := writeFixture(t)
	want, err := exec.Command(bin, "-m", "-q", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := runMRTDump(t, "-m", name)
	if code != exitOK || out != string(want) {
		t.Fatalf("exit %d, stderr %q\n got: %q\nwant: %q", code, errs, out, want)
	}
}

func TestMRTDumpJSON(t *testing.T) {
	out, errs, code := runMRTDump(t, writeFixture(t))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 JSON lines, got %d: %s", len(lines), out)
	}
	var first struct {
		Type        string   `json:"type"`
		Time        string   `json:"time"`
		Peer        string   `json:"peer"`
		PeerASN     uint32   `json:"peer_asn"`
		Prefix      string   `json:"prefix"`
		ASPath      []any    `json:"as_path"`
		Origin      string   `json:"origin"`
		NextHop     string   `json:"next_hop"`
		MED         *uint32  `json:"med"`
		Communities []string `json:"communities"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("%v: %s", err, lines[0])
	}
	if first.Type != "A" || first.Prefix != "2600:1f00::/24" || first.PeerASN != 64500 || len(first.ASPath) != 2 ||
		first.Origin != "IGP" || first.NextHop != "2001:db8::1" || first.MED != nil || first.Communities[0] != "64500:7" ||
		first.Time != "2023-11-14T22:13:20Z" {
		t.Errorf("first line decoded wrong: %+v", first)
	}
	for i, want := range []string{`"type":"W"`, `"type":"STATE"`} {
		if !strings.Contains(lines[i+1], want) || !json.Valid([]byte(lines[i+1])) {
			t.Errorf("line %d: %s", i+2, lines[i+1])
		}
	}
}

func TestMRTDumpErrors(t *testing.T) {
	fixture := writeFixture(t)
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.mrt")
	if err := os.WriteFile(cut, raw[:len(raw)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   string
		outLines int
	}{
		{"no args", nil, exitUsage, "usage:", 0},
		{"bad flag", []string{"-x", fixture}, exitUsage, "flag provided but not defined", 0},
		{"missing file", []string{"-m", "/nonexistent.mrt"}, exitFail, "no such file", 0},
		{"truncated", []string{"-m", cut}, exitFail, "record 2 at offset", 2},
		{"count", []string{"-count", fixture}, exitOK, "3 records, 2 routes, 1 state changes", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runMRTDump(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tt.code, errs, tt.stderr)
			}
			if n := strings.Count(out, "\n"); n != tt.outLines {
				t.Errorf("%d output lines, want %d", n, tt.outLines)
			}
		})
	}
}
