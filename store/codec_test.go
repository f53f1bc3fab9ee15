package store

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"routewatch/route"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus under testdata/fuzz")

func fullAttrs() *route.Attrs {
	return &route.Attrs{
		ASPath: route.ASPath{
			{Type: route.ASConfedSequence, ASNs: []uint32{65001}},
			{Type: route.ASSequence, ASNs: []uint32{3333, 4200000000, 16509}},
			{Type: route.ASSet, ASNs: []uint32{1, 2}},
		},
		Origin: route.OriginIncomplete, NextHop: netip.MustParseAddr("2001:db8::1"),
		MED: 10, HasMED: true, LocalPref: 200, HasLocalPref: true, AtomicAggregate: true,
		Aggregator:       &route.Aggregator{ASN: 16509, Addr: netip.MustParseAddr("192.0.2.1")},
		Communities:      []route.Community{1, 0xFFFFFF01},
		LargeCommunities: []route.LargeCommunity{{Global: 1, Local1: 2, Local2: 3}},
	}
}

func sampleBatches() map[string]Batch {
	full := route.Update{Time: time.Unix(1639580043, 123).UTC(), Source: "rrc00", Peer: peerC,
		Prefix: netip.MustParsePrefix("2001:db8::/32"), PathID: 9, TableDump: true, Attrs: fullAttrs(),
		Tags: []route.Tag{{Provider: "aws", Region: "us-west-2", Service: "EC2", BorderGroup: "us-west-2", Match: route.MatchCovered}}}
	return map[string]Batch{
		"empty":    {},
		"announce": {Updates: []route.Update{ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509)}},
		"full":     {Updates: []route.Update{full}},
		"withdraw": {Updates: []route.Update{wd(2, peerB, "10.0.0.0/8")}},
		"states": {States: []route.PeerState{
			{Time: at(3), Source: "bgp", Peer: peerA, Old: route.StateEstablished, New: route.StateIdle, Reason: "hold timer expired"},
			{Peer: peerB, Old: route.StateEstablished, New: route.StateEstablished, EndOfRIB: true},
		}},
		"bmp router": {States: []route.PeerState{
			{Time: at(7), Source: "bmp", Peer: peerABMPPre, Old: route.StateIdle, New: route.StateEstablished, SysDescr: "Junos 23.4R1"},
		}},
		"mixed": {Updates: []route.Update{full, wd(2, peerB, "10.0.0.0/8")}, States: []route.PeerState{state(1, peerC, 5, 6)}},
		"vantage points": {Updates: []route.Update{
			ann(1, peerARRC00, "192.0.2.0/24", awsW2, 3333, 16509), ann(1, peerARRC01, "192.0.2.0/24", awsW2, 3333, 16509),
			ann(2, peerABMPPre, "192.0.2.0/24", nil, 3333, 16509), wd(3, peerABMPPost, "192.0.2.0/24"),
			ann(4, route.Peer{Addr: peerC.Addr, ASN: 1, Collector: "rrc 25/{x}", Router: "rtr|1 %", Distinguisher: 1<<64 - 1, View: route.ViewLocRIB}, "2001:db8::/32", nil, 1),
		}, States: []route.PeerState{
			state(5, peerARRC01, route.StateEstablished, route.StateIdle),
			state(6, route.Peer{Addr: peerA.Addr, Router: "192.0.2.9", View: route.ViewAdjRIBOutPost}, route.StateIdle, route.StateEstablished),
		}},
	}
}

func TestBatchRoundTrip(t *testing.T) {
	for name, b := range sampleBatches() {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeBatch(EncodeBatch(b))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, b) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, b)
			}
		})
	}
}

// TestDecodeBatchOldVersions decodes batches written by format versions 1
// and 2 (kept as fuzz seeds v1-*, v2-*: stream entries and session
// histories in Redis from before vantage points and before sysDescr):
// each is one of the sample batches, and re-encoded it is the same batch.
func TestDecodeBatchOldVersions(t *testing.T) {
	for _, v := range []struct{ seeds, magic string }{{"v1-*", batchMagicV1}, {"v2-*", batchMagicV2}} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeBatch", v.seeds))
		if len(files) == 0 {
			t.Fatalf("no %s batches", v.magic)
		}
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				in := readSeed(t, f)
				if !strings.HasPrefix(string(in), v.magic) {
					t.Fatalf("not a %s batch seed", v.magic)
				}
				got, err := DecodeBatch(in)
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range sampleBatches() {
					if reflect.DeepEqual(got, b) {
						if again, err := DecodeBatch(EncodeBatch(got)); err != nil || !reflect.DeepEqual(again, got) {
							t.Errorf("re-encoding: %v", err)
						}
						return
					}
				}
				t.Errorf("decoded %+v: none of the sample batches", got)
			})
		}
	}
}

// readSeed reads a fuzz corpus file of one []byte.
func readSeed(t *testing.T, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte("), ")")
	in, err := strconv.Unquote(body)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return []byte(in)
}

// TestRouteFieldFormats: plain peers keep the version 1 field and key
// (data written before vantage points reads as before); other vantage
// points append their token, and every form parses back.
func TestRouteFieldFormats(t *testing.T) {
	k := keys{pre: "rw"}
	tests := []struct {
		name      string
		peer      route.Peer
		field, vp string
	}{
		{"plain", peerA, "198.51.100.1 3333 7", "rw:{peers}:p:198.51.100.1"},
		{"collector", peerARRC00, "198.51.100.1 3333 7 c=rrc00", "rw:{peers}:p:198.51.100.1 c=rrc00"},
		{"bmp post-policy", peerABMPPost, "198.51.100.1 3333 7 d=279172874240007&r=192.0.2.9&v=1",
			"rw:{peers}:p:198.51.100.1 d=279172874240007&r=192.0.2.9&v=1"},
		{"escaped", route.Peer{Addr: peerC.Addr, ASN: 1, Router: "a b{c}&=%"}, "2001:db8::3 1 7 r=a+b%7Bc%7D%26%3D%25",
			"rw:{peers}:p:2001:db8::3 r=a+b%7Bc%7D%26%3D%25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rk := routeKey{Peer: tt.peer, PathID: 7}
			if f := routeField(rk); f != tt.field {
				t.Errorf("field = %q want %q", f, tt.field)
			}
			if got, err := parseRouteField(tt.field); err != nil || got != rk {
				t.Errorf("parse = %+v %v", got, err)
			}
			if v, err := fieldVantage(tt.field); err != nil || v != vantageOf(tt.peer) {
				t.Errorf("field vantage = %+v %v", v, err)
			}
			if key := k.peer(vantageOf(tt.peer)); key != tt.vp {
				t.Errorf("peer key = %q want %q", key, tt.vp)
			}
			if v, err := parseVantageID(vantageOf(tt.peer).id()); err != nil || v != vantageOf(tt.peer) {
				t.Errorf("vantage id = %+v %v", v, err)
			}
			if p, err := ParsePeerKey(PeerKey(tt.peer)); err != nil || p != tt.peer {
				t.Errorf("peer key = %+v %v", p, err)
			}
		})
	}
	for _, p := range []route.Peer{peerARRC00, peerABMPPost, {Addr: peerA.Addr, Collector: "x y", Router: "&=", Distinguisher: 1, View: 4}} {
		v := vantageOf(p)
		q := url.Values{}
		for k, val := range map[string]string{"c": v.Collector, "r": v.Router, "d": strconv.FormatUint(v.Distinguisher, 10), "v": strconv.Itoa(int(v.View))} {
			if val != "" && val != "0" {
				q.Set(k, val)
			}
		}
		if v.ext() != q.Encode() {
			t.Errorf("ext %q, url.Values.Encode %q", v.ext(), q.Encode())
		}
	}
	for _, bad := range []string{"198.51.100.1 3333 7 ", "198.51.100.1 3333 7 x=1", "198.51.100.1 3333 7 c=", "198.51.100.1 3333 7 v=1&c=a",
		"198.51.100.1 3333 7 v=256", "198.51.100.1 3333 7 c=a&c=b", "198.51.100.1 3333 7 c=a b", "198.51.100.1 3333 7 c=%zz"} {
		if _, err := parseRouteField(bad); err == nil {
			t.Errorf("parseRouteField(%q) accepted", bad)
		}
	}
}

func TestAttrsCanonical(t *testing.T) {
	a, b := fullAttrs(), fullAttrs()
	if string(encodeAttrs(a)) != string(encodeAttrs(b)) {
		t.Fatal("equal attributes encode differently")
	}
	b.Communities = b.Communities[:1]
	if string(encodeAttrs(a)) == string(encodeAttrs(b)) {
		t.Fatal("different attributes encode the same")
	}
	got, err := decodeAttrs(encodeAttrs(a))
	if err != nil || !got.Equal(a) {
		t.Fatalf("decode = %+v %v", got, err)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := EncodeBatch(sampleBatches()["mixed"])
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"bad magic", []byte("XXXX")},
		{"truncated", good[:len(good)-3]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"huge count", append([]byte(batchMagic), 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	// A /40 on an IPv4 address.
	e := &enc{b: []byte(batchMagic)}
	e.uv(1)
	e.time(time.Time{})
	e.str("")
	e.addr(peerA.Addr)
	e.uv(1)
	e.addr(netip.MustParseAddr("192.0.2.0"))
	e.u8(40)
	tests = append(tests, struct {
		name string
		in   []byte
	}{"prefix too long", e.b})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeBatch(tt.in); !errors.Is(err, ErrCorrupt) {
				t.Errorf("err = %v want ErrCorrupt", err)
			}
		})
	}
}

func writeSeeds(t *testing.T, target string, seeds [][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSeedCorpus checks that every fuzz target has its checked-in seed
// corpus; -update rewrites it.
func TestSeedCorpus(t *testing.T) {
	targets := []string{"FuzzDecodeBatch", "FuzzDecodeAttrs", "FuzzParseHistEntry", "FuzzDecodeCursor", "FuzzReadState", "FuzzParseRouteField"}
	if !*update {
		for _, tg := range targets {
			if ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", tg)); err != nil || len(ents) == 0 {
				t.Errorf("no seed corpus for %s (run go test -run SeedCorpus -update): %v", tg, err)
			}
		}
		return
	}
	var batches, attrs, hist [][]byte
	for _, b := range sampleBatches() {
		batches = append(batches, EncodeBatch(b))
	}
	attrs = append(attrs, encodeAttrs(fullAttrs()), encodeAttrs(path(1, 2, 3)), encodeAttrs(&route.Attrs{}))
	a := string(encodeAttrs(path(3333, 16509)))
	f := routeField(routeKey{peerA, 0})
	fv := routeField(routeKey{peerABMPPost, 2})
	hist = append(hist,
		[]byte(fmt.Sprintf("7 1639580043000000000 %d -1 %d\n%s%s", len(f), len(a), f, a)),
		[]byte(fmt.Sprintf("8 1639580044000000000 %d %d -1\n%s%s", len(f), len(a), f, a)),
		[]byte(fmt.Sprintf("9 1639580045000000000 %d -1 %d\n%s%s", len(fv), len(a), fv, a)),
	)
	var fields [][]byte
	for _, p := range []route.Peer{peerA, peerC, peerARRC00, peerABMPPost} {
		fields = append(fields, []byte(routeField(routeKey{p, 3})), []byte(PeerKey(p)))
	}
	writeSeeds(t, "FuzzParseRouteField", fields)
	writeSeeds(t, "FuzzReadState", stateSeeds(t))
	writeSeeds(t, "FuzzDecodeBatch", batches)
	writeSeeds(t, "FuzzDecodeAttrs", attrs)
	writeSeeds(t, "FuzzParseHistEntry", hist)
	writeSeeds(t, "FuzzDecodeCursor", [][]byte{[]byte(encodeCursor("e1", eventMember(at(1), "x"))), []byte(encodeCursor("h1", "12")), []byte("%%")})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeBatch(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// Whatever decodes must re-encode and decode to the same value.
		again, err := DecodeBatch(EncodeBatch(got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-decode mismatch: %v", err)
		}
	})
}

// FuzzParseRouteField: route fields, vantage point ids and peer keys
// either fail or parse to a value whose canonical form parses back to it.
func FuzzParseRouteField(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s := string(b)
		if k, err := parseRouteField(s); err == nil {
			if again, err := parseRouteField(routeField(k)); err != nil || again != k {
				t.Fatalf("route field %q: re-parse %+v %v", s, again, err)
			}
			if v, err := fieldVantage(s); err != nil || v != vantageOf(k.Peer) {
				t.Fatalf("field vantage of %q = %+v %v", s, v, err)
			}
		}
		if v, err := parseVantageID(s); err == nil {
			if again, err := parseVantageID(v.id()); err != nil || again != v {
				t.Fatalf("vantage id %q: re-parse %+v %v", s, again, err)
			}
		}
		if p, err := ParsePeerKey(s); err == nil {
			if again, err := ParsePeerKey(PeerKey(p)); err != nil || again != p {
				t.Fatalf("peer key %q: re-parse %+v %v", s, again, err)
			}
		}
	})
}

func FuzzDecodeAttrs(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAttrs(b)
		if err != nil {
			return
		}
		again, err := decodeAttrs(encodeAttrs(&a))
		if err != nil || !again.Equal(&a) {
			t.Fatalf("re-decode mismatch: %v", err)
		}
	})
}

func FuzzParseHistEntry(f *testing.F) {
	p := netip.MustParsePrefix("192.0.2.0/24")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseHistEntry(p, string(b))
	})
}

func FuzzDecodeCursor(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m := NewMemory(MemoryConfig{})
		_, _, err := m.Events(t.Context(), EventFilter{Page: Page{Cursor: string(b)}})
		if err != nil && !errors.Is(err, ErrBadCursor) {
			t.Fatalf("cursor error is not ErrBadCursor: %v", err)
		}
		_, _, err = m.History(t.Context(), netip.MustParsePrefix("192.0.2.0/24"), Page{Cursor: string(b)})
		if err != nil && !errors.Is(err, ErrBadCursor) {
			t.Fatalf("cursor error is not ErrBadCursor: %v", err)
		}
	})
}

// BenchmarkRouteField: the Redis field of one path, plain and at a RIS
// collector (written for every update applied).
func BenchmarkRouteField(b *testing.B) {
	for _, p := range []route.Peer{peerA, peerARRC00, peerABMPPost} {
		b.Run(PeerKey(p), func(b *testing.B) {
			k := routeKey{Peer: p, PathID: 1}
			b.ReportAllocs()
			for b.Loop() {
				_ = routeField(k)
			}
		})
	}
}
