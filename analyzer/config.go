package analyzer

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the detection thresholds. The defaults (DefaultConfig) are
// tuned for RIPE RIS-like data: 10-20 vantage points, a full table per
// vantage point, a few correlated flaps per provider region per hour.
type Config struct {
	// Window is the sliding window in which correlated changes are counted
	// (default 5m). A TE shift or an outage propagates to all vantage
	// points within a minute or two; five minutes also catches slow
	// rollouts without merging unrelated flaps.
	Window time.Duration `yaml:"window"`
	// MinPrefixes is the minimum number of a group's prefixes that must
	// have changed at MinPeersPerPrefix vantage points within Window to open
	// a provider event (default 5).
	MinPrefixes int `yaml:"min_prefixes"`
	// MinShare is the minimum share of the group's known prefixes that must
	// have changed that way (default 0.1).
	MinShare float64 `yaml:"min_share"`
	// MinPeers is the minimum number of independent vantage points
	// (distinct peer ASNs) that saw the changes (default 3).
	MinPeers int `yaml:"min_peers"`
	// MinPeersPerPrefix is how many distinct peer ASNs must see a prefix
	// change within Window for the change to count as correlated
	// (default 3). A random flap or a busy peer touches one vantage point;
	// two coincidental flaps at two vantage points are not rare.
	MinPeersPerPrefix int `yaml:"min_peers_per_prefix"`
	// BaselineMultiple: the correlated prefix count must also be at least
	// this multiple of the group's own baseline (an exponentially weighted
	// mean of the same count per window while no event is open; default 4).
	BaselineMultiple float64 `yaml:"baseline_multiple"`
	// BaselineHalfLife is the half-life of that mean (default 6h).
	BaselineHalfLife time.Duration `yaml:"baseline_half_life"`
	// Settle is how long after the threshold is crossed the event is opened,
	// so that the kind (path_shift or withdrawal) is judged on the settled
	// state rather than on the first path-hunting updates (default 30s).
	Settle time.Duration `yaml:"settle"`
	// RestoreTolerance: an event resolves as restored when at most this
	// share of the routes that deviated from their pre-event state at the
	// peak still deviate (default 0.1).
	RestoreTolerance float64 `yaml:"restore_tolerance"`
	// StablePeriod: an event also resolves when no correlated change
	// happened for this long; its end is then the last correlated change
	// (default 1h, long enough that a TE shift that is undone within the
	// hour stays one event).
	StablePeriod time.Duration `yaml:"stable_period"`
	// UpdateInterval bounds how often an open event is reported as updated
	// while it grows (default 1m).
	UpdateInterval time.Duration `yaml:"update_interval"`
	// PeerDownShare: a vantage point that withdraws at least this share of
	// its watched routes within Window is treated as a lost table
	// (peer_down), unless MinPeers vantage points do so at the same time,
	// which is an outage (default 0.8).
	PeerDownShare float64 `yaml:"peer_down_share"`
	// PeerDownMinRoutes is the minimum number of withdrawn routes for that
	// rule (default 10).
	PeerDownMinRoutes int `yaml:"peer_down_min_routes"`
	// PeerDownHold is how long the analyzer waits after a vantage point
	// crossed PeerDownShare before it decides between peer_down and outage
	// (default 1m).
	PeerDownHold time.Duration `yaml:"peer_down_hold"`
	// TransitChanges counts AS path changes that keep the provider side of
	// the path (same origin, upstream and origin prepending) toward
	// path_shift. Off by default: such changes happen between the vantage
	// point and the upstream, i.e. they are a transit network's event and
	// show up for every origin behind it.
	TransitChanges bool `yaml:"transit_changes"`
	// CommunityChanges counts changes of communities alone (same AS path)
	// toward events: correlated community changes without any path change
	// open a community_change event. Off by default: communities change
	// for many reasons that do not move traffic.
	CommunityChanges bool `yaml:"community_changes"`
	// SamplePrefixes is how many prefixes an event lists (default 10).
	SamplePrefixes int `yaml:"sample_prefixes"`

	// HijackMinPeers is how many distinct peer ASNs must see bogus routes
	// (a watched prefix or a more-specific of a watched range announced
	// by an origin outside the provider's legitimate origins) to open an
	// origin_change or more_specific event (default 2: one peer alone
	// seeing a foreign origin is not an event).
	HijackMinPeers int `yaml:"hijack_min_peers"`
	// HijackMinPrefixes is how many of a group's prefixes must carry
	// bogus routes (default 1; there is no share-of-group gate).
	HijackMinPrefixes int `yaml:"hijack_min_prefixes"`
	// SuppressRPKIValid ignores bogus routes whose RPKI origin validation
	// state (route.Update.RPKI) is valid: a ROA authorises the other
	// origin (default off).
	SuppressRPKIValid bool `yaml:"suppress_rpki_valid"`
	// ProviderASNs are each provider's own origin ASNs (the ranges
	// configuration's watch_asns): always legitimate origins of its
	// prefixes. Set by the wiring, not in the analyzer section.
	ProviderASNs map[string][]uint32 `yaml:"-"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Window:            5 * time.Minute,
		MinPrefixes:       5,
		MinShare:          0.1,
		MinPeers:          3,
		MinPeersPerPrefix: 3,
		BaselineMultiple:  4,
		BaselineHalfLife:  6 * time.Hour,
		Settle:            30 * time.Second,
		RestoreTolerance:  0.1,
		StablePeriod:      time.Hour,
		UpdateInterval:    time.Minute,
		PeerDownShare:     0.8,
		PeerDownMinRoutes: 10,
		PeerDownHold:      time.Minute,
		SamplePrefixes:    10,
		HijackMinPeers:    2,
		HijackMinPrefixes: 1,
	}
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("invalid analyzer config")

// Validate reports every out-of-range setting at once (each error wraps
// ErrConfig).
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("analyzer: validate: %w: %s = %v, want %s", ErrConfig, field, v, want)
	}
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, bad("window", c.Window, "> 0"))
	}
	if c.MinPrefixes < 1 {
		errs = append(errs, bad("min_prefixes", c.MinPrefixes, ">= 1"))
	}
	if c.MinShare < 0 || c.MinShare > 1 {
		errs = append(errs, bad("min_share", c.MinShare, "0..1"))
	}
	if c.MinPeers < 1 {
		errs = append(errs, bad("min_peers", c.MinPeers, ">= 1"))
	}
	if c.MinPeersPerPrefix < 1 {
		errs = append(errs, bad("min_peers_per_prefix", c.MinPeersPerPrefix, ">= 1"))
	}
	if c.MinPeersPerPrefix > c.MinPeers {
		errs = append(errs, bad("min_peers_per_prefix", c.MinPeersPerPrefix, "<= min_peers"))
	}
	if c.BaselineMultiple < 0 {
		errs = append(errs, bad("baseline_multiple", c.BaselineMultiple, ">= 0"))
	}
	if c.BaselineHalfLife <= 0 {
		errs = append(errs, bad("baseline_half_life", c.BaselineHalfLife, "> 0"))
	}
	if c.Settle < 0 {
		errs = append(errs, bad("settle", c.Settle, ">= 0"))
	}
	if c.RestoreTolerance < 0 || c.RestoreTolerance >= 1 {
		errs = append(errs, bad("restore_tolerance", c.RestoreTolerance, "0..<1"))
	}
	if c.StablePeriod <= 0 {
		errs = append(errs, bad("stable_period", c.StablePeriod, "> 0"))
	}
	if c.UpdateInterval < 0 {
		errs = append(errs, bad("update_interval", c.UpdateInterval, ">= 0"))
	}
	if c.PeerDownShare <= 0 || c.PeerDownShare > 1 {
		errs = append(errs, bad("peer_down_share", c.PeerDownShare, "0..1 (exclusive of 0)"))
	}
	if c.PeerDownMinRoutes < 1 {
		errs = append(errs, bad("peer_down_min_routes", c.PeerDownMinRoutes, ">= 1"))
	}
	if c.PeerDownHold < 0 {
		errs = append(errs, bad("peer_down_hold", c.PeerDownHold, ">= 0"))
	}
	if c.SamplePrefixes < 0 {
		errs = append(errs, bad("sample_prefixes", c.SamplePrefixes, ">= 0"))
	}
	if c.HijackMinPeers < 1 {
		errs = append(errs, bad("hijack_min_peers", c.HijackMinPeers, ">= 1"))
	}
	if c.HijackMinPrefixes < 1 {
		errs = append(errs, bad("hijack_min_prefixes", c.HijackMinPrefixes, ">= 1"))
	}
	return errors.Join(errs...)
}
