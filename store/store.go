// Package store persists what the analyzer, API and alerts share: current
// routes and bounded history of watched prefixes, events, peers, provider
// summaries and the alert outbox. Two backends implement the same
// contract: Redis (go-redis v9, shared and durable) and Memory (embedded
// default, bounded, in process). One contract test suite runs against both.
//
// go-redis types never leave this package.
//
// Where to look:
//
//	store.go              the roles (RouteReader, RouteWriter, EventReader, ...) and Store
//	plan.go               the write rules, shared: planPath (one update) and planIndexes (a batch)
//	cursor.go             the one cursor scheme of every listing
//	shared.go, peer.go    retention, prefix keys, staleness, history reconstruction, peer sessions
//	codec.go, stream.go   binary encodings; the Redis update stream and its consumers
//	memory*.go            Memory: write path (memory.go), route reads, events, peers, groups,
//	                      outbox, state file and checkpoints (memory_state.go)
//	redis*.go             Redis: connection and gap check (redis.go), config, key layout,
//	                      write path, route reads and caches, peers, events and their cache,
//	                      groups, outbox, checkpoints, logger adapter; scripts.go holds the Lua
//	invalidate.go         Redis change notices that keep the read caches exact
package store

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"routewatch/route"
)

// ErrNotFound is returned by single-item getters when the item is absent.
var ErrNotFound = errors.New("store: not found")

// ErrBadCursor is returned when a pagination cursor cannot be decoded.
var ErrBadCursor = errors.New("store: bad cursor")

// Route is one peer's current path for a prefix.
type Route struct {
	Peer   route.Peer  `json:"peer"`
	PathID uint32      `json:"path_id"`
	Attrs  route.Attrs `json:"attrs"`
	// Since is when this exact path was learned (update time).
	Since time.Time `json:"since"`
	// Stale is set while the peer's session is down: the path is
	// remembered but no longer confirmed.
	Stale bool `json:"stale"`
}

// PrefixRoutes is every peer's current path for one prefix.
type PrefixRoutes struct {
	Prefix netip.Prefix `json:"prefix"`
	Tags   []route.Tag  `json:"tags"`
	Routes []Route      `json:"routes"`
	// Version changes whenever anything above may have changed (a path,
	// its session epoch, the tags, any peer's session state), so a reader
	// may reuse what it derived from an earlier answer with the same
	// version (the API keeps encoded responses). Opaque; "" means unknown:
	// do not reuse. Lookups into the past (RoutesAt) leave it empty.
	Version string `json:"-"`
}

// Match selects which prefixes a route lookup returns.
type Match uint8

// Lookup modes.
const (
	MatchExact    Match = iota // the prefix itself
	MatchCovering              // the prefix and every stored less-specific containing it
	MatchCovered               // the prefix and every stored more-specific inside it
)

// HistoryEntry is one change of one peer's path for a prefix.
type HistoryEntry struct {
	Time   time.Time    `json:"time"`
	Prefix netip.Prefix `json:"prefix"`
	Peer   route.Peer   `json:"peer"`
	PathID uint32       `json:"path_id"`
	// Old is nil when the peer had no path before; New is nil for a
	// withdrawal.
	Old *route.Attrs `json:"old"`
	New *route.Attrs `json:"new"`
}

// Page asks for one page of a listing. Cursor is opaque (from the previous
// page's next cursor, "" for the first page). Limit <= 0 means the
// backend's default; backends cap it at MaxLimit.
type Page struct {
	Cursor string
	Limit  int
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Status filters events by open/resolved.
type Status uint8

// Event status filters.
const (
	StatusAny Status = iota
	StatusOpen
	StatusResolved
)

// EventFilter selects events. Zero fields do not filter. From/To bound the
// event's start time (inclusive From, exclusive To). Results are ordered
// by start, then id (stable).
type EventFilter struct {
	Provider string
	Region   string
	Kind     route.EventKind
	Status   Status
	From, To time.Time
	Page     Page
}

// PeerInfo is what is known about one vantage point. Vantage points are
// distinct by address, collector, router, distinguisher and view (the
// same neighbor at two RIS collectors, or in two BMP RIB views, is two);
// the ASN is the latest seen.
type PeerInfo struct {
	Peer   route.Peer         `json:"peer"`
	Source string             `json:"source"`
	State  route.SessionState `json:"state"`
	// StateSince is when the current state began (uptime when Established).
	StateSince time.Time `json:"state_since"`
	LastUpdate time.Time `json:"last_update"`
	// Prefixes is the number of watched prefix paths currently held.
	Prefixes int `json:"prefixes"`
	// Flaps counts transitions out of Established.
	Flaps int `json:"flaps"`
	// SysDescr is a BMP router's Initiation sysDescr (Peer.Router holds
	// its sysName); empty for other sources.
	SysDescr string `json:"sys_descr,omitempty"`
}

// GroupSummary describes one provider/region as currently seen.
type GroupSummary struct {
	Provider string `json:"provider"`
	Region   string `json:"region"`
	// Prefixes is the number of distinct watched prefixes of the group
	// that any peer has announced and not withdrawn (stale ones included).
	Prefixes int `json:"prefixes"`
	// Visible is how many of them at least one non-stale peer sees.
	Visible int `json:"visible"`
	// PeerPaths is the number of (peer, prefix, path-ID) paths held.
	PeerPaths int `json:"peer_paths"`
	// Changes is the number of route changes in the hour before LastChange.
	Changes    int       `json:"changes_last_hour"`
	LastChange time.Time `json:"last_change"`
}

// PrefixVisibility is how one watched prefix of a group is seen now.
type PrefixVisibility struct {
	Prefix netip.Prefix `json:"prefix"`
	// Peers is the number of peers with at least one non-stale path.
	Peers int `json:"peers"`
	// Stale is the number of peers whose every path is stale.
	Stale int `json:"stale"`
	// Paths is the number of (peer, path-ID) paths held, stale included.
	Paths int `json:"paths"`
}

// Delivery is one alert message in the outbox. ID is the webhook-id: the
// same on every retry so receivers can deduplicate. Enqueueing an ID that
// already exists is a no-op (idempotent).
type Delivery struct {
	ID      string    `json:"id"`
	Sink    string    `json:"sink"`
	EventID string    `json:"event_id"`
	Payload []byte    `json:"payload"`
	Created time.Time `json:"created"`
	// NextAttempt is when the delivery is due.
	NextAttempt time.Time `json:"next_attempt"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
}

// Outcome is how a delivery ended.
type Outcome string

// Delivery outcomes.
const (
	Delivered Outcome = "delivered"
	GaveUp    Outcome = "gave_up"
)

// The store's roles. Each consumer declares the roles it needs (the API
// reads routes, events, peers and groups; the pipeline writes routes and
// events; the alerter uses the outbox); Store composes them all, and both
// backends implement it. Methods are safe for concurrent use.

// RouteWriter applies what the sources saw.
type RouteWriter interface {
	// ApplyUpdates applies a batch of tagged updates of watched prefixes:
	// current routes, history (bounded), per-peer and per-group counters.
	// Applying the same update twice leaves the same state (idempotent:
	// a re-announcement of the identical path is not a change).
	ApplyUpdates(ctx context.Context, ups []route.Update) error
	// ApplyPeerStates records session changes; leaving Established marks
	// that peer's routes stale, coming back clears staleness as paths are
	// re-announced.
	ApplyPeerStates(ctx context.Context, states []route.PeerState) error
}

// RouteReader reads current and past routes.
type RouteReader interface {
	// Routes returns the current routes of p (m: exact, covered or
	// covering). The routes returned may share their slices with the
	// store's cache: read only.
	Routes(ctx context.Context, p netip.Prefix, m Match) ([]PrefixRoutes, error)
	// RoutesPage is Routes one page at a time, ordered by prefix (address,
	// then length), so a covered lookup of a short prefix never loads more
	// than one page. The cursor is bound to the listing it came from.
	RoutesPage(ctx context.Context, p netip.Prefix, m Match, pg Page) ([]PrefixRoutes, string, error)
	// RoutesAt reconstructs the paths for p at time at from history;
	// ErrNotFound when history does not reach back that far.
	RoutesAt(ctx context.Context, p netip.Prefix, at time.Time) (PrefixRoutes, error)
	// History lists changes for p, newest first.
	History(ctx context.Context, p netip.Prefix, pg Page) ([]HistoryEntry, string, error)
	// PrefixesByASN lists watched prefixes whose current path (any peer)
	// contains asn, ordered by prefix.
	PrefixesByASN(ctx context.Context, asn uint32, pg Page) ([]netip.Prefix, string, error)
}

// EventWriter stores events.
type EventWriter interface {
	// PutEvents inserts or replaces events by ID.
	PutEvents(ctx context.Context, evs []route.Event) error
}

// EventReader reads events.
type EventReader interface {
	Event(ctx context.Context, id string) (route.Event, error)
	// Events pages through events. The events returned may share their
	// slices with the store's cache: read only.
	Events(ctx context.Context, f EventFilter) ([]route.Event, string, error)
	// EventsVersion changes whenever any event is put; read it before
	// Events to reuse what was derived from an answer under the same
	// version (the API keeps encoded pages). Opaque; "" means unknown.
	EventsVersion(ctx context.Context) (string, error)
}

// PeerReader reads the vantage points.
type PeerReader interface {
	Peers(ctx context.Context) ([]PeerInfo, error)
	// SessionHistory lists the applied session changes of one vantage
	// point (the peer's address, collector, router, distinguisher and
	// view; its ASN is ignored), newest first (bounded: SessionHistoryLen
	// per vantage point).
	SessionHistory(ctx context.Context, p route.Peer, limit int) ([]route.PeerState, error)
}

// GroupReader reads provider/region summaries.
type GroupReader interface {
	Groups(ctx context.Context) ([]GroupSummary, error)
	Group(ctx context.Context, provider, region string) (GroupSummary, error)
	// GroupPrefixes lists the group's prefixes that some peer holds a
	// path for (those GroupSummary.Prefixes counts), ordered by prefix.
	GroupPrefixes(ctx context.Context, provider, region string, pg Page) ([]PrefixVisibility, string, error)
}

// Outbox holds alert deliveries until they are sent.
type Outbox interface {
	Enqueue(ctx context.Context, ds []Delivery) error
	// Due returns up to limit deliveries with NextAttempt <= now, oldest
	// first, and leases them until now+lease so a second worker does not
	// send them concurrently.
	Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// Reschedule stores a failed attempt (Attempts, NextAttempt, LastError).
	Reschedule(ctx context.Context, d Delivery) error
	// Finish removes a delivery from the outbox and records its outcome.
	Finish(ctx context.Context, id string, o Outcome, at time.Time) error
}

// Checkpoints keeps named snapshots of other parts' state (the
// analyzer's), so a restart continues where it stopped instead of cold.
// The data is opaque to the store; at is when the snapshot was taken (the
// caller's clock), so a reader can tell a stale one.
type Checkpoints interface {
	// PutCheckpoint replaces the checkpoint called name.
	PutCheckpoint(ctx context.Context, name string, data []byte, at time.Time) error
	// Checkpoint returns the last checkpoint put under name, ErrNotFound
	// when there is none.
	Checkpoint(ctx context.Context, name string) ([]byte, time.Time, error)
}

// Pinger reports whether the backend answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Store is the contract both backends implement: every role.
type Store interface {
	RouteWriter
	RouteReader
	EventWriter
	EventReader
	PeerReader
	GroupReader
	Outbox
	Checkpoints
	Pinger
	Close() error
}
