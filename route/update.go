package route

import (
	"fmt"
	"net/netip"
	"time"
)

// Peer identifies a vantage point: the BGP neighbor that sent a route.
// For a BGP session or an MRT file, Addr and ASN say it all. Thresholds
// count distinct ASNs; state and sessions are per Peer value.
//
// Collector names the route collector the neighbor feeds when the route
// comes through one (a RIS RRC such as "rrc00"); the same neighbor at two
// collectors is two vantage points (two sessions) but one ASN.
//
// A BMP station sees the same neighbor through several routers and RIB
// views, each its own vantage point: Router names the monitored router,
// Distinguisher is the BMP peer distinguisher (RFC 7854 4.2; VRF or Loc-RIB
// instance), View the RIB.
//
// These fields are zero for every other source, so their JSON is unchanged.
type Peer struct {
	Addr          netip.Addr `json:"addr"`
	ASN           uint32     `json:"asn"`
	Collector     string     `json:"collector,omitempty"`
	Router        string     `json:"router,omitempty"`
	Distinguisher uint64     `json:"distinguisher,omitempty"`
	View          View       `json:"view,omitempty"`
}

// View is the RIB a BMP route monitoring message reports (RFC 7854,
// RFC 8671, RFC 9069). The zero value is the pre-policy Adj-RIB-In: what a
// BGP session with the neighbor itself would show.
type View uint8

// RIB views.
const (
	ViewAdjRIBInPre   View = 0
	ViewAdjRIBInPost  View = 1
	ViewAdjRIBOutPre  View = 2
	ViewAdjRIBOutPost View = 3
	ViewLocRIB        View = 4
)

var viewNames = [...]string{"adj-rib-in-pre", "adj-rib-in-post", "adj-rib-out-pre", "adj-rib-out-post", "loc-rib"}

func (v View) String() string {
	if int(v) < len(viewNames) {
		return viewNames[v]
	}
	return "unknown"
}

// MarshalText writes the view's name.
func (v View) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a view's name.
func (v *View) UnmarshalText(b []byte) error {
	for i, n := range viewNames {
		if n == string(b) {
			*v = View(i)
			return nil
		}
	}
	return fmt.Errorf("route: unknown RIB view %q", b)
}

// Update is one route announcement or withdrawal for one prefix as seen from
// one peer. An UPDATE message carrying many prefixes becomes many Updates
// sharing the same *Attrs.
type Update struct {
	// Time comes from the source (MRT record timestamp, or receive time of a
	// live message); the analyzer never reads the wall clock.
	Time time.Time
	// Source names where the update came from, e.g. an MRT file name or
	// "bgp" for the live collector.
	Source string
	Peer   Peer
	Prefix netip.Prefix
	// PathID is the ADD-PATH path identifier (RFC 7911), 0 when not used.
	PathID   uint32
	Withdraw bool
	// TableDump marks announcements that come from a RIB snapshot
	// (TABLE_DUMP / TABLE_DUMP_V2 or a live session's initial table) rather
	// than from a change on the wire.
	TableDump bool
	// Attrs is nil for withdrawals. It may be shared between Updates of one
	// message: treat it as read-only.
	Attrs *Attrs
	// Tags are the provider ranges this prefix matches, filled in by the
	// tagging stage (ranges). Nil means the prefix is not watched.
	Tags []Tag
	// RPKI is the route's origin validation state, filled in with the
	// tags when VRPs are configured (ROVNone otherwise).
	RPKI ROVState
}

// Key identifies the state slot an update applies to.
type Key struct {
	Peer   Peer
	Prefix netip.Prefix
	PathID uint32
}

// Key returns the (peer, prefix, path-ID) slot of u.
func (u *Update) Key() Key { return Key{Peer: u.Peer, Prefix: u.Prefix, PathID: u.PathID} }

// Origin is the BGP ORIGIN attribute.
type Origin uint8

// ORIGIN values (RFC 4271 5.1.1).
const (
	OriginIGP        Origin = 0
	OriginEGP        Origin = 1
	OriginIncomplete Origin = 2
)

func (o Origin) String() string {
	switch o {
	case OriginIGP:
		return "IGP"
	case OriginEGP:
		return "EGP"
	case OriginIncomplete:
		return "INCOMPLETE"
	}
	return "UNKNOWN"
}

// Community is an RFC 1997 community, high 16 bits ASN, low 16 bits value.
type Community uint32

// LargeCommunity is an RFC 8092 large community.
type LargeCommunity struct {
	Global, Local1, Local2 uint32
}

// Aggregator is the AGGREGATOR (or merged AS4_AGGREGATOR) attribute.
type Aggregator struct {
	ASN  uint32
	Addr netip.Addr
}

// Attrs are the path attributes routewatch keeps.
type Attrs struct {
	ASPath  ASPath
	Origin  Origin
	NextHop netip.Addr
	// MED and LocalPref are valid only when their Has flag is set.
	MED              uint32
	HasMED           bool
	LocalPref        uint32
	HasLocalPref     bool
	AtomicAggregate  bool
	Aggregator       *Aggregator
	Communities      []Community
	LargeCommunities []LargeCommunity
}

// SessionState is a BGP FSM state, numbered as in RFC 6396 (MRT STATE_CHANGE).
type SessionState uint8

// BGP FSM states.
const (
	StateUnknown     SessionState = 0
	StateIdle        SessionState = 1
	StateConnect     SessionState = 2
	StateActive      SessionState = 3
	StateOpenSent    SessionState = 4
	StateOpenConfirm SessionState = 5
	StateEstablished SessionState = 6
)

func (s SessionState) String() string {
	switch s {
	case StateIdle:
		return "Idle"
	case StateConnect:
		return "Connect"
	case StateActive:
		return "Active"
	case StateOpenSent:
		return "OpenSent"
	case StateOpenConfirm:
		return "OpenConfirm"
	case StateEstablished:
		return "Established"
	}
	return "Unknown"
}

// PeerState is a change of a vantage point's BGP session state. Leaving
// Established makes every route of that peer stale.
type PeerState struct {
	Time   time.Time
	Source string
	Peer   Peer
	Old    SessionState
	New    SessionState
	// EndOfRIB is set (with New == Established) when the peer finished
	// sending its initial table.
	EndOfRIB bool
	Reason   string
	// SysDescr is a BMP router's Initiation sysDescr (its sysName is in
	// Peer.Router); empty for other sources.
	SysDescr string
}

// Down reports whether this change takes the session out of Established.
func (p PeerState) Down() bool { return p.Old == StateEstablished && p.New != StateEstablished }

// Up reports whether this change brings the session into Established.
func (p PeerState) Up() bool { return p.New == StateEstablished && p.Old != StateEstablished }

// Equal reports whether two attribute sets are identical. nil equals nil.
func (a *Attrs) Equal(b *Attrs) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a == b {
		return true
	}
	if a.Origin != b.Origin || a.NextHop != b.NextHop || a.HasMED != b.HasMED || a.MED != b.MED ||
		a.HasLocalPref != b.HasLocalPref || a.LocalPref != b.LocalPref || a.AtomicAggregate != b.AtomicAggregate {
		return false
	}
	if (a.Aggregator == nil) != (b.Aggregator == nil) || (a.Aggregator != nil && *a.Aggregator != *b.Aggregator) {
		return false
	}
	if len(a.Communities) != len(b.Communities) || len(a.LargeCommunities) != len(b.LargeCommunities) {
		return false
	}
	for i := range a.Communities {
		if a.Communities[i] != b.Communities[i] {
			return false
		}
	}
	for i := range a.LargeCommunities {
		if a.LargeCommunities[i] != b.LargeCommunities[i] {
			return false
		}
	}
	return a.ASPath.Equal(b.ASPath)
}
