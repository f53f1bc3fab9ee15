package route

import (
	"net/netip"
	"time"
)

// EventKind names what happened. The JSON values are part of the event
// contract (DESIGN.md).
type EventKind string

// Event kinds.
const (
	KindPathShift       EventKind = "path_shift"
	KindWithdrawal      EventKind = "withdrawal"
	KindPeerDown        EventKind = "peer_down"
	KindOriginChange    EventKind = "origin_change"
	KindMoreSpecific    EventKind = "more_specific"
	KindPrependChange   EventKind = "prepend_change"
	KindCommunityChange EventKind = "community_change"
)

// EventKinds lists every kind (metrics start each at 0).
var EventKinds = []EventKind{KindPathShift, KindWithdrawal, KindPeerDown, KindOriginChange, KindMoreSpecific, KindPrependChange, KindCommunityChange}

// Transition counts prefixes whose upstream (AS adjacent to the origin)
// moved from one AS to another. 0 means "none" (withdrawn, or the origin was
// the peer itself).
type Transition struct {
	FromUpstream uint32 `json:"from_upstream"`
	ToUpstream   uint32 `json:"to_upstream"`
	Prefixes     int    `json:"prefixes"`
}

// Event is the event resource: the JSON shape is a contract shared by
// `replay --format json`, the API and the generic webhook.
type Event struct {
	ID       string    `json:"id"`
	Kind     EventKind `json:"kind"`
	Provider string    `json:"provider"`
	Region   string    `json:"region"`
	Service  string    `json:"service"`
	// Start is the time of the first change belonging to the event.
	Start time.Time `json:"start"`
	// Detected is when the detection threshold was crossed.
	Detected time.Time `json:"detected"`
	// End is the restoration time; nil while the event is open.
	End *time.Time `json:"end"`
	// Prefixes counts distinct prefixes.
	Prefixes int `json:"prefixes"`
	// Peers counts distinct vantage-point ASNs (what thresholds count).
	Peers int `json:"peers"`
	// Sessions counts distinct vantage points (router or feeder sessions).
	Sessions    int          `json:"sessions"`
	Summary     string       `json:"summary"`
	Transitions []Transition `json:"transitions"`
	// Signals are the TE signals inside a path_shift, with counts of
	// changed routes; empty for other kinds.
	Signals []Signal `json:"signals"`
	// Origins are the offending origin ASNs of hijack kinds
	// (origin_change, more_specific); empty otherwise.
	Origins []uint32 `json:"origins"`
	// RPKI counts a hijack event's bogus route announcements by RPKI
	// origin validation state; nil (omitted) without VRPs and for other
	// kinds.
	RPKI *ROVCounts `json:"rpki,omitempty"`
	// Cause says which side a provider event looks like; zero for
	// peer_down.
	Cause Cause `json:"cause"`
	// Incident is shared by every event one transit-side cause explains in
	// the same window; "" when the event stands alone.
	Incident       string         `json:"incident"`
	AffectedPeers  []Peer         `json:"affected_peers"`
	SamplePrefixes []netip.Prefix `json:"sample_prefixes"`
}

// SignalKind names a TE signal inside a path shift.
type SignalKind string

// Signal kinds.
const (
	SignalUpstream   SignalKind = "upstream"    // the AS adjacent to the origin changed
	SignalPrepend    SignalKind = "prepend"     // the origin's prepending changed
	SignalPathLength SignalKind = "path_length" // the AS path length changed
	SignalCommunity  SignalKind = "community"   // communities changed
	SignalMED        SignalKind = "med"         // MED changed
)

// Signal counts the changed routes of an event showing one TE signal.
type Signal struct {
	Kind  SignalKind `json:"kind"`
	Count int        `json:"count"`
}

// CauseSide is which side of the path a change looks like.
type CauseSide string

// Cause sides.
const (
	SideProvider CauseSide = "provider" // the provider's own announcements changed
	SideTransit  CauseSide = "transit"  // one transit AS changed for several origins at once
	SideUnknown  CauseSide = "unknown"
)

// Cause is the likely cause of a provider event: a side, the AS it points
// to (0 when none) and a one-line reason. It never claims more than the
// routes show.
type Cause struct {
	Side   CauseSide `json:"side"`
	ASN    uint32    `json:"asn"`
	Reason string    `json:"reason"`
}

// Open reports whether the event has not been resolved yet.
func (e *Event) Open() bool { return e.End == nil }

// Duration is End-Start for a resolved event, 0 while open.
func (e *Event) Duration() time.Duration {
	if e.End == nil {
		return 0
	}
	return e.End.Sub(e.Start)
}

// ChangeKind says what happened to an event.
type ChangeKind string

// Event change kinds.
const (
	EventOpened   ChangeKind = "opened"
	EventUpdated  ChangeKind = "updated"
	EventResolved ChangeKind = "resolved"
)

// EventChange is the analyzer's output: an event in its new state and what
// changed. Event is a copy; consumers may keep it.
type EventChange struct {
	Change ChangeKind
	Event  Event
}
