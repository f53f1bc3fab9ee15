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
	End            *time.Time     `json:"end"`
	Prefixes       int            `json:"prefixes"`
	Peers          int            `json:"peers"`
	Summary        string         `json:"summary"`
	Transitions    []Transition   `json:"transitions"`
	AffectedPeers  []Peer         `json:"affected_peers"`
	SamplePrefixes []netip.Prefix `json:"sample_prefixes"`
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
