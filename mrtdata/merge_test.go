package mrtdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// sliceStream yields records at the given unix seconds; a negative value
// yields a corrupt record at -t, a zero ends the stream with a final error.
type sliceStream struct {
	name  string
	times []int64
	i     int
}

func (s *sliceStream) Next() (Record, error) {
	if s.i >= len(s.times) {
		return Record{}, io.EOF
	}
	t := s.times[s.i]
	s.i++
	switch {
	case t == 0:
		return Record{}, &TruncatedError{File: s.name, Kind: "truncated", Reason: "cut"}
	case t < 0:
		return Record{Index: int64(s.i - 1), Time: time.Unix(-t, 0)}, &RecordError{File: s.name, Kind: "corrupt", Err: ErrCorrupt}
	}
	return Record{Index: int64(s.i - 1), Time: time.Unix(t, 0)}, nil
}

func TestMerger(t *testing.T) {
	tests := []struct {
		name    string
		streams [][]int64
		want    string // stream:time per record, "!" marks an error
	}{
		{"empty", nil, ""},
		{"one", [][]int64{{1, 2, 3}}, "0:1 0:2 0:3"},
		{"interleaved", [][]int64{{1, 4, 6}, {2, 3, 7}, {5}}, "0:1 1:2 1:3 0:4 2:5 0:6 1:7"},
		{"ties in stream order", [][]int64{{5, 5}, {5}, {1, 5}}, "2:1 0:5 0:5 1:5 2:5"},
		{"corrupt in place", [][]int64{{1, -3, 5}, {2, 4}}, "0:1 1:2 0:3! 1:4 0:5"},
		{"final error ends one stream", [][]int64{{1, 0, 9}, {2, 3}}, "0:1 0! 1:2 1:3"},
		{"final error first", [][]int64{{0}, {2}, {0}, {1}}, "0! 2! 3:1 1:2"},
		{"empty stream", [][]int64{{}, {1}}, "1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var streams []RecordStream
			for i, ts := range tt.streams {
				streams = append(streams, &sliceStream{name: fmt.Sprint(i), times: ts})
			}
			m := NewMerger(streams...)
			var got bytes.Buffer
			for n := 0; n < 100; n++ {
				rec, i, err := m.Next()
				if err == io.EOF {
					break
				}
				if got.Len() > 0 {
					got.WriteByte(' ')
				}
				var me *MergeError
				if err != nil && (!errors.As(err, &me) || me.Stream != i) {
					t.Fatalf("error %v is not a *MergeError of stream %d", err, i)
				}
				switch {
				case errors.Is(err, ErrCorrupt):
					fmt.Fprintf(&got, "%d:%d!", i, rec.Time.Unix())
				case errors.Is(err, ErrTruncated):
					fmt.Fprintf(&got, "%d!", i)
				case err != nil:
					t.Fatalf("unexpected error %v", err)
				default:
					fmt.Fprintf(&got, "%d:%d", i, rec.Time.Unix())
				}
			}
			if got.String() != tt.want {
				t.Fatalf("merge order\n got: %s\nwant: %s", got.String(), tt.want)
			}
		})
	}
}

// TestMergerReaders merges real RIS files written with shifted times and
// checks the merged stream: every record once, in time order, each
// record's routes intact although the readers reuse their buffers.
func TestMergerReaders(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "mrt")
	var streams []RecordStream
	var total int64
	var want []int64 // routes per stream
	for _, name := range []string{"updates.20160811.1600.gz", "updates.20070211.0141.gz"} {
		rc, err := Open(context.Background(), filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		// Count first (a second pass), then merge.
		rc2, _ := Open(context.Background(), filepath.Join(dir, name))
		r2 := NewReader(rc2, name)
		for {
			if _, err := r2.Next(); err == io.EOF {
				break
			} else if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatal(err)
			}
		}
		rc2.Close()
		total += r2.Stats().Records
		want = append(want, r2.Stats().Routes)
		streams = append(streams, NewReader(rc, name))
	}
	// Shift the 2007 file onto the 2016 file's window so that they
	// interleave.
	shift := time.Date(2016, 8, 11, 16, 0, 0, 0, time.UTC).Sub(time.Date(2007, 2, 11, 1, 41, 0, 0, time.UTC))
	streams[1] = shiftStream{streams[1], shift}
	m := NewMerger(streams...)
	var last time.Time
	var n int64
	routes := make([]int64, len(streams))
	switches := 0
	prev := -1
	for {
		rec, i, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		if rec.Time.Before(last) {
			t.Fatalf("record %d of stream %d at %s before %s", rec.Index, i, rec.Time, last)
		}
		for _, u := range rec.Updates {
			if !u.Prefix.IsValid() || u.Source == "" {
				t.Fatalf("stream %d record %d: damaged update %+v", i, rec.Index, u)
			}
		}
		if i != prev {
			switches++
			prev = i
		}
		last = rec.Time
		routes[i] += int64(len(rec.Updates))
		n++
	}
	if n != total {
		t.Fatalf("merged %d records, want %d", n, total)
	}
	for i := range want {
		if routes[i] != want[i] {
			t.Fatalf("stream %d: %d routes, want %d", i, routes[i], want[i])
		}
	}
	if switches < 10 {
		t.Fatalf("streams switched %d times: not interleaved", switches)
	}
}

type shiftStream struct {
	RecordStream
	by time.Duration
}

func (s shiftStream) Next() (Record, error) {
	rec, err := s.RecordStream.Next()
	rec.Time = rec.Time.Add(s.by)
	return rec, err
}

// TestMergerKeepsRecordsValid checks that a record stays intact while
// other streams advance (one record held per stream).
func TestMergerKeepsRecordsValid(t *testing.T) {
	var a, b bytes.Buffer
	peer := route.Peer{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 64500}
	attrs := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{64500, 64501}}}, NextHop: peer.Addr}
	base := time.Date(2021, 12, 15, 15, 0, 0, 0, time.UTC)
	for i := range 50 {
		for j, buf := range []*bytes.Buffer{&a, &b} {
			w := NewWriter(buf)
			u := route.Update{
				Time: base.Add(time.Duration(2*i+j) * time.Second), Peer: peer, Attrs: attrs,
				Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(j), byte(i), 0}), 24),
			}
			if err := w.WriteUpdate(u); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := NewMerger(NewReader(&a, "a"), NewReader(&b, "b"))
	for k := 0; ; k++ {
		rec, i, err := m.Next()
		if err == io.EOF {
			if k != 100 {
				t.Fatalf("%d records, want 100", k)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), byte(k / 2), 0}), 24)
		if i != k%2 || len(rec.Updates) != 1 || rec.Updates[0].Prefix != want {
			t.Fatalf("record %d: stream %d %v, want stream %d %s", k, i, rec.Updates, k%2, want)
		}
	}
}
