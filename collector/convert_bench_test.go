package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// benchBatches builds n UPDATE-sized batches of 16 IPv4 paths that share
// one attribute list per batch (as GoBGP hands them over), in two
// variants whose AS paths differ, so that replaying them alternately
// changes every route.
func benchBatches(b *testing.B, n int) [2][][]*apiutil.Path {
	b.Helper()
	peer := netip.MustParseAddr("192.0.2.2")
	nh, err := bgp.NewPathAttributeNextHop(peer)
	if err != nil {
		b.Fatal(err)
	}
	var out [2][][]*apiutil.Path
	for v := range out {
		for i := 0; i < n; i++ {
			attrs := []bgp.PathAttributeInterface{
				bgp.NewPathAttributeOrigin(0),
				bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{65010, 3356, uint32(200000 + i%900 + v)})}),
				nh,
				bgp.NewPathAttributeCommunities([]uint32{3356<<16 | 1, 65010<<16 | 100}),
			}
			batch := make([]*apiutil.Path, 16)
			for j := range batch {
				k := uint32(i*16 + j)
				nlri, err := bgp.NewIPAddrPrefix(netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(k >> 16), byte(k >> 8), byte(k)}), 32))
				if err != nil {
					b.Fatal(err)
				}
				batch[j] = &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri, Attrs: attrs, PeerAddress: peer, PeerASN: 65010}
			}
			out[v] = append(out[v], batch)
		}
	}
	return out
}

// BenchmarkOnPaths measures the collector's own per-UPDATE work — the
// conversion to route.Update (convert.go), the tracker and the hand-off —
// for a batch of 16 paths replacing known routes. allocs/op is per batch;
// divide by 16 for per path.
func BenchmarkOnPaths(b *testing.B) {
	c, err := New(Config{ASN: 1, RouterID: "192.0.2.1", Neighbors: []Neighbor{{Address: "192.0.2.2", PeerASN: 65010}}, QueueBatches: 64}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := &session{c: c, ctx: b.Context(), tr: newTracker(Source, nil)}
	go func() {
		for {
			select {
			case <-c.q:
			case <-b.Context().Done():
				return
			}
		}
	}()
	const n = 2048
	batches := benchBatches(b, n)
	at := time.Unix(1_700_000_000, 0)
	for _, p := range batches[0] { // the initial table
		s.onPaths(p, at)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.onPaths(batches[(i/n+1)%2][i%n], at)
	}
}
