package analyzer

import (
	"time"

	"routewatch/route"
)

// groupWindow is what the opening decision of a provider group looks at:
// the group's counts in the sliding window, its baseline and its timers.
type groupWindow struct {
	now       time.Time
	warmUntil time.Time // end of the first window after start: baseline unknown before
	cooldown  time.Time // a resolved event's group rests until then
	nextCheck time.Time // vantage points were counted short; count again then
	pending   bool      // already waiting for Settle
	corr      int       // prefixes changed at >= MinPeersPerPrefix peer ASNs
	size      int       // prefixes of the group held now
	baseline  float64
}

// verdict is the outcome of the opening decision.
type verdict uint8

const (
	verdictNone    verdict = iota // below a threshold, or not the time to look
	verdictRecheck                // past the prefix thresholds, too few vantage points
	verdictPending                // past every threshold: open after Settle
)

// crossedThresholds reports whether corr correlated prefixes of a group of
// size prefixes with that baseline pass the prefix thresholds.
func crossedThresholds(c Config, corr, size int, baseline float64) bool {
	return corr >= c.MinPrefixes &&
		float64(corr) >= c.MinShare*float64(size) &&
		float64(corr) >= c.BaselineMultiple*baseline
}

// decideOpen is the opening decision of a provider group, a pure function
// of the configuration and the group's window. peers counts the distinct
// vantage-point ASNs among the correlated changes; it walks the window, so
// it is called only once every cheaper test passed.
func decideOpen(c Config, w groupWindow, peers func() int) verdict {
	switch {
	case w.pending, w.now.Before(w.cooldown), w.now.Before(w.nextCheck),
		w.now.Before(w.warmUntil), !crossedThresholds(c, w.corr, w.size, w.baseline):
		return verdictNone
	case peers() < c.MinPeers:
		return verdictRecheck
	}
	return verdictPending
}

// kindOf names a provider event from its routes that left their pre-event
// state: more withdrawn than shifted is a withdrawal; shifted routes that
// all kept their path (only communities changed, Config.CommunityChanges)
// are a community_change.
func kindOf(withdrawn, shifted, communityOnly int) route.EventKind {
	switch {
	case withdrawn > shifted:
		return route.KindWithdrawal
	case withdrawn == 0 && shifted > 0 && communityOnly == shifted:
		return route.KindCommunityChange
	}
	return route.KindPathShift
}
