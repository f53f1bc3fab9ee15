package rislivetest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"routewatch/route"
)

// Encode writes one ris_message as RIS Live would: an UPDATE (typ
// "UPDATE": ups, consecutive updates sharing one *Attrs form one
// announcement; st with EndOfRIB adds the "eor" marker) or a
// RIS_PEER_STATE (st, down or connected), from peer at time t.
func Encode(host, typ string, peer route.Peer, t time.Time, ups []route.Update, st *route.PeerState) []byte {
	d := map[string]any{
		"timestamp": float64(t.UnixNano()) / 1e9,
		"peer":      peer.Addr.String(),
		"peer_asn":  strconv.FormatUint(uint64(peer.ASN), 10),
		"id":        fmt.Sprintf("%d-%s", t.UnixNano(), peer.Addr),
		"host":      host,
		"type":      typ,
	}
	switch typ {
	case "RIS_PEER_STATE":
		if st != nil && st.Down() {
			d["state"] = "down"
		} else {
			d["state"] = "connected"
		}
	case "UPDATE":
		withdrawals := []string{}
		type group struct {
			attrs    *route.Attrs
			prefixes []string
		}
		var groups []*group
		for _, u := range ups {
			if u.Withdraw {
				withdrawals = append(withdrawals, u.Prefix.String())
				continue
			}
			if n := len(groups); n == 0 || groups[n-1].attrs != u.Attrs {
				groups = append(groups, &group{attrs: u.Attrs})
			}
			g := groups[len(groups)-1]
			g.prefixes = append(g.prefixes, u.Prefix.String())
		}
		if st != nil && st.EndOfRIB {
			withdrawals = append(withdrawals, "eor")
		}
		d["withdrawals"] = withdrawals
		d["path"] = []any{}
		var anns []map[string]any
		for _, g := range groups {
			nh := ""
			if g.attrs.NextHop.IsValid() {
				nh = g.attrs.NextHop.String()
			}
			anns = append(anns, map[string]any{"next_hop": nh, "prefixes": g.prefixes})
		}
		if len(groups) > 0 {
			a := groups[0].attrs
			d["path"] = encodePath(a.ASPath)
			d["origin"] = a.Origin.String()
			comms := [][2]uint32{}
			for _, c := range a.Communities {
				comms = append(comms, [2]uint32{uint32(c) >> 16, uint32(c) & 0xffff})
			}
			d["community"] = comms
			if a.HasMED {
				d["med"] = a.MED
			}
			if a.Aggregator != nil {
				d["aggregator"] = fmt.Sprintf("%d:%s", a.Aggregator.ASN, a.Aggregator.Addr)
			}
			d["announcements"] = anns
		}
	}
	b, err := json.Marshal(map[string]any{"type": "ris_message", "data": d})
	if err != nil {
		panic(err)
	}
	return b
}

func encodePath(p route.ASPath) []any {
	out := []any{}
	for _, s := range p {
		if s.Type == route.ASSet {
			out = append(out, append([]uint32{}, s.ASNs...))
			continue
		}
		for _, a := range s.ASNs {
			out = append(out, a)
		}
	}
	return out
}
