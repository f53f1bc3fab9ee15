package mrtdata

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"routewatch/internal/testenv"
	"routewatch/route"
)

func readAll(t *testing.T, r *Reader) (recs []Record, updates []route.Update, states []route.PeerState, errs []error) {
	t.Helper()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			errs = append(errs, err)
			if !errors.Is(err, ErrCorrupt) {
				return
			}
			continue
		}
		recs = append(recs, rec)
		updates = append(updates, rec.Updates...)
		states = append(states, rec.States...)
	}
}

func sameUpdate(a, b route.Update) bool {
	return a.Time.Equal(b.Time) && a.Source == b.Source && a.Peer == b.Peer && a.Prefix == b.Prefix &&
		a.PathID == b.PathID && a.Withdraw == b.Withdraw && a.TableDump == b.TableDump && a.Attrs.Equal(b.Attrs)
}

func TestWriterRoundTrip(t *testing.T) {
	t0 := time.Unix(1700000000, 0).UTC()
	p4 := route.Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 4200000000}
	p6 := route.Peer{Addr: netip.MustParseAddr("2001:db8::1"), ASN: 64500}
	full := &route.Attrs{
		ASPath: route.ASPath{
			{Type: route.ASSequence, ASNs: []uint32{4200000000, 3356, 16509}},
			{Type: route.ASSet, ASNs: []uint32{7, 8}},
		},
		Origin: route.OriginIncomplete, NextHop: netip.MustParseAddr("198.51.100.1"),
		MED: 10, HasMED: true, LocalPref: 200, HasLocalPref: true, AtomicAggregate: true,
		Aggregator:       &route.Aggregator{ASN: 4200000001, Addr: netip.MustParseAddr("10.0.0.1")},
		Communities:      []route.Community{16509<<16 | 1, 0xFFFFFF01},
		LargeCommunities: []route.LargeCommunity{{Global: 4200000000, Local1: 1, Local2: 2}},
	}
	v6 := *full
	v6.NextHop = netip.MustParseAddr("2001:db8::1")
	simple := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{64500}}}, NextHop: netip.MustParseAddr("2001:db8::1")}
	long := make([]uint32, 600) // longer than one 255-ASN segment
	for i := range long {
		long[i] = uint32(i + 1)
	}
	longAttrs := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: long}}, NextHop: netip.MustParseAddr("198.51.100.1")}

	tests := []struct {
		name      string
		twoByteAS bool
		updates   []route.Update
		states    []route.PeerState
	}{
		{name: "ipv4 announce and withdraw", updates: []route.Update{
			{Time: t0, Peer: p4, Prefix: netip.MustParsePrefix("203.0.113.0/24"), Attrs: full},
			{Time: t0, Peer: p4, Prefix: netip.MustParsePrefix("203.0.113.0/24"), Withdraw: true},
		}},
		{name: "ipv6 via MP_REACH and MP_UNREACH", updates: []route.Update{
			{Time: t0, Peer: p6, Prefix: netip.MustParsePrefix("2600:1f00::/24"), Attrs: &v6},
			{Time: t0, Peer: p6, Prefix: netip.MustParsePrefix("2600:1f00::/24"), Withdraw: true},
		}},
		{name: "add-path", updates: []route.Update{
			{Time: t0, Peer: p4, Prefix: netip.MustParsePrefix("203.0.113.0/24"), PathID: 7, Attrs: full},
			{Time: t0, Peer: p6, Prefix: netip.MustParsePrefix("2600:1f00::/24"), PathID: 9, Withdraw: true},
		}},
		{name: "microsecond time uses BGP4MP_ET", updates: []route.Update{
			{Time: t0.Add(123456 * time.Microsecond), Peer: p6, Prefix: netip.MustParsePrefix("::/0"), Attrs: simple},
		}},
		{name: "two-byte AS speaker with AS4_PATH", twoByteAS: true, updates: []route.Update{
			{Time: t0, Peer: route.Peer{Addr: p4.Addr, ASN: 3356}, Prefix: netip.MustParsePrefix("192.0.2.0/24"), Attrs: full},
		}},
		{name: "long AS path", updates: []route.Update{
			{Time: t0, Peer: p4, Prefix: netip.MustParsePrefix("192.0.2.0/24"), Attrs: longAttrs},
		}},
		{name: "peer states", states: []route.PeerState{
			{Time: t0, Peer: p4, Old: route.StateEstablished, New: route.StateIdle},
			{Time: t0.Add(time.Millisecond), Peer: p6, Old: route.StateOpenConfirm, New: route.StateEstablished},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			w.TwoByteAS = tt.twoByteAS
			for _, u := range tt.updates {
				if err := w.WriteUpdate(u); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range tt.states {
				if err := w.WritePeerState(s); err != nil {
					t.Fatal(err)
				}
			}
			_, ups, sts, errs := readAll(t, NewReader(&buf, "rt"))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if len(ups) != len(tt.updates) || len(sts) != len(tt.states) {
				t.Fatalf("read %d updates, %d states; wrote %d, %d", len(ups), len(sts), len(tt.updates), len(tt.states))
			}
			for i, want := range tt.updates {
				want.Source = "rt"
				if want.Withdraw {
					want.Attrs = nil
				}
				if !sameUpdate(ups[i], want) {
					t.Errorf("update %d:\n got %+v %+v\nwant %+v %+v", i, ups[i], ups[i].Attrs, want, want.Attrs)
				}
			}
			for i, want := range tt.states {
				want.Source = "rt"
				if got := sts[i]; !got.Time.Equal(want.Time) || got.Peer != want.Peer || got.Old != want.Old || got.New != want.New || got.Source != want.Source {
					t.Errorf("state %d: got %+v want %+v", i, got, want)
				}
			}
		})
	}
}

func TestWriterRIBRoundTrip(t *testing.T) {
	t0 := time.Unix(1700000000, 0).UTC()
	peers := []route.Peer{
		{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 4200000000},
		{Addr: netip.MustParseAddr("2001:db8::2"), ASN: 64501},
	}
	a4 := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{4200000000, 16509}}}, NextHop: netip.MustParseAddr("198.51.100.1"), Communities: []route.Community{1}}
	a6 := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{64501, 16509}}}, NextHop: netip.MustParseAddr("2001:db8::2")}
	// Enough entries to pass 64 KiB in one record.
	many := make([]RIBEntry, 2000)
	for i := range many {
		many[i] = RIBEntry{PeerIndex: uint16(i % 2), Originated: t0, PathID: uint32(i), Attrs: a4}
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WritePeerIndexTable(t0, netip.MustParseAddr("10.0.0.1"), "rrc00", peers))
	must(w.WriteRIB(t0, 0, netip.MustParsePrefix("203.0.113.0/24"), []RIBEntry{{PeerIndex: 0, Originated: t0, Attrs: a4}, {PeerIndex: 1, Originated: t0, Attrs: a4}}, false))
	must(w.WriteRIB(t0, 1, netip.MustParsePrefix("2600:1f00::/24"), []RIBEntry{{PeerIndex: 1, Originated: t0, PathID: 5, Attrs: a6}}, true))
	must(w.WriteRIB(t0, 2, netip.MustParsePrefix("192.0.2.0/24"), many, true))
	if buf.Len() < 64<<10 {
		t.Fatalf("fixture only %d bytes", buf.Len())
	}
	recs, ups, _, errs := readAll(t, NewReader(&buf, "rib"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(recs) != 4 || len(ups) != 3+len(many) {
		t.Fatalf("%d records, %d updates", len(recs), len(ups))
	}
	want := route.Update{Time: t0, Source: "rib", Peer: peers[1], Prefix: netip.MustParsePrefix("203.0.113.0/24"), TableDump: true, Attrs: a4}
	if !sameUpdate(ups[1], want) {
		t.Errorf("got %+v want %+v", ups[1], want)
	}
	want = route.Update{Time: t0, Source: "rib", Peer: peers[1], Prefix: netip.MustParsePrefix("2600:1f00::/24"), PathID: 5, TableDump: true, Attrs: a6}
	if !sameUpdate(ups[2], want) {
		t.Errorf("got %+v %+v\nwant %+v %+v", ups[2], ups[2].Attrs, want, want.Attrs)
	}
	if ups[0].Attrs != ups[1].Attrs {
		t.Error("entries with identical attribute bytes should share one *route.Attrs")
	}
	if last := ups[len(ups)-1]; last.PathID != uint32(len(many)-1) || !last.TableDump {
		t.Errorf("last entry %+v", last)
	}
}

// TestWriterAgainstBgpdump feeds writer output to the installed bgpdump:
// the fixtures other packages build must be valid MRT for other tools too.
func TestWriterAgainstBgpdump(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	var buf bytes.Buffer
	w := NewWriter(&buf)
	p := route.Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 4200000000}
	a := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{4200000000, 16509}}}, NextHop: p.Addr, MED: 5, HasMED: true}
	for _, err := range []error{
		w.WriteUpdate(route.Update{Time: t0, Peer: p, Prefix: netip.MustParsePrefix("52.94.0.0/22"), Attrs: a}),
		w.WriteUpdate(route.Update{Time: t0, Peer: p, Prefix: netip.MustParsePrefix("2600:1f00::/24"), PathID: 3, Attrs: a}),
		w.WriteUpdate(route.Update{Time: t0.Add(time.Second), Peer: p, Prefix: netip.MustParsePrefix("52.94.0.0/22"), Withdraw: true}),
		w.WritePeerState(route.PeerState{Time: t0.Add(2 * time.Second), Peer: p, Old: route.StateEstablished, New: route.StateIdle}),
		w.WritePeerIndexTable(t0, netip.MustParseAddr("10.0.0.1"), "", []route.Peer{p}),
		w.WriteRIB(t0, 0, netip.MustParsePrefix("52.94.0.0/22"), []RIBEntry{{Originated: t0, Attrs: a}}, false),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Join(t.TempDir(), "w.mrt")
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"BGP4MP|1700000000|A|198.51.100.1|4200000000|52.94.0.0/22|4200000000 16509|IGP|198.51.100.1|0|5||NAG||",
		"BGP4MP_AP|1700000000|A|198.51.100.1|4200000000|2600:1f00::/24|3|4200000000 16509|IGP|::|0|5||NAG||",
		"BGP4MP|1700000001|W|198.51.100.1|4200000000|52.94.0.0/22",
		"BGP4MP|1700000002|STATE|198.51.100.1|4200000000|6|1",
		"TABLE_DUMP2|1700000000|B|198.51.100.1|4200000000|52.94.0.0/22|4200000000 16509|IGP|198.51.100.1|0|5||NAG||",
	}, "\n") + "\n"
	if got := string(runBgpdump(t, name)); got != want {
		t.Errorf("bgpdump reads the writer's output as:\n%s\nwant:\n%s", got, want)
	}
	if got, _ := dumpM(t, name); string(got) != want {
		t.Errorf("we read it as:\n%s", got)
	}
}

// archive returns a small valid archive of n BGP4MP records.
func archive(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	p := route.Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 64500}
	a := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{64500}}}, NextHop: p.Addr}
	for i := range n {
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)
		if err := w.WriteUpdate(route.Update{Time: time.Unix(1700000000, 0), Peer: p, Prefix: pfx, Attrs: a}); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestTruncatedArchive(t *testing.T) {
	full := archive(t, 3)
	recLen := len(full) / 3
	for cut := 1; cut < len(full); cut++ {
		_, ups, _, errs := readAll(t, NewReader(bytes.NewReader(full[:cut]), "cut.mrt"))
		whole := cut / recLen
		if len(ups) != whole {
			t.Fatalf("cut %d: %d updates, want %d", cut, len(ups), whole)
		}
		if cut%recLen == 0 {
			if len(errs) != 0 {
				t.Fatalf("cut %d at a record boundary: %v", cut, errs)
			}
			continue
		}
		if len(errs) != 1 || !errors.Is(errs[0], ErrTruncated) {
			t.Fatalf("cut %d: errors %v, want one ErrTruncated", cut, errs)
		}
		var re *TruncatedError
		if !errors.As(errs[0], &re) || re.Index != int64(whole) || re.Offset != int64(whole*recLen) || re.File != "cut.mrt" {
			t.Fatalf("cut %d: %+v", cut, re)
		}
	}
}

func TestCorruptRecordContinues(t *testing.T) {
	good := archive(t, 2)
	recLen := len(good) / 2
	bad := bytes.Clone(good[:recLen])
	// Claim a path attribute length past the end of the attributes.
	idx := bytes.Index(bad, []byte{flagTransitive, attrOrigin, 1})
	bad[idx+2] = 200
	in := append(append(bytes.Clone(good[:recLen]), bad...), good[recLen:]...)
	r := NewReader(bytes.NewReader(in), "bad.mrt")
	_, ups, _, errs := readAll(t, r)
	if len(ups) != 2 || len(errs) != 1 || !errors.Is(errs[0], ErrCorrupt) {
		t.Fatalf("%d updates, errors %v", len(ups), errs)
	}
	var re *RecordError
	if !errors.As(errs[0], &re) || re.Index != 1 || re.Offset != int64(recLen) || !strings.Contains(re.Error(), "bad.mrt: record 1 at offset") {
		t.Fatalf("%+v", re)
	}
	if st := r.Stats(); st.Errors["corrupt"] != 1 || st.Records != 3 || st.Routes != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestFramingAndSkips(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		skipped string
		err     error
	}{
		{"huge length", mrtRec(1, TypeBGP4MP, SubMessageAS4, nil)[:8], "", ErrTruncated},
		{"keepalive", mrtRec(1, TypeBGP4MP, SubMessageAS4, cat(bgp4mpHdr(true, 1, 2, "192.0.2.1", "192.0.2.2"), bgpMsg(4, nil))), "BGP4MP/KEEPALIVE", nil},
		{"unknown type", mrtRec(1, 99, 0, []byte{1}), "type 99", nil},
		{"ospf", mrtRec(1, 11, 0, []byte{1}), "OSPFv2", nil},
	}
	tests[0].in = append(tests[0].in, 0xff, 0xff, 0xff, 0xff)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.in), "x")
			_, err := r.Next()
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				if _, err2 := r.Next(); !errors.Is(err2, tt.err) {
					t.Fatalf("error not final: %v", err2)
				}
				var re *RecordError
				if errors.As(err, &re) {
					t.Fatal("a final error must not be a *RecordError (callers skip those)")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Stats().Skipped[tt.skipped] != 1 {
				t.Fatalf("skipped %v", r.Stats().Skipped)
			}
		})
	}
}

func gzipMembers(t *testing.T, parts ...[]byte) []byte {
	var out bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&out)
		zw.Write(p)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func TestOpen(t *testing.T) {
	plain := archive(t, 4)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	half := len(plain) / 2
	files := map[string]string{
		"plain":               write("a.mrt", plain),
		"gzip multi-member":   write("a.mrt.gz", gzipMembers(t, plain[:half], plain[half:])),
		"gzip member per rec": write("b.mrt.gz", gzipMembers(t, plain[:half/2], plain[half/2:half], plain[half:])),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write(gzipMembers(t, plain))
	}))
	defer srv.Close()
	files["http"] = srv.URL + "/rib.gz"
	t.Run("bzip2", func(t *testing.T) {
		// The stdlib has no bzip2 writer: the fixture is made by the bzip2
		// command under -update and checked in.
		golden := filepath.Join("testdata", "four.mrt.bz2")
		if *update {
			bz := testenv.Command(t, "bzip2")
			out, err := exec.Command(bz, "-c", files["plain"]).Output()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, out, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		checkOpen(t, golden, 4)
	})
	for name, f := range files {
		t.Run(name, func(t *testing.T) { checkOpen(t, f, 4) })
	}
	t.Run("http 404", func(t *testing.T) {
		if _, err := Open(context.Background(), srv.URL+"/missing"); err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := Open(context.Background(), filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err %v", err)
		}
	})
}

func checkOpen(t *testing.T, name string, want int) {
	t.Helper()
	rc, err := Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, ups, _, errs := readAll(t, NewReader(rc, name))
	if len(errs) > 0 || len(ups) != want {
		t.Fatalf("%d updates, errors %v", len(ups), errs)
	}
}
