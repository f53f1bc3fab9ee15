package analyzer

import (
	"math"
	"slices"
	"time"

	"routewatch/route"
)

type group struct {
	g    route.Group
	size int // prefixes held now (a slot at some vantage point)

	changed int // prefixes with changes in the window
	corr    int // prefixes changed at >= MinPeersPerPrefix peer ASNs

	baseline  float64
	bsum, bw  float64 // bias-corrected EWMA state
	nextCheck time.Time
	pendingAt time.Time
	epoch     time.Time // changes up to here belong to a resolved event
	cooldown  time.Time
	event     *event
	ids       idSeq
	hij       [2]*hijackState // origin_change, more_specific (hijack.go)
}

type record struct {
	t           time.Time
	slot        *slot
	pfx         *pfxState // slot.pfx and ...
	asn         uint32    // ... slot.peer.peer.ASN: window scans read the record only
	typ         ChangeType
	fromPresent bool
	fromAttrs   *route.Attrs
	removed     bool
	// synced: the from-route came without a record (slot.synced).
	synced bool
}

// sampleBaselines folds each quiet group's correlated count into its
// baseline once per window.
func (a *Analyzer) sampleBaselines() {
	if a.now.Before(a.nextSample) {
		return
	}
	n := int(a.now.Sub(a.nextSample)/a.cfg.Window) + 1
	a.nextSample = a.nextSample.Add(time.Duration(n) * a.cfg.Window)
	// Windows without any update decay the baseline toward the current
	// (usually zero) count.
	w := 1 - math.Pow(1-a.alpha, float64(min(n, 10000)))
	for _, g := range a.groupList {
		if g.event != nil || !g.pendingAt.IsZero() || a.now.Before(g.cooldown) {
			continue
		}
		// Bias-corrected: early on the baseline is the plain mean of the
		// windows seen so far instead of being dragged toward zero.
		g.bsum += w * (float64(g.corr) - g.bsum)
		g.bw += w * (1 - g.bw)
		g.baseline = g.bsum / g.bw
	}
}

// add records a path change in the window and lets the groups react.
func (a *Analyzer) add(r record, out []route.EventChange) []route.EventChange {
	a.stats.Changes[r.typ]++
	r.slot.refs++
	r.synced, r.slot.synced = r.slot.synced, false
	r.pfx, r.asn = r.slot.pfx, r.slot.peer.peer.ASN
	a.win = append(a.win, r)
	rp := &a.win[len(a.win)-1]
	a.enter(rp)
	for _, g := range rp.pfx.groups {
		if g.event != nil {
			out = a.absorb(g.event, rp, out)
		} else {
			a.check(g)
		}
	}
	return out
}

func (a *Analyzer) enter(r *record) {
	pf := r.pfx
	asn := r.asn
	for i := range pf.win {
		if pf.win[i].asn == asn {
			pf.win[i].n++
			return
		}
	}
	pf.win = append(pf.win, asnCount{asn: asn, n: 1})
	n := len(pf.win)
	for _, g := range pf.groups {
		if n == 1 {
			g.changed++
		}
		if n == a.cfg.MinPeersPerPrefix {
			g.corr++
		}
	}
}

func (a *Analyzer) exit(r *record) {
	if r.removed || r.slot == nil {
		return
	}
	pf := r.pfx
	asn := r.asn
	for i := range pf.win {
		if pf.win[i].asn != asn {
			continue
		}
		pf.win[i].n--
		if pf.win[i].n > 0 {
			return
		}
		n := len(pf.win)
		pf.win[i] = pf.win[n-1]
		pf.win = pf.win[:n-1]
		for _, g := range pf.groups {
			if n == a.cfg.MinPeersPerPrefix {
				g.corr--
			}
			if n == 1 {
				g.changed--
			}
		}
		return
	}
}

func (a *Analyzer) correlated(pf *pfxState) bool { return len(pf.win) >= a.cfg.MinPeersPerPrefix }

func inGroup(pf *pfxState, g *group) bool { return slices.Contains(pf.groups, g) }

// crossed reports whether g's window is past the prefix thresholds.
func (a *Analyzer) crossed(g *group) bool {
	return crossedThresholds(a.cfg, g.corr, g.size, g.baseline)
}

// check marks g pending when the window crossed every threshold (see
// decideOpen). The first window after start is a warm-up: the group's
// baseline is unknown.
func (a *Analyzer) check(g *group) {
	w := groupWindow{
		now:       a.now,
		warmUntil: a.startAt.Add(a.cfg.Window),
		cooldown:  g.cooldown,
		nextCheck: g.nextCheck,
		pending:   !g.pendingAt.IsZero(),
		corr:      g.corr,
		size:      g.size,
		baseline:  g.baseline,
	}
	switch decideOpen(a.cfg, w, func() int { return a.vantagePoints(g) }) {
	case verdictRecheck:
		// Counting vantage points walks the window: do it at most once
		// a second of stream time per group.
		g.nextCheck = a.now.Add(time.Second)
	case verdictPending:
		g.pendingAt = a.now
		a.pending = append(a.pending, g)
	}
}

// vantagePoints counts distinct peer ASNs among the group's correlated
// changes in the window.
func (a *Analyzer) vantagePoints(g *group) int {
	seen := make(map[uint32]struct{})
	for i := a.head; i < len(a.win); i++ {
		r := &a.win[i]
		if r.removed || !r.t.After(g.epoch) || !inGroup(r.pfx, g) || !a.correlated(r.pfx) {
			continue
		}
		seen[r.asn] = struct{}{}
	}
	return len(seen)
}

// robustStart is the start of a burst in sorted change times: the first
// time from which the next minute holds a dense share of the burst
// (max(minN, 10%) of the changes). Unrelated flaps in the minutes before
// the burst are sparse and do not move the start.
func robustStart(ts []time.Time, minN int) time.Time {
	if len(ts) == 0 {
		return time.Time{}
	}
	need := max(min(minN, len(ts)), len(ts)/10, 1)
	j := 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) <= time.Minute {
			j++
		}
		if j-i >= need {
			return ts[i]
		}
	}
	return ts[len(ts)/2]
}
