package store

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"routewatch/route"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// fillMemory runs a random stream (differential_test.go) into a state-file
// backed store, plus outbox and checkpoint entries.
func fillMemory(t *testing.T, m *Memory) *streamGen {
	t.Helper()
	ctx := context.Background()
	g := newStreamGen(42)
	for range 80 {
		ups, sts, evs := g.batch()
		if err := applyAll(m, ups, sts, evs); err != nil {
			t.Fatal(err)
		}
	}
	ds := []Delivery{{ID: "d1", Sink: "s", EventID: "ev-0", Payload: []byte("x"), Created: at(1), NextAttempt: at(2)},
		{ID: "d2", Sink: "s", Payload: []byte("y"), NextAttempt: at(3)}, {ID: "d3", NextAttempt: at(4)}}
	if err := m.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Due(ctx, at(2), time.Minute, 1); err != nil { // d1 leased
		t.Fatal(err)
	}
	if err := m.Finish(ctx, "d3", Delivered, at(5)); err != nil {
		t.Fatal(err)
	}
	if err := m.PutCheckpoint(ctx, "analyzer", []byte("state\x00bytes"), at(9)); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestMemoryStateFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "state.rws")
	cfg := MemoryConfig{StateFile: file, Retention: Retention{HistoryCount: 6, HistoryAge: 20 * time.Minute, ResolvedEvents: 5}}
	orig, err := OpenMemory(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := fillMemory(t, orig)
	if err := orig.Close(); err != nil {
		t.Fatalf("Close (writes the state): %v", err)
	}
	var logs bytes.Buffer
	loaded, err := OpenMemory(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "memory state loaded") {
		t.Errorf("log = %s", logs.String())
	}
	if diff := compareReads(g, orig, loaded); diff != "" {
		t.Fatalf("reloaded store differs: %s", diff)
	}
	for _, now := range []time.Time{at(2), at(2).Add(2 * time.Minute)} {
		a, _ := orig.Due(ctx, now, time.Second, 10)
		b, _ := loaded.Due(ctx, now, time.Second, 10)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("Due(%v): before %s, after reload %s", now, ja, jb)
		}
	}
	if err := loaded.Enqueue(ctx, []Delivery{{ID: "d3"}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range mustDue(t, loaded, at(1000)) {
		if d.ID == "d3" {
			t.Errorf("finished d3 re-enqueued after reload")
		}
	}
	data, when, err := loaded.Checkpoint(ctx, "analyzer")
	if err != nil || string(data) != "state\x00bytes" || !when.Equal(at(9)) {
		t.Errorf("checkpoint after reload = %q %v %v", data, when, err)
	}
	// The reloaded store keeps working: a new event indexes with the old.
	if err := loaded.PutEvents(ctx, []route.Event{{ID: "new", Start: at(1)}}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("state directory holds %d files, want only the state file (no temporaries)", len(entries))
	}
}

func TestMemoryStateFileBad(t *testing.T) {
	valid := func(t *testing.T) []byte {
		file := filepath.Join(t.TempDir(), "ok")
		m, _ := OpenMemory(MemoryConfig{StateFile: file}, nil)
		fillMemory(t, m)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"empty", func(*testing.T) []byte { return nil }},
		{"not a state file", func(*testing.T) []byte { return []byte("{\"routes\": []}\n") }},
		{"truncated", func(t *testing.T) []byte { b := valid(t); return b[:len(b)/2] }},
		{"flipped byte", func(t *testing.T) []byte { b := valid(t); b[len(b)-10] ^= 0xff; return b }},
		{"header only", func(*testing.T) []byte { return []byte(stateMagic) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "state.rws")
			if err := os.WriteFile(file, tc.data(t), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			m, err := OpenMemory(MemoryConfig{StateFile: file}, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("OpenMemory: %v, want a warning and an empty store", err)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "set aside") {
				t.Errorf("log = %s", logs.String())
			}
			if ps, _ := m.Peers(context.Background()); len(ps) != 0 {
				t.Errorf("store not empty: %d peers", len(ps))
			}
			aside, _ := filepath.Glob(file + ".corrupt-*")
			if len(aside) != 1 {
				t.Errorf("bad file set aside as %v, want one FILE.corrupt-*", aside)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenMemory(MemoryConfig{StateFile: file}, nil); err != nil {
				t.Errorf("the next start reads the file Close wrote: %v", err)
			}
		})
	}
}

func TestMemoryStateFileStale(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.rws")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeState(f, &memState{SavedAt: time.Now().Add(-3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var logs bytes.Buffer
	if _, err := OpenMemory(MemoryConfig{StateFile: file}, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "stale") {
		t.Errorf("a 3 h old state file loads with a warning: log = %s", logs.String())
	}
}

// TestMemoryRunSavesPeriodically: Run writes the state file every
// interval (virtual time), and a store opened from it sees what was there.
func TestMemoryRunSavesPeriodically(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.rws")
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		m, err := OpenMemory(MemoryConfig{StateFile: file, StateInterval: time.Minute}, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		mustApply(t, m, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509))
		time.Sleep(30 * time.Second) // virtual time
		synctest.Wait()
		if re, err := OpenMemory(MemoryConfig{StateFile: file}, nil); err != nil {
			t.Fatal(err)
		} else if rs := routesOf(t, re, "192.0.2.0/24", MatchExact); len(rs) != 0 {
			t.Error("state written before the first interval")
		}
		time.Sleep(31 * time.Second)
		synctest.Wait()
		re, err := OpenMemory(MemoryConfig{StateFile: file}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rs := routesOf(t, re, "192.0.2.0/24", MatchExact); len(rs) != 1 {
			t.Errorf("state after one interval: routes %+v", rs)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func mustDue(t *testing.T, s Store, now time.Time) []Delivery {
	t.Helper()
	ds, err := s.Due(context.Background(), now, time.Second, MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestMemoryStateVantagePoints: a state file keeps vantage points apart,
// and one written before vantage points (fuzz seed v1-seed00: peerA's
// session and paths) still loads.
func TestMemoryStateVantagePoints(t *testing.T) {
	ctx := context.Background()
	t.Run("round trip", func(t *testing.T) {
		m := NewMemory(MemoryConfig{})
		for _, p := range []route.Peer{peerA, peerARRC00, peerARRC01, peerABMPPre, peerABMPPost} {
			mustStates(t, m, state(0, p, route.StateIdle, route.StateEstablished))
			mustApply(t, m, ann(1, p, "192.0.2.0/24", awsW2, 3333, 16509))
		}
		mustStates(t, m, state(2, peerARRC00, route.StateEstablished, route.StateIdle))
		var b bytes.Buffer
		if err := writeState(&b, m.snapshot()); err != nil {
			t.Fatal(err)
		}
		st, err := readState(&b)
		if err != nil {
			t.Fatal(err)
		}
		back := NewMemory(MemoryConfig{})
		if err := back.restore(st); err != nil {
			t.Fatal(err)
		}
		for _, read := range []func(s Store) (any, error){
			func(s Store) (any, error) { return s.Peers(ctx) },
			func(s Store) (any, error) {
				rs, err := s.Routes(ctx, netip.MustParsePrefix("192.0.2.0/24"), MatchExact)
				for i := range rs {
					rs[i].Version = "" // names the store instance
				}
				return rs, err
			},
			func(s Store) (any, error) { return s.SessionHistory(ctx, peerARRC00, 0) },
			func(s Store) (any, error) { return s.SessionHistory(ctx, peerARRC01, 0) },
		} {
			a, errA := read(m)
			b, errB := read(back)
			if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("after restore:\n got %+v %v\nwant %+v %v", b, errB, a, errA)
			}
		}
		if sh, _ := back.SessionHistory(ctx, peerARRC00, 0); len(sh) != 2 {
			t.Errorf("rrc00 session history = %+v", sh)
		}
	})
	t.Run("version 1 file", func(t *testing.T) {
		st, err := readState(bytes.NewReader(readSeed(t, filepath.Join("testdata", "fuzz", "FuzzReadState", "v1-seed00"))))
		if err != nil {
			t.Fatal(err)
		}
		m := NewMemory(MemoryConfig{})
		if err := m.restore(st); err != nil {
			t.Fatal(err)
		}
		ps, _ := m.Peers(ctx)
		sh, _ := m.SessionHistory(ctx, peerA, 0)
		if len(ps) != 2 || ps[0].Peer != peerA || ps[0].State != route.StateEstablished || len(sh) != 1 || sh[0].Peer != peerA {
			t.Errorf("peers = %+v, session history = %+v", ps, sh)
		}
	})
}

// stateSeeds are state files for FuzzReadState: a small valid one, cut
// short, and the bare header.
func stateSeeds(t *testing.T) [][]byte {
	m := NewMemory(MemoryConfig{})
	mustApply(t, m, ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509), wd(2, peerB, "2001:db8::/32"))
	mustStates(t, m, state(0, peerA, route.StateIdle, route.StateEstablished))
	if err := m.PutEvents(context.Background(), []route.Event{{ID: "e", Start: at(1)}}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeState(&b, m.snapshot()); err != nil {
		t.Fatal(err)
	}
	return [][]byte{b.Bytes(), b.Bytes()[:b.Len()/2], []byte(stateMagic)}
}

// FuzzReadState: any file either fails with an error or loads into a
// store that answers reads; it never panics.
func FuzzReadState(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		st, err := readState(bytes.NewReader(b))
		if err != nil {
			return
		}
		m := NewMemory(MemoryConfig{})
		if err := m.restore(st); err != nil {
			return
		}
		ctx := context.Background()
		_, _ = m.Routes(ctx, netip.MustParsePrefix("::/0"), MatchCovered)
		_, _ = m.Routes(ctx, netip.MustParsePrefix("0.0.0.0/0"), MatchCovered)
		_, _ = m.Groups(ctx)
		_, _, _ = m.Events(ctx, EventFilter{})
		_, _ = m.Peers(ctx)
	})
}

func TestMemoryStateFileUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "no such dir", "state.rws")
	if _, err := OpenMemory(MemoryConfig{StateFile: file}, nil); err == nil || !strings.Contains(err.Error(), "state_file") {
		t.Errorf("OpenMemory with a state file in a missing directory: %v, want an error naming state_file", err)
	}
}
