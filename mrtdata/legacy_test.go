package mrtdata

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"routewatch/route"
)

// legacyArchive is a RIS-1999-style archive of legacy BGP (type 5)
// records: updates written by the Writer (2-byte ASNs, AS4_PATH for
// larger ones; with and without communities, MED, local-pref,
// aggregator, atomic aggregate, AS sets), withdrawals, mixed messages,
// state changes, and raw records of the subtypes without routes.
func legacyArchive(t testing.TB) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.LocalASN, w.LocalAddr = 12654, netip.MustParseAddr("193.0.4.28")
	t0 := time.Date(2000, 3, 1, 12, 0, 0, 0, time.UTC)
	peer := route.Peer{Addr: netip.MustParseAddr("195.66.224.82"), ASN: 3356}
	peer2 := route.Peer{Addr: netip.MustParseAddr("193.0.0.56"), ASN: 4200000000}
	sq := func(asns ...uint32) route.Segment { return route.Segment{Type: route.ASSequence, ASNs: asns} }
	set := func(asns ...uint32) route.Segment { return route.Segment{Type: route.ASSet, ASNs: asns} }
	attrsList := []*route.Attrs{
		{ASPath: route.ASPath{sq(3356, 1239, 701)}, NextHop: peer.Addr},
		{ASPath: route.ASPath{sq(3356, 2914)}, Origin: route.OriginIncomplete, NextHop: peer.Addr, HasMED: true, MED: 20,
			Communities: []route.Community{3356<<16 | 3, 0xFFFFFF01}},
		{ASPath: route.ASPath{sq(3356, 7018), set(64512, 64513)}, Origin: route.OriginEGP, NextHop: peer.Addr, HasLocalPref: true, LocalPref: 4294967295,
			AtomicAggregate: true, Aggregator: &route.Aggregator{ASN: 7018, Addr: netip.MustParseAddr("12.0.1.63")}},
		{ASPath: route.ASPath{sq(4200000000, 3356, 196615)}, NextHop: peer2.Addr, Communities: []route.Community{1}},
	}
	for i, a := range attrsList {
		p := peer
		if i == 3 {
			p = peer2
		}
		us := []route.Update{
			{Time: t0.Add(time.Duration(i) * time.Second), Peer: p, Prefix: netip.MustParsePrefix("193.0.0.0/21"), Attrs: a},
			{Time: t0, Peer: p, Prefix: netip.MustParsePrefix("10.0.0.0/8"), Attrs: a},
			{Time: t0, Peer: p, Prefix: netip.MustParsePrefix("192.0.2.128/25"), Withdraw: true},
		}
		if err := w.WriteLegacyUpdate(us); err != nil {
			t.Fatal(err)
		}
	}
	// Withdrawals alone, and a state change down and up.
	if err := w.WriteLegacyUpdate([]route.Update{{Time: t0.Add(time.Minute), Peer: peer, Prefix: netip.MustParsePrefix("0.0.0.0/0"), Withdraw: true},
		{Time: t0, Peer: peer, Prefix: netip.MustParsePrefix("128.0.0.0/1"), Withdraw: true}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range [][2]route.SessionState{{route.StateEstablished, route.StateIdle}, {route.StateOpenConfirm, route.StateEstablished}} {
		if err := w.WriteLegacyState(route.PeerState{Time: t0.Add(2 * time.Minute), Peer: peer, Old: s[0], New: s[1]}); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.Bytes()
	ts := uint32(t0.Unix())
	hdr := cat(u16(3356), addr("195.66.224.82"), u16(12654), addr("193.0.4.28"))
	for _, sub := range []uint16{SubBGPNull, SubBGPPrefUpdate, SubBGPSync, SubBGPOpen, SubBGPNotify, SubBGPKeepalive, 133} {
		out = append(out, mrtRec(ts, TypeBGP, sub, hdr)...)
	}
	// An update with MP_REACH (ignored by the legacy type, as in bgpdump)
	// and a truncated NLRI tail.
	mp := mpReach(afiIPv6, 1, addr("2001:db8::1"), pfx("2001:db8::/32"))
	attrs := cat(originIGP, path(false, seq(3356)), nh4("195.66.224.82"), mp)
	body := cat(hdr, u16(0), u16(uint16(len(attrs))), attrs, pfx("193.0.0.0/16"), []byte{24, 10})
	out = append(out, mrtRec(ts+300, TypeBGP, SubBGPUpdate, body)...)
	return out
}

// TestLegacyBGPAgainstBgpdump: the legacy type 5 archive prints
// byte-identical to the installed bgpdump 1.6.2 and to the golden copy of
// its output (-update rewrites it).
func TestLegacyBGPAgainstBgpdump(t *testing.T) {
	in := filepath.Join(t.TempDir(), "legacy.mrt")
	if err := os.WriteFile(in, legacyArchive(t), 0o644); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "legacy.bgpdump")
	if *update {
		if err := os.WriteFile(golden, runBgpdump(t, in), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := dumpM(t, in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("differs from golden %s: %s", golden, firstDiff(got, want))
	}
	t.Run("installed bgpdump", func(t *testing.T) {
		if live := runBgpdump(t, in); !bytes.Equal(got, live) {
			t.Errorf("differs from the installed bgpdump: %s", firstDiff(got, live))
		}
	})
}

// TestLegacyBGPRoutes checks the decoded routes and states themselves.
func TestLegacyBGPRoutes(t *testing.T) {
	r := NewReader(bytes.NewReader(legacyArchive(t)), "legacy")
	var ups []route.Update
	var sts []route.PeerState
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, rec.Updates...)
		sts = append(sts, rec.States...)
	}
	st := r.Stats()
	if len(ups) != 4*3+2+1 || len(sts) != 2 || st.Skipped["BGP/KEEPALIVE"] != 1 || st.Skipped["BGP/OPEN"] != 1 || st.Errors["truncated_nlri"] != 1 {
		t.Fatalf("%d updates, %d states, stats %+v", len(ups), len(sts), st)
	}
	u := ups[10] // fourth message: 4-byte ASNs through AS4_PATH
	if u.Peer.ASN != asTrans || u.Attrs.ASPath.String() != "4200000000 3356 196615" || u.Prefix != netip.MustParsePrefix("193.0.0.0/21") {
		t.Fatalf("AS4 update %+v path %s", u, u.Attrs.ASPath)
	}
	if s := sts[0]; s.Peer.ASN != 3356 || s.Old != route.StateEstablished || s.New != route.StateIdle {
		t.Fatalf("state %+v", s)
	}
}
