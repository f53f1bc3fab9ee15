package mrtdata

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// runFeed runs f and collects every batch it sends.
func runFeed(t *testing.T, f *Feed) ([]route.Batch, error) {
	t.Helper()
	out := make(chan route.Batch)
	var got []route.Batch
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range out {
			got = append(got, b)
		}
	}()
	err := f.Run(t.Context(), out)
	close(out)
	<-done
	return got, err
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFeedOutOfOrder: the README's example of a 2021 archive followed by
// a 2016 one is an error naming both files, never a re-dating; with
// KeepGoing (serve's warm-up) the late input is reported and skipped.
func TestFeedOutOfOrder(t *testing.T) {
	fixture := filepath.Join(testenv.RepoRoot(t), "testdata", "scenarios", "te_shift.mrt.gz")
	old := testenv.SharedFile(t, "mrt/updates.20160811.1600.gz")
	t.Run("error names both inputs", func(t *testing.T) {
		got, err := runFeed(t, &Feed{Inputs: []string{fixture, old}})
		var oe *OrderError
		if !errors.As(err, &oe) || oe.Prev != fixture || oe.Input != old {
			t.Fatalf("err = %v, want an OrderError naming %s and %s", err, fixture, old)
		}
		if !strings.Contains(err.Error(), "te_shift.mrt.gz") || !strings.Contains(err.Error(), "updates.20160811.1600.gz") ||
			!strings.Contains(err.Error(), "2016-08-11T16:00:00Z") {
			t.Errorf("message %q", err)
		}
		for _, b := range got {
			for _, u := range b.Updates {
				if u.Time.Year() == 2016 {
					t.Fatalf("a 2016 update was sent: %+v", u)
				}
			}
		}
	})
	t.Run("keep going skips the late input", func(t *testing.T) {
		var failed []string
		f := &Feed{Inputs: []string{fixture, old, fixture}, KeepGoing: true,
			InputFailed: func(name string, err error) { failed = append(failed, name+": "+err.Error()) }}
		got, err := runFeed(t, f)
		if err != nil {
			t.Fatal(err)
		}
		// The fixture again starts before its own end: refused too.
		if len(failed) != 2 || !strings.HasPrefix(failed[0], old) || !strings.HasPrefix(failed[1], fixture) {
			t.Fatalf("failed inputs %q", failed)
		}
		n := 0
		for _, b := range got {
			for _, u := range b.Updates {
				if u.Time.Year() != 2021 {
					t.Fatalf("update of a refused input was sent: %+v", u)
				}
			}
			n += len(b.Updates)
		}
		if n != countRoutes(t, fixture) {
			t.Errorf("%d updates sent, want the fixture's %d", n, countRoutes(t, fixture))
		}
	})
	t.Run("oldest first is fine", func(t *testing.T) {
		if _, err := runFeed(t, &Feed{Inputs: []string{old, fixture}}); err != nil {
			t.Fatal(err)
		}
	})
}

func countRoutes(t *testing.T, name string) int {
	t.Helper()
	n := 0
	f := &Feed{Inputs: []string{name}}
	if err := f.Walk(t.Context(), func(_ string, rec *Record) error { n += len(rec.Updates); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// localArchive has an update, then the same update as MESSAGE_AS4_LOCAL,
// then a state change.
func localArchive(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	p := route.Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 64500}
	a := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{64500}}}, NextHop: p.Addr}
	u := route.Update{Time: time.Unix(1700000000, 0), Peer: p, Prefix: netip.MustParsePrefix("10.0.0.0/16"), Attrs: a}
	for range 2 {
		if err := w.WriteUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	one := buf.Len() / 2
	b := buf.Bytes()
	if binary.BigEndian.Uint16(b[one+6:]) != SubMessageAS4 {
		t.Fatalf("writer subtype %d", binary.BigEndian.Uint16(b[one+6:]))
	}
	binary.BigEndian.PutUint16(b[one+6:], SubMessageAS4Local)
	if err := w.WritePeerState(route.PeerState{Time: time.Unix(1700000001, 0), Peer: p, Old: route.StateEstablished, New: route.StateIdle}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFeed(t *testing.T) {
	good := archive(t, 3)
	recLen := len(good) / 3
	bad := bytes.Clone(good)
	idx := bytes.Index(bad[recLen:], []byte{flagTransitive, attrOrigin, 1})
	bad[recLen+idx+2] = 200 // record 1: attribute length past the end
	t.Run("local records are skipped by Run, kept by Walk", func(t *testing.T) {
		p := writeFile(t, "local.mrt", localArchive(t))
		f := &Feed{Inputs: []string{p}}
		got, err := runFeed(t, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(got[0].Updates) != 1 || len(got[0].States) != 1 || f.Stats().Local != 1 {
			t.Fatalf("batches %+v, stats %+v", got, f.Stats())
		}
		locals := 0
		w := &Feed{Inputs: []string{p}}
		if err := w.Walk(t.Context(), func(_ string, rec *Record) error {
			if rec.Local {
				locals++
			}
			return nil
		}); err != nil || locals != 1 {
			t.Fatalf("walk: %d local records, %v", locals, err)
		}
	})
	t.Run("corrupt records are counted with file, record and offset", func(t *testing.T) {
		p := writeFile(t, "bad.mrt", bad)
		var seen []*RecordError
		f := &Feed{Inputs: []string{p}, Corrupt: func(re *RecordError) { seen = append(seen, re) }}
		got, err := runFeed(t, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 || seen[0].File != p || seen[0].Index != 1 || seen[0].Offset != int64(recLen) || f.Stats().Corrupt != 1 {
			t.Fatalf("corrupt %+v, stats %+v", seen, f.Stats())
		}
		if len(got) != 1 || len(got[0].Updates) != 2 {
			t.Fatalf("batches %+v", got)
		}
	})
	t.Run("no RIB note", func(t *testing.T) {
		var notes []string
		f := &Feed{Inputs: []string{writeFile(t, "u.mrt", good)}, Note: func(s string) { notes = append(notes, s) }}
		if _, err := runFeed(t, f); err != nil {
			t.Fatal(err)
		}
		if len(notes) != 1 || notes[0] != NoRIBNote {
			t.Fatalf("notes %q", notes)
		}
	})
	t.Run("a RIB first: no note", func(t *testing.T) {
		var notes []string
		rib := testenv.SharedFile(t, "mrt/bview.ipv4_unicast_add_path.gz")
		f := &Feed{Inputs: []string{rib}, Note: func(s string) { notes = append(notes, s) }}
		if _, err := runFeed(t, f); err != nil {
			t.Fatal(err)
		}
		if len(notes) != 0 {
			t.Fatalf("notes %q", notes)
		}
	})
	errTests := []struct {
		name, want string
		in         []byte
	}{
		{"empty input", "empty input", nil},
		{"not MRT", "framing", bytes.Repeat([]byte("not an MRT archive\n"), 3)},
		{"text", "not an MRT file", bytes.Repeat([]byte("this is not an MRT archive\n"), 200)},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runFeed(t, &Feed{Inputs: []string{writeFile(t, "x.mrt", tt.in)}})
			if !errors.Is(err, ErrNotMRT) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrNotMRT mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("stdin", func(t *testing.T) {
		f := &Feed{Inputs: []string{"-"}, Stdin: bytes.NewReader(good)}
		got, err := runFeed(t, f)
		if err != nil || len(got) != 1 || len(got[0].Updates) != 3 {
			t.Fatalf("%+v, %v", got, err)
		}
	})
	t.Run("reused batches", func(t *testing.T) {
		reuse := make(chan route.Batch, 1)
		reuse <- route.Batch{Updates: make([]route.Update, 5, 2048)}
		out := make(chan route.Batch, 1)
		// feedBatch updates fill the first batch; the second reuses.
		var many bytes.Buffer
		for range feedBatch/3 + 1 {
			many.Write(good)
		}
		f := &Feed{Inputs: []string{writeFile(t, "m.mrt", many.Bytes())}, Reuse: reuse}
		go func() {
			for b := range out {
				_ = b
			}
		}()
		if err := f.Run(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		close(out)
		if len(reuse) != 0 {
			t.Error("the offered batch was not reused")
		}
	})
}
