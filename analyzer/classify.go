package analyzer

import (
	"slices"

	"routewatch/route"
)

// ChangeType classifies what one update did to one (peer, prefix, path-ID)
// slot.
type ChangeType uint8

// Change types.
const (
	// ChangeNone: duplicate announcement or withdrawal of an absent route.
	ChangeNone ChangeType = iota
	// ChangeInitial: first announcement of the slot (initial load).
	ChangeInitial
	// ChangeAnnounce: a withdrawn route is announced again.
	ChangeAnnounce
	// ChangeWithdraw: a present route is withdrawn.
	ChangeWithdraw
	// ChangeUpstream: the AS adjacent to the origin (or the origin) changed.
	ChangeUpstream
	// ChangePrepend: same upstream, different origin prepending.
	ChangePrepend
	// ChangePathLength: same origin, upstream and origin prepending,
	// different length (a change on the transit side of the path).
	ChangePathLength
	// ChangePath: same length and provider side, other ASNs differ.
	ChangePath
	// ChangeAttrs: same AS path, other attributes (communities, MED, next
	// hop, ...) differ.
	ChangeAttrs
)

var changeNames = [...]string{"none", "initial", "announce", "withdraw", "upstream", "prepend", "path_length", "path", "attrs"}

func (c ChangeType) String() string {
	if int(c) < len(changeNames) {
		return changeNames[c]
	}
	return "unknown"
}

// providerSide reports whether c changes visibility or the provider side
// of the path (origin, upstream, origin prepending).
func (c ChangeType) providerSide() bool {
	return c >= ChangeAnnounce && c <= ChangePrepend
}

// samePath compares two announced paths as the analyzer sees them: the
// provider side only, or the whole path with transit changes counted.
func samePath(a, b *route.Attrs, transit bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	if transit {
		return a.ASPath.Equal(b.ASPath)
	}
	return classifyPath(a.ASPath, b.ASPath) >= ChangePathLength
}

// sameCommunities reports whether two routes carry the same communities
// and large communities.
func sameCommunities(a, b *route.Attrs) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.Equal(a.Communities, b.Communities) && slices.Equal(a.LargeCommunities, b.LargeCommunities)
}

// sameRoute compares two announced routes as the analyzer sees them: the
// path (samePath), and the communities when community changes count.
func (a *Analyzer) sameRoute(x, y *route.Attrs) bool {
	return samePath(x, y, a.cfg.TransitChanges) && (!a.cfg.CommunityChanges || sameCommunities(x, y))
}

// Classify compares two announcements of the same slot. nil old means the
// slot had no route (ChangeInitial); nil new means a withdrawal.
func Classify(old, new *route.Attrs) ChangeType {
	switch {
	case old == nil && new == nil:
		return ChangeNone
	case old == nil:
		return ChangeInitial
	case new == nil:
		return ChangeWithdraw
	case old.Equal(new):
		return ChangeNone
	case old.ASPath.Equal(new.ASPath):
		return ChangeAttrs
	}
	return classifyPath(old.ASPath, new.ASPath)
}

func classifyPath(old, new route.ASPath) ChangeType {
	ou, ook := old.Upstream()
	nu, nok := new.Upstream()
	oo, _ := old.Origin()
	no, _ := new.Origin()
	switch {
	case ou != nu || ook != nok || oo != no:
		return ChangeUpstream
	case old.OriginPrepends() != new.OriginPrepends():
		return ChangePrepend
	case old.Len() != new.Len():
		return ChangePathLength
	}
	return ChangePath
}

// upstreamOf is the transition key of a route: the AS adjacent to the
// origin; 0 when absent or when the peer is the origin itself (as in
// route.Transition).
func upstreamOf(present bool, a *route.Attrs) uint32 {
	if !present || a == nil {
		return 0
	}
	u, _ := a.ASPath.Upstream()
	return u
}
