package mrtdata

import (
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"routewatch/internal/testenv"
)

// rawRecords frames a file without the Reader: the test oracle must not
// share the code under test.
func rawRecords(t testing.TB, name string) (hdrs [][12]byte, bodies [][]byte) {
	t.Helper()
	rc, err := Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	all, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	for len(all) >= 12 {
		l := int(binary.BigEndian.Uint32(all[8:]))
		if 12+l > len(all) {
			t.Fatalf("%s: truncated", name)
		}
		hdrs = append(hdrs, [12]byte(all[:12]))
		bodies = append(bodies, all[12:12+l])
		all = all[12+l:]
	}
	return hdrs, bodies
}

// routeView is what both decoders must agree on for one UPDATE.
type routeView struct {
	withdrawn, announced []string
	asPath               []uint32
	nextHop              netip.Addr
	med, lp              uint32
	hasMED, hasLP        bool
	communities          []uint32
}

func viewFromGoBGP(t *testing.T, msg []byte, as4, addPath bool) (routeView, bool) {
	opt := &bgp.MarshallingOption{Use2ByteAS: !as4}
	if addPath {
		opt.AddPath = map[bgp.Family]bgp.BGPAddPathMode{
			bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_BOTH, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_BOTH,
		}
	}
	m, err := bgp.ParseBGPMessage(msg, opt)
	if err != nil {
		t.Logf("gobgp rejects message: %v", err)
		return routeView{}, false
	}
	upd, ok := m.Body.(*bgp.BGPUpdate)
	if !ok {
		return routeView{}, false
	}
	var v routeView
	for _, n := range upd.WithdrawnRoutes {
		v.withdrawn = append(v.withdrawn, n.NLRI.String())
	}
	for _, n := range upd.NLRI {
		v.announced = append(v.announced, n.NLRI.String())
	}
	for _, a := range upd.PathAttributes {
		switch a := a.(type) {
		case *bgp.PathAttributeAsPath:
			for _, p := range a.Value {
				v.asPath = append(v.asPath, p.GetAS()...)
			}
		case *bgp.PathAttributeNextHop:
			v.nextHop = a.Value
		case *bgp.PathAttributeMultiExitDisc:
			v.med, v.hasMED = a.Value, true
		case *bgp.PathAttributeLocalPref:
			v.lp, v.hasLP = a.Value, true
		case *bgp.PathAttributeCommunities:
			v.communities = a.Value
		case *bgp.PathAttributeMpReachNLRI:
			for _, n := range a.Value {
				v.announced = append(v.announced, n.NLRI.String())
			}
			if len(upd.NLRI) == 0 {
				v.nextHop = a.Nexthop
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			for _, n := range a.Value {
				v.withdrawn = append(v.withdrawn, n.NLRI.String())
			}
		}
	}
	return v, true
}

func viewFromRecord(rec *Record) routeView {
	var v routeView
	for _, u := range rec.Updates {
		if u.Withdraw {
			v.withdrawn = append(v.withdrawn, u.Prefix.String())
			continue
		}
		v.announced = append(v.announced, u.Prefix.String())
		if len(v.announced) > 1 {
			continue // attributes of the first announcement (classic NLRI first)
		}
		a := u.Attrs
		v.asPath = nil
		for _, s := range a.ASPath {
			v.asPath = append(v.asPath, s.ASNs...)
		}
		v.nextHop = a.NextHop
		v.med, v.hasMED, v.lp, v.hasLP = a.MED, a.HasMED, a.LocalPref, a.HasLocalPref
		v.communities = nil
		for _, c := range a.Communities {
			v.communities = append(v.communities, uint32(c))
		}
	}
	return v
}

// TestDifferentialGoBGP decodes every BGP4MP UPDATE of the shared RIS files
// and of the quirks archive with our decoder and with GoBGP's
// pkg/packet/bgp, and compares prefixes and attributes. 2-byte-AS messages
// are compared on their raw AS_PATH (GoBGP does not merge AS4_PATH; we do).
func TestDifferentialGoBGP(t *testing.T) {
	t.Run("quirks", func(t *testing.T) {
		hdrs, bodies := splitRecords(t, quirksArchive())
		diffGoBGP(t, hdrs, bodies)
	})
	dir := filepath.Join(testenv.SharedData(t), "mrt")
	for _, file := range []string{"updates.20160811.1600.gz", "updates.20070211.0141.gz", "updates.long_withdrawal.gz"} {
		t.Run(file, func(t *testing.T) {
			hdrs, bodies := rawRecords(t, filepath.Join(dir, file))
			diffGoBGP(t, hdrs, bodies)
		})
	}
}

func diffGoBGP(t *testing.T, hdrs [][12]byte, bodies [][]byte) {
	var d decoder
	compared := 0
	for i, body := range bodies {
		typ := binary.BigEndian.Uint16(hdrs[i][4:])
		sub := binary.BigEndian.Uint16(hdrs[i][6:])
		var as4, addPath bool
		switch {
		case typ != TypeBGP4MP:
			continue
		case sub == SubMessage:
		case sub == SubMessageAS4:
			as4 = true
		case sub == SubMessageAS4AddPath:
			as4, addPath = true, true
		default:
			continue
		}
		rec := Record{Type: typ, Subtype: sub, Time: time.Unix(int64(binary.BigEndian.Uint32(hdrs[i][:])), 0)}
		if err := d.record(&rec, body); err != nil {
			if _, skip := err.(skipError); skip {
				continue
			}
			t.Fatalf("record %d: %v", i, err)
		}
		asLen := 2
		if as4 {
			asLen = 4
		}
		off := 2*asLen + 4
		if afi := binary.BigEndian.Uint16(body[2*asLen+2:]); afi == afiIPv4 {
			off += 8
		} else {
			off += 32
		}
		want, ok := viewFromGoBGP(t, body[off:], as4, addPath)
		if !ok {
			continue
		}
		got := viewFromRecord(&rec)
		if !as4 && len(got.announced) > 0 {
			got.asPath = nil
			for _, s := range decodeASPath(d.pa.asPath, 2, nil) {
				got.asPath = append(got.asPath, s.ASNs...)
			}
		}
		if !sameView(got, want) {
			t.Fatalf("record %d differs:\n ours: %+v\ngobgp: %+v", i, got, want)
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no UPDATE compared")
	}
	t.Logf("%d UPDATEs agree with GoBGP", compared)
}

// splitRecords frames an in-memory archive.
func splitRecords(t *testing.T, all []byte) (hdrs [][12]byte, bodies [][]byte) {
	for len(all) >= 12 {
		l := int(binary.BigEndian.Uint32(all[8:]))
		hdrs = append(hdrs, [12]byte(all[:12]))
		bodies = append(bodies, all[12:12+l])
		all = all[12+l:]
	}
	return hdrs, bodies
}

func sameView(a, b routeView) bool {
	if len(a.announced) == 0 {
		// Attributes of a pure withdrawal are not kept.
		return slices.Equal(a.withdrawn, b.withdrawn) && len(b.announced) == 0
	}
	return slices.Equal(a.withdrawn, b.withdrawn) && slices.Equal(a.announced, b.announced) &&
		slices.Equal(a.asPath, b.asPath) && a.nextHop == b.nextHop && a.med == b.med && a.hasMED == b.hasMED &&
		a.lp == b.lp && a.hasLP == b.hasLP && slices.Equal(a.communities, b.communities)
}
