package mrtdata

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// interleaved writes an archive with one update per given second.
func interleaved(t *testing.T, name string, peer route.Peer, secs ...int64) string {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	a := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{peer.ASN}}}, NextHop: peer.Addr}
	for _, s := range secs {
		u := route.Update{Time: time.Unix(1700000000+s, 0), Peer: peer, Prefix: netip.MustParsePrefix("10.0.0.0/16"), Attrs: a}
		if err := w.WriteUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	return writeFile(t, name, buf.Bytes())
}

// TestFeedSort: with Sort, inputs are merged by record time — the README's
// 2021-then-2016 example replays 2016 first, two interleaved inputs come
// out in one time order — and the stats count every input.
func TestFeedSort(t *testing.T) {
	t.Run("2021 then 2016", func(t *testing.T) {
		fixture := filepath.Join(testenv.RepoRoot(t), "testdata", "scenarios", "te_shift.mrt.gz")
		old := testenv.SharedFile(t, "mrt/updates.20160811.1600.gz")
		f := &Feed{Inputs: []string{fixture, old}, Sort: true}
		got, err := runFeed(t, f)
		if err != nil {
			t.Fatal(err)
		}
		var last time.Time
		n := 0
		for _, b := range got {
			for _, u := range b.Updates {
				if u.Time.Before(last) {
					t.Fatalf("update at %s after one at %s", u.Time, last)
				}
				last = u.Time
				n++
			}
		}
		if want := countRoutes(t, fixture) + countRoutes(t, old); n != want {
			t.Errorf("%d updates, want %d", n, want)
		}
		if st := f.Stats(); st.Inputs != 2 || st.Last.Year() != 2021 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("two interleaved inputs", func(t *testing.T) {
		p1 := route.Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 64501}
		p2 := route.Peer{Addr: netip.MustParseAddr("198.51.100.2"), ASN: 64502}
		a := interleaved(t, "a.mrt", p1, 0, 2, 4, 6)
		b := interleaved(t, "b.mrt", p2, 1, 2, 3, 7)
		got, err := runFeed(t, &Feed{Inputs: []string{a, b}, Sort: true})
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, bt := range got {
			for _, u := range bt.Updates {
				order = append(order, u.Time.Sub(time.Unix(1700000000, 0)).String()+"/"+u.Peer.Addr.String()[len("198.51.100."):])
			}
		}
		want := []string{"0s/1", "1s/2", "2s/1", "2s/2", "3s/2", "4s/1", "6s/1", "7s/2"}
		if !slices.Equal(order, want) {
			t.Errorf("order %v, want %v", order, want)
		}
		if _, err := runFeed(t, &Feed{Inputs: []string{a, b}}); err == nil {
			t.Error("without Sort, interleaved inputs are not refused")
		}
	})
	t.Run("not MRT", func(t *testing.T) {
		a := interleaved(t, "a.mrt", route.Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 64501}, 0)
		empty := writeFile(t, "empty.mrt", nil)
		if _, err := runFeed(t, &Feed{Inputs: []string{a, empty}, Sort: true}); err == nil {
			t.Error("an empty input is not refused")
		}
		var failed []string
		f := &Feed{Inputs: []string{a, empty}, Sort: true, KeepGoing: true, InputFailed: func(n string, _ error) { failed = append(failed, n) }}
		if _, err := runFeed(t, f); err != nil || !slices.Equal(failed, []string{empty}) {
			t.Errorf("keep going: err %v, failed %v", err, failed)
		}
	})
}
