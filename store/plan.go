package store

import (
	"net/netip"
	"slices"
	"time"

	"routewatch/route"
)

// The write rules, written once. Both backends apply an update to its
// prefix by the same rule (planPath: Memory in Go, Redis atomically in
// applyScript, tested against planPath), and derive the index and counter
// changes of a batch from what that step reported (planIndexes), so the
// two cannot drift apart.

// pathAction is what one update does to the (peer, path-ID) path it names.
type pathAction uint8

const (
	// keepPath: nothing to do (withdrawal of an absent path, or the same
	// path re-announced in the same session).
	keepPath pathAction = iota
	// confirmPath: the same path re-announced in a newer session of the
	// peer: only its session epoch moves on. Not a change.
	confirmPath
	// addPath: a path the peer did not have: a change, one path more.
	addPath
	// replacePath: other attributes for a held path: a change.
	replacePath
	// removePath: withdrawal of a held path: a change, one path less.
	removePath
)

// planPath is the rule for one update. held: the peer has a path with this
// path-ID for the prefix; sameAttrs: it has the announced attributes;
// sameEpoch: it was confirmed in the peer's current session.
func planPath(withdraw, held, sameAttrs, sameEpoch bool) pathAction {
	switch {
	case withdraw && held:
		return removePath
	case withdraw:
		return keepPath
	case !held:
		return addPath
	case !sameAttrs:
		return replacePath
	case !sameEpoch:
		return confirmPath
	}
	return keepPath
}

// changed reports whether the action is a route change (history, counters).
func (a pathAction) changed() bool { return a >= addPath }

// delta is the change in the prefix's number of paths.
func (a pathAction) delta() int64 {
	switch a {
	case addPath:
		return 1
	case removePath:
		return -1
	}
	return 0
}

// retag reports whether an update's tags replace the prefix's: an update
// without tags keeps them.
func retag(cur, next []route.Tag) bool { return len(next) > 0 && !slices.Equal(cur, next) }

// applyResult is what applying one update to its prefix did: applyScript's
// reply on Redis, applyLocked's on Memory.
type applyResult struct {
	changed, tagsChanged bool
	// delta: change in the prefix's paths; n: its paths afterwards.
	delta, n int64
	// oldTags (when tagsChanged) and tags (now): encodeTags of each.
	oldTags, tags string
}

// pathRef names one path of one peer (the peer is the map's key).
type pathRef struct {
	prefix netip.Prefix
	pathID uint32
}

// peerTouch is what a batch tells about one peer.
type peerTouch struct {
	asn    uint32 // 0: keep
	source string // "": keep
	last   time.Time
	// paths: whether each path named in the batch is held afterwards
	// (withIndexes).
	paths map[pathRef]bool
}

// groupChanges counts a batch's route changes of one group per minute.
type groupChanges struct {
	last    time.Time
	buckets map[int64]int64
}

// indexPlan is every index and counter change a batch implies. Index
// writes are idempotent and planned for unchanged updates too, so a batch
// retried after an interruption repairs what the first attempt missed.
type indexPlan struct {
	changed int // updates that changed a route
	// members: whether each prefix named is a member of the group now.
	members map[route.Group]map[netip.Prefix]bool
	// paths: the number of paths of each prefix afterwards (withIndexes).
	paths map[netip.Prefix]int64
	// asns: the prefixes (prefixKey) newly announced with each ASN in the
	// path (withIndexes). The per-ASN index is only added to here
	// (Redis cleans it on read).
	asns   map[uint32]map[string]struct{}
	peers  map[vantage]*peerTouch
	groups map[route.Group]*groupChanges
}

// planIndexes derives a batch's index changes from the updates and what
// applying each did (res[i] for ups[i]). Pure: no store is involved.
// withIndexes plans the prefix, per-ASN and per-peer path sets too, which
// Redis keeps as sets and Memory keeps as it applies each update.
func planIndexes(ups []route.Update, res []applyResult, withIndexes bool) indexPlan {
	pl := indexPlan{
		members: map[route.Group]map[netip.Prefix]bool{},
		paths:   map[netip.Prefix]int64{},
		asns:    map[uint32]map[string]struct{}{},
		peers:   map[vantage]*peerTouch{},
		groups:  map[route.Group]*groupChanges{},
	}
	groupCache := map[string][]route.Group{}
	groupsOf := func(tags string) []route.Group {
		if gs, ok := groupCache[tags]; ok {
			return gs
		}
		ts, _ := decodeTags(tags)
		gs := tagGroups(ts)
		groupCache[tags] = gs
		return gs
	}
	for i := range ups {
		u, rs := &ups[i], res[i]
		p := u.Prefix.Masked()
		pt := pl.touchPeer(u)
		// Group membership follows the prefix's current tags.
		if rs.tagsChanged {
			for _, g := range groupsOf(rs.oldTags) {
				pl.member(g)[p] = false
			}
		}
		for _, g := range groupsOf(rs.tags) {
			pl.member(g)[p] = true
		}
		if withIndexes {
			pl.paths[p] = rs.n
			if pt.paths == nil {
				pt.paths = map[pathRef]bool{}
			}
			pt.paths[pathRef{p, u.PathID}] = !u.Withdraw
			if !u.Withdraw {
				pl.addASNs(p, u.Attrs.ASPath)
			}
		}
		if !rs.changed {
			continue
		}
		pl.changed++
		for _, g := range groupsOf(rs.tags) {
			gc := pl.groups[g]
			if gc == nil {
				gc = &groupChanges{buckets: map[int64]int64{}}
				pl.groups[g] = gc
			}
			gc.buckets[minuteOf(u.Time)]++
			if u.Time.After(gc.last) {
				gc.last = u.Time
			}
		}
	}
	return pl
}

func (pl *indexPlan) touchPeer(u *route.Update) *peerTouch {
	v := vantageOf(u.Peer)
	pt := pl.peers[v]
	if pt == nil {
		pt = &peerTouch{}
		pl.peers[v] = pt
	}
	if u.Peer.ASN != 0 {
		pt.asn = u.Peer.ASN
	}
	if u.Source != "" {
		pt.source = u.Source
	}
	if u.Time.After(pt.last) {
		pt.last = u.Time
	}
	return pt
}

func (pl *indexPlan) member(g route.Group) map[netip.Prefix]bool {
	m := pl.members[g]
	if m == nil {
		m = map[netip.Prefix]bool{}
		pl.members[g] = m
	}
	return m
}

func (pl *indexPlan) addASNs(p netip.Prefix, path route.ASPath) {
	pk := ""
	for _, a := range pathASNs(path) {
		if pk == "" {
			pk = prefixKey(p)
		}
		if pl.asns[a] == nil {
			pl.asns[a] = map[string]struct{}{}
		}
		pl.asns[a][pk] = struct{}{}
	}
}
