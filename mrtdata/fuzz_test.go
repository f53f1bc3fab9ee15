package mrtdata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"routewatch/route"
)

// fuzzSeeds are records of every kind the decoder knows: the quirks
// archive plus writer output (RIB with peer index, add-path, ET).
func fuzzSeeds(t testing.TB) [][]byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	p := route.Peer{Addr: netip.MustParseAddr("2001:db8::1"), ASN: 4200000000}
	a := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{4200000000, 16509}}}, NextHop: p.Addr,
		Communities: []route.Community{1}, LargeCommunities: []route.LargeCommunity{{Global: 1, Local1: 2, Local2: 3}}}
	_ = w.WritePeerIndexTable(timeZero, netip.MustParseAddr("10.0.0.1"), "v", []route.Peer{p, {Addr: netip.MustParseAddr("192.0.2.1"), ASN: 1}})
	_ = w.WriteRIB(timeZero, 0, netip.MustParsePrefix("2600:1f00::/24"), []RIBEntry{{PeerIndex: 0, Attrs: a}, {PeerIndex: 1, Attrs: a}}, false)
	_ = w.WriteRIB(timeZero, 1, netip.MustParsePrefix("52.94.0.0/22"), []RIBEntry{{PeerIndex: 1, PathID: 4, Attrs: a}}, true)
	w.TwoByteAS = true
	_ = w.WriteUpdate(route.Update{Time: timeZero, Peer: p, Prefix: netip.MustParsePrefix("52.94.0.0/22"), PathID: 2, Attrs: a})
	_, bodies := splitRecordsRaw(append(append(quirksArchive(), buf.Bytes()...), legacyArchive(t)...))
	return bodies
}

var timeZero = time.Unix(1700000000, 0)

func splitRecordsRaw(all []byte) (hdrs, recs [][]byte) {
	for len(all) >= 12 {
		l := int(binary.BigEndian.Uint32(all[8:]))
		recs = append(recs, all[:12+l])
		all = all[12+l:]
	}
	return nil, recs
}

// FuzzReader feeds arbitrary bytes to the framer and decoder: no panic
// (the per-record recover must never fire), no endless loop, and every
// route it returns is well formed.
func FuzzReader(f *testing.F) {
	seeds := fuzzSeeds(f)
	f.Add(bytes.Join(seeds, nil))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), "fuzz")
		var fm BgpdumpFormatter
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatal("more records than bytes")
			}
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if strings.Contains(err.Error(), "decoder panic") {
					t.Fatal(err)
				}
				var re *RecordError
				var te *TruncatedError
				switch {
				case errors.As(err, &re) && errors.Is(err, ErrCorrupt):
					continue
				case errors.As(err, &te) && errors.Is(err, ErrTruncated):
					return
				}
				t.Fatalf("untyped error %v", err)
			}
			for _, u := range rec.Updates {
				if !u.Prefix.IsValid() || u.Prefix != u.Prefix.Masked() || !u.Peer.Addr.IsValid() {
					t.Fatalf("bad update %+v", u)
				}
				if !u.Withdraw && u.Attrs == nil {
					t.Fatalf("announcement without attributes %+v", u)
				}
			}
			fm.Append(nil, &rec)
		}
	})
}

// FuzzDecodeRecord drives the record decoder directly (without the
// Reader's recover), with a peer index table loaded.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(binary.BigEndian.Uint16(s[4:]), binary.BigEndian.Uint16(s[6:]), s[12:])
	}
	f.Fuzz(func(t *testing.T, typ, sub uint16, body []byte) {
		d := decoder{peers: []route.Peer{{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 1}}, warn: map[string]int64{}}
		rec := Record{Type: typ, Subtype: sub}
		if err := d.record(&rec, body); err != nil {
			return
		}
		var fm BgpdumpFormatter
		fm.Append(nil, &rec)
		for _, u := range rec.Updates {
			if u.Attrs != nil {
				_ = u.Attrs.ASPath.String()
			}
		}
	})
}

// TestWriteFuzzSeeds writes the seed corpus files under testdata/fuzz
// (run with -update).
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	for i, s := range fuzzSeeds(t) {
		write := func(target, content string) {
			dir := filepath.Join("testdata", "fuzz", target)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte("go test fuzz v1\n"+content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("FuzzReader", "[]byte("+strconv.Quote(string(s))+")\n")
		write("FuzzDecodeRecord", fmt.Sprintf("uint16(%d)\nuint16(%d)\n[]byte(%s)\n",
			binary.BigEndian.Uint16(s[4:]), binary.BigEndian.Uint16(s[6:]), strconv.Quote(string(s[12:]))))
	}
}
