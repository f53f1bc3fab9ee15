package pipeline

import "routewatch/route"

// Tagger fills in an update's provider tags (ranges.Set).
type Tagger interface {
	Tag(u *route.Update)
}

// WatchFilter decides which updates concern watched prefixes: those the
// ranges tag, plus later updates of slots that were watched (a withdrawal
// has no attributes, so an origin-ASN match cannot be repeated on it).
type WatchFilter struct {
	watched map[route.Key]struct{}
}

// NewWatchFilter returns a filter that has seen nothing.
func NewWatchFilter() *WatchFilter { return &WatchFilter{watched: make(map[route.Key]struct{})} }

// Keep tags u (when tg is not nil) and reports whether u is watched.
func (f *WatchFilter) Keep(u *route.Update, tg Tagger) bool {
	if tg != nil {
		tg.Tag(u)
	}
	k := u.Key()
	_, was := f.watched[k]
	switch {
	case u.Withdraw:
		delete(f.watched, k)
	case len(u.Tags) > 0:
		f.watched[k] = struct{}{}
	default:
		// Re-announced outside the watch list: the store must drop
		// the path, so pass this one on and forget the slot.
		delete(f.watched, k)
	}
	return len(u.Tags) > 0 || was
}
