package pipeline

import (
	"net/netip"

	"routewatch/ranges"
	"routewatch/route"
)

// Tagger fills in an update's provider tags (ranges.Set).
type Tagger interface {
	Tag(u *route.Update)
}

// Validator is RPKI route origin validation with the VRPs in force
// (rpki.Table; a nil *rpki.Table answers route.ROVNone).
type Validator interface {
	ValidatePath(p netip.Prefix, path route.ASPath) route.ROVState
}

// validate sets u.RPKI for a watched announcement (v may be nil: no VRPs).
func validate(u *route.Update, v Validator) {
	if v == nil || u.Withdraw || len(u.Tags) == 0 {
		return
	}
	u.RPKI = v.ValidatePath(u.Prefix, u.Attrs.ASPath)
}

// WatchFilter decides which updates concern watched prefixes: those the
// ranges tag, plus later updates of slots that were watched (a withdrawal
// has no attributes, so an origin-ASN match cannot be repeated on it). It
// also counts the watched routes whose RPKI state is invalid.
type WatchFilter struct {
	watched map[route.Key]route.ROVState
	invalid int
}

// NewWatchFilter returns a filter that has seen nothing.
func NewWatchFilter() *WatchFilter { return &WatchFilter{watched: make(map[route.Key]route.ROVState)} }

// Invalid is the number of watched routes whose last announcement was
// RPKI-invalid.
func (f *WatchFilter) Invalid() int { return f.invalid }

// Keep tags u (when tg is not nil) and reports whether u is watched.
func (f *WatchFilter) Keep(u *route.Update, tg Tagger) bool {
	if tg != nil {
		tg.Tag(u)
	}
	k := u.Key()
	old, was := f.watched[k]
	if old == route.ROVInvalid {
		f.invalid--
	}
	switch {
	case u.Withdraw:
		delete(f.watched, k)
	case len(u.Tags) > 0:
		f.watched[k] = u.RPKI
		if u.RPKI == route.ROVInvalid {
			f.invalid++
		}
	default:
		// Re-announced outside the watch list: the store must drop
		// the path, so pass this one on and forget the slot.
		delete(f.watched, k)
	}
	return len(u.Tags) > 0 || was
}

// prefixMemo remembers the tags of the last prefix a ranges.Set matched
// by range: a RIB dump lists every vantage point's route of one prefix in
// a row, and the ranges match the prefix alone. Tags from the origin-ASN
// watch list depend on the route and are never reused.
type prefixMemo struct {
	tg   *ranges.Set
	pfx  netip.Prefix
	tags []route.Tag
	ok   bool
}

// wrap returns the tagger to use for tg: the memo when tg is a ranges.Set
// (forgetting what it remembered when the set changed), tg otherwise.
func (m *prefixMemo) wrap(tg Tagger) Tagger {
	s, ok := tg.(*ranges.Set)
	if !ok {
		return tg
	}
	if s != m.tg {
		*m = prefixMemo{tg: s}
	}
	return m
}

// Tag tags u as m.tg would.
func (m *prefixMemo) Tag(u *route.Update) {
	if m.ok && u.Prefix == m.pfx {
		u.Tags = m.tags
		return
	}
	m.tg.Tag(u)
	m.pfx, m.tags = u.Prefix, u.Tags
	m.ok = len(u.Tags) > 0 && u.Tags[0].Match != route.MatchOriginASN
}
