package rislive

import (
	"net/netip"
	"sync"
	"time"

	"routewatch/route"
)

// A route is unverified when the client may have missed a message about
// it: after a dropped message (the pipeline was behind), during a gap
// (disconnect, dead feed) or before the bootstrap caught up. The next
// update of an unverified route is passed on as a re-sync (TableDump set):
// the analyzer takes the new state without counting a change, as for a
// RIB snapshot.

// markKey is one route of one vantage point (RIS Live has no path IDs).
type markKey struct {
	peer   route.Peer
	prefix netip.Prefix
}

// maxMarks bounds the per-route marks; past it a drop unverifies
// everything until each route was seen again.
const maxMarks = 1 << 18

// resync holds what is unverified. The reader marks drops; the emitter
// asks and clears. Safe for concurrent use.
type resync struct {
	mu sync.Mutex
	// drops: routes in a dropped message, with the message's sequence
	// number; a later message clears the mark.
	drops map[markKey]uint64
	// gap: after gapSeq every route is unverified until its first update
	// (seen), until gapEnd.
	gapSeq uint64
	gapEnd time.Time
	seen   map[markKey]struct{}
	// until: live messages at or before this time are already in the
	// bootstrapped state.
	until time.Time
}

func newResync() *resync { return &resync{drops: make(map[markKey]uint64)} }

// dropped marks the routes of a message that could not be queued.
func (r *resync) dropped(seq uint64, m *Message, now time.Time, gapFor time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.drops)+len(m.Updates) > maxMarks {
		clear(r.drops)
		r.startGapLocked(seq, now, gapFor)
		return
	}
	for i := range m.Updates {
		r.drops[markKey{m.Updates[i].Peer, m.Updates[i].Prefix}] = seq
	}
}

// startGap makes every route unverified after message seq, for gapFor.
func (r *resync) startGap(seq uint64, now time.Time, gapFor time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startGapLocked(seq, now, gapFor)
}

func (r *resync) startGapLocked(seq uint64, now time.Time, gapFor time.Duration) {
	r.gapSeq, r.gapEnd = seq, now.Add(gapFor)
	r.seen = make(map[markKey]struct{})
}

// endGap ends a gap (the bootstrap filled it) and remembers up to when
// live messages are redundant.
func (r *resync) endGap(until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gapSeq, r.seen, r.until = 0, nil, until
}

// apply sets TableDump on the updates of message seq that are
// unverified and clears their marks. It returns how many it set.
func (r *resync) apply(seq uint64, ups []route.Update, now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gapSeq > 0 && now.After(r.gapEnd) {
		r.gapSeq, r.seen = 0, nil
	}
	n := 0
	for i := range ups {
		u := &ups[i]
		sync := !u.Time.After(r.until)
		k := markKey{u.Peer, u.Prefix}
		if len(r.drops) > 0 {
			if s, ok := r.drops[k]; ok && seq > s {
				delete(r.drops, k)
				sync = true
			}
		}
		if r.gapSeq > 0 && seq > r.gapSeq {
			if _, ok := r.seen[k]; !ok {
				if len(r.seen) < maxMarks {
					r.seen[k] = struct{}{}
				}
				sync = true
			}
		}
		if sync {
			u.TableDump = true
			n++
		}
	}
	return n
}
