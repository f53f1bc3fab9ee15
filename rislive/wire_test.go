package rislive

import "routewatch/internal/rislivetest"

// encodeRIS writes m as RIS Live would: the inverse of Decode.
func encodeRIS(m Message) []byte {
	return rislivetest.Encode(m.Host, m.Type, m.Peer, m.Time, m.Updates, m.State)
}
