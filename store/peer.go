package store

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"routewatch/route"
)

// peerRec is the stored state of one vantage point. Peers are keyed by
// vantage point (vantage.go: the peer without its ASN): a dynamic GoBGP
// peer's Idle event carries ASN 0, so the ASN is taken from the latest
// non-zero sighting.
type peerRec struct {
	Peer       route.Peer
	Source     string
	Known      bool // a session state was ever recorded
	State      route.SessionState
	StateSince time.Time
	LastUpdate time.Time
	Prefixes   int
	Flaps      int
	// SysDescr is the BMP router's latest Initiation sysDescr.
	SysDescr string
	// Epoch counts sessions: +1 each time the peer reaches Established.
	// Paths learned in an older epoch are stale until re-announced.
	Epoch uint64
	// Seen lists the transitions ("old>new") applied at StateSince, so a
	// redelivered batch does not apply the same transition twice even when
	// several share one (second-resolution MRT) timestamp.
	Seen []string
}

func (p *peerRec) status() peerStatus {
	return peerStatus{Known: p.Known, State: p.State, Epoch: p.Epoch}
}

func (p *peerRec) info() PeerInfo {
	return PeerInfo{
		Peer: p.Peer, Source: p.Source, State: p.State, StateSince: p.StateSince,
		LastUpdate: p.LastUpdate, Prefixes: p.Prefixes, Flaps: p.Flaps, SysDescr: p.SysDescr,
	}
}

// applyState applies one session change and reports whether anything
// changed. Changes older than the current state, or already applied at the
// same timestamp, are ignored (idempotent redelivery).
func (p *peerRec) applyState(s route.PeerState) bool {
	asn := p.Peer.ASN
	if s.Peer.ASN != 0 {
		asn = s.Peer.ASN
	}
	p.Peer = vantageOf(s.Peer).peer(asn)
	if s.Source != "" {
		p.Source = s.Source
	}
	if p.Known && s.Time.Before(p.StateSince) {
		return false
	}
	descr := p.SysDescr != s.SysDescr && s.SysDescr != ""
	if descr {
		p.SysDescr = s.SysDescr
	}
	tr := strconv.Itoa(int(s.Old)) + ">" + strconv.Itoa(int(s.New))
	if p.Known && s.Time.Equal(p.StateSince) && slices.Contains(p.Seen, tr) {
		return false
	}
	if p.Known && p.State == s.New {
		// End-of-RIB markers and repeated states are not transitions.
		return descr
	}
	wasUp := p.State == route.StateEstablished
	nowUp := s.New == route.StateEstablished
	if wasUp && !nowUp {
		p.Flaps++
	}
	if !wasUp && nowUp {
		p.Epoch++
	}
	if !p.Known || !s.Time.Equal(p.StateSince) {
		p.Seen = p.Seen[:0]
	}
	p.Seen = append(p.Seen, tr)
	p.Known = true
	p.State = s.New
	p.StateSince = s.Time
	return true
}

// Peer records are stored in Redis as a hash of these fields, under the
// vantage point's key (the identity comes from the key, not the fields).
func (p *peerRec) fields() map[string]any {
	return map[string]any{
		"addr":  p.Peer.Addr.String(),
		"asn":   strconv.FormatUint(uint64(p.Peer.ASN), 10),
		"src":   p.Source,
		"known": boolStr(p.Known),
		"state": strconv.Itoa(int(p.State)),
		"since": strconv.FormatInt(p.StateSince.UnixNano(), 10),
		"flaps": strconv.Itoa(p.Flaps),
		"epoch": strconv.FormatUint(p.Epoch, 10),
		"seen":  strings.Join(p.Seen, ","),
		"descr": p.SysDescr,
	}
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// peerFromFields reads the record of vantage point v.
func peerFromFields(v vantage, m map[string]string) peerRec {
	var p peerRec
	asn, _ := strconv.ParseUint(m["asn"], 10, 32)
	p.Peer = v.peer(uint32(asn))
	p.Source = m["src"]
	p.Known = m["known"] == "1"
	st, _ := strconv.Atoi(m["state"])
	p.State = route.SessionState(st)
	p.StateSince = parseNanos(m["since"])
	p.LastUpdate = parseNanos(m["last"])
	p.Flaps, _ = strconv.Atoi(m["flaps"])
	p.Epoch, _ = strconv.ParseUint(m["epoch"], 10, 64)
	p.SysDescr = m["descr"]
	if s := m["seen"]; s != "" {
		p.Seen = strings.Split(s, ",")
	}
	return p
}

func parseNanos(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func nanos(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}
