package store

import (
	"cmp"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"routewatch/route"
)

// vantage is a vantage point as the store keys its session state, epochs
// and path counts: the route.Peer without its ASN (a dynamic GoBGP peer's
// Idle event carries ASN 0, so the ASN is taken from the latest non-zero
// sighting). The same neighbor at two RIS collectors, or in two BMP RIB
// views, is two vantage points.
type vantage struct {
	Addr          netip.Addr
	Collector     string
	Router        string
	Distinguisher uint64
	View          route.View
}

func vantageOf(p route.Peer) vantage {
	return vantage{Addr: p.Addr, Collector: p.Collector, Router: p.Router, Distinguisher: p.Distinguisher, View: p.View}
}

// peer is the route.Peer of v seen with asn.
func (v vantage) peer(asn uint32) route.Peer {
	return route.Peer{Addr: v.Addr, ASN: asn, Collector: v.Collector, Router: v.Router, Distinguisher: v.Distinguisher, View: v.View}
}

// plain: only the address identifies it (BGP sessions, MRT files).
func (v vantage) plain() bool {
	return v.Collector == "" && v.Router == "" && v.Distinguisher == 0 && v.View == 0
}

// The text identity of a vantage point in Redis keys, set members and
// route fields (format version 2). Version 1 had the address only; a
// plain vantage point's identity is still exactly that, so data written
// by version 1 keeps its meaning and an upgrade needs no migration (a new
// format for plain peers would leave each old path next to its
// re-announced copy). Other vantage points append one token, a canonical
// query string of the non-zero fields ("c=rrc00&d=1&r=...&v=1",
// url.Values.Encode: keys sorted, values escaped, so no spaces or braces
// and equal vantage points give equal bytes).

// ext is the identity token after the address, "" for a plain one. It is
// what url.Values.Encode gives for the non-zero fields (keys in order c, d,
// r, v), without building the map: RIS Live peers all have a collector,
// so this runs for every update they send.
func (v vantage) ext() string {
	if v.plain() {
		return ""
	}
	b := make([]byte, 0, 16+len(v.Collector)+len(v.Router))
	add := func(k byte, val string) {
		if len(b) > 0 {
			b = append(b, '&')
		}
		b = append(b, k, '=')
		b = append(b, val...)
	}
	if v.Collector != "" {
		add('c', url.QueryEscape(v.Collector))
	}
	if v.Distinguisher != 0 {
		add('d', strconv.FormatUint(v.Distinguisher, 10))
	}
	if v.Router != "" {
		add('r', url.QueryEscape(v.Router))
	}
	if v.View != 0 {
		add('v', strconv.Itoa(int(v.View)))
	}
	return string(b)
}

// id is "addr" or "addr ext".
func (v vantage) id() string {
	if e := v.ext(); e != "" {
		return v.Addr.String() + " " + e
	}
	return v.Addr.String()
}

func parseVantageID(s string) (vantage, error) {
	as, ext, _ := strings.Cut(s, " ")
	a, err := netip.ParseAddr(as)
	if err != nil {
		return vantage{}, fmt.Errorf("%w: vantage point %q", ErrCorrupt, s)
	}
	return parseExt(a, ext)
}

// parseExt reads an identity token; only the canonical form is accepted,
// so one vantage point has one identity.
func parseExt(a netip.Addr, ext string) (vantage, error) {
	v := vantage{Addr: a}
	if ext == "" {
		return v, nil
	}
	bad := fmt.Errorf("%w: vantage point token %q", ErrCorrupt, ext)
	q, err := url.ParseQuery(ext)
	if err != nil {
		return vantage{}, bad
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return vantage{}, bad
		}
		x := vs[0]
		switch k {
		case "c":
			v.Collector = x
		case "r":
			v.Router = x
		case "d":
			if v.Distinguisher, err = strconv.ParseUint(x, 10, 64); err != nil {
				return vantage{}, bad
			}
		case "v":
			n, err := strconv.ParseUint(x, 10, 8)
			if err != nil {
				return vantage{}, bad
			}
			v.View = route.View(n)
		default:
			return vantage{}, bad
		}
	}
	if v.ext() != ext {
		return vantage{}, bad
	}
	return v, nil
}

// comparePeers orders peers by address, ASN, then the rest of the
// vantage point identity (all zero for plain peers, so their order is
// unchanged).
func comparePeers(a, b route.Peer) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ASN, b.ASN); c != 0 {
		return c
	}
	return compareVantage(vantageOf(a), vantageOf(b))
}

func compareVantage(a, b vantage) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Collector, b.Collector); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Router, b.Router); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Distinguisher, b.Distinguisher); c != 0 {
		return c
	}
	return cmp.Compare(a.View, b.View)
}

// ComparePeers orders peers as every store listing does: address, ASN,
// collector, router, distinguisher, view.
func ComparePeers(a, b route.Peer) int { return comparePeers(a, b) }

// PeerKey is a peer's canonical text identity, "addr asn" followed by the
// vantage point token when the peer has a collector, router,
// distinguisher or view (for cursors that name a peer).
func PeerKey(p route.Peer) string {
	s := p.Addr.String() + " " + strconv.FormatUint(uint64(p.ASN), 10)
	if e := vantageOf(p).ext(); e != "" {
		s += " " + e
	}
	return s
}

// ParsePeerKey reads PeerKey's output.
func ParsePeerKey(s string) (route.Peer, error) {
	parts := strings.Split(s, " ")
	if len(parts) < 2 || len(parts) > 3 {
		return route.Peer{}, fmt.Errorf("%w: peer key %q", ErrCorrupt, s)
	}
	a, err := netip.ParseAddr(parts[0])
	if err != nil {
		return route.Peer{}, fmt.Errorf("%w: peer key %q", ErrCorrupt, s)
	}
	asn, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return route.Peer{}, fmt.Errorf("%w: peer key %q", ErrCorrupt, s)
	}
	ext := ""
	if len(parts) == 3 {
		if ext = parts[2]; ext == "" {
			return route.Peer{}, fmt.Errorf("%w: peer key %q", ErrCorrupt, s)
		}
	}
	v, err := parseExt(a, ext)
	if err != nil {
		return route.Peer{}, err
	}
	return v.peer(uint32(asn)), nil
}
