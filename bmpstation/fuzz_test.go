package bmpstation

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata")

// seedStreams are whole BMP sessions: every message type, both encodings.
func seedStreams(t testing.TB) [][]byte {
	pre := hdr(0, 0, 0, "192.0.2.2", 65001)
	post6 := hdr(0, flagL|flagV, 0, "2001:db8::2", 65002)
	loc := hdr(3, flagF, 1, "", 65100)
	out := hdr(0, flagO, 0, "192.0.2.3", 65003)
	cat := func(ms ...[]byte) []byte { return bytes.Join(ms, nil) }
	return [][]byte{
		cat(initiationMsg(t, "r1"), peerUpMsg(t, pre, as4Open, as4Open),
			routeMonMsg(t, pre, updateBytes(t, upd{announce: []string{"10.1.0.0/24", "2001:db8:1::/48"}, path: []uint32{65001, 16509}})),
			eorMsg(t, pre, bgp.RF_IPv4_UC), statsMsg(t, pre), mirrorMsg(t, pre),
			routeMonMsg(t, pre, updateBytes(t, upd{withdraw: []string{"10.1.0.0/24"}})),
			peerDownMsg(t, pre, 1, nil), terminationMsg(t)),
		cat(initiationMsg(t, "r2"), peerUpMsg(t, post6, recvPath, sendPath),
			routeMonMsg(t, post6, updateBytes(t, upd{announce: []string{"10.2.0.0/24"}, ids: []uint32{4}, path: []uint32{65002}, addPath: true})),
			peerDownMsg(t, post6, 2, []byte{0, 1})),
		cat(initiationMsg(t, "r3"), peerUpMsg(t, loc, sendPath, sendPath),
			routeMonMsg(t, loc, updateBytes(t, upd{announce: []string{"10.3.0.0/24"}, ids: []uint32{1}, path: []uint32{65100}, addPath: true})),
			peerUpMsg(t, out, as2Open, as2Open),
			routeMonMsg(t, out, updateBytes(t, upd{announce: []string{"10.4.0.0/24"}, path: []uint32{65003}, as2: true})),
			peerDownMsg(t, loc, 6, nil)),
	}
}

// TestFuzzSeeds keeps testdata/fuzz/FuzzDecode in step with the builders
// (go test -run TestFuzzSeeds -update).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for i, s := range seedStreams(t) {
		name := filepath.Join(dir, fmt.Sprintf("session-%d", i))
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s)
		if *update {
			must(t, os.MkdirAll(dir, 0o755))
			must(t, os.WriteFile(name, want, 0o644))
			continue
		}
		got, err := os.ReadFile(name)
		must(t, err)
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test -run TestFuzzSeeds -update", name)
		}
	}
}

// FuzzDecode runs byte streams through the station's per-connection
// pipeline (framing, decoder, router state) without sockets. Properties:
// no panic; every failure is a *DecodeError with a known reason; the
// state holds no more routes than were announced as watched.
func FuzzDecode(f *testing.F) {
	for _, s := range seedStreams(f) {
		f.Add(s)
	}
	reasons := map[string]bool{}
	for _, r := range malformedReasons {
		reasons[r] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoder(testWatch, Source)
		tr := newRouterTrack("fuzz")
		r := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		at := time.Unix(1700000000, 0)
		announced := 0
		for {
			b, err := readMessage(r, buf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil {
				buf = b[:0]
				var m message
				m, err = d.decode(b, at)
				if err == nil {
					applyForFuzz(tr, &m, at, &announced)
					continue
				}
			}
			var de *DecodeError
			if !errors.As(err, &de) || !reasons[de.Reason] {
				t.Fatalf("error %v is not a DecodeError with a known reason", err)
			}
			break
		}
		tr.sessionDown(at, "end")
		held := 0
		for _, v := range tr.vantages {
			held += len(v.live) + len(v.stale)
		}
		if held > announced {
			t.Fatalf("holds %d routes, %d announced", held, announced)
		}
	})
}

func applyForFuzz(tr *routerTrack, m *message, at time.Time, announced *int) {
	switch m.typ {
	case typePeerUp:
		tr.peerUp(at, m.peer.key, m.peer.asn, m.up.families, time.Minute)
	case typePeerDown:
		tr.peerDown(at, m.peer.key, m.downReason)
	case typeRouteMonitoring:
		for _, u := range m.updates {
			if !u.Withdraw && testWatch.Watched(&u) {
				*announced++
			}
		}
		tr.apply(m, testWatch, time.Minute, at)
		if m.eor != 0 {
			tr.endOfRIB(at, vantageKey{peer: m.peer.key, view: m.view}, m.eor)
		}
		tr.expire(at.Add(time.Hour))
	}
}
