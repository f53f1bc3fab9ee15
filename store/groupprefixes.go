package store

import "net/netip"

// groupCursor is where a GroupPrefixes listing resumes: after the prefix
// with this key (prefixKey).
func groupCursor(key string) string { return cursorGroup.next(key) }

// parseGroupCursor returns the prefix key to resume after ("" for the
// first page).
func parseGroupCursor(c string) (string, error) { return cursorGroup.parse(c, validPrefixKey) }

// visibility counts one prefix's paths per peer: a peer with any
// non-stale path sees the prefix, one whose paths are all stale does not.
func visibility(p netip.Prefix, peers []vantage, stale func(i int) bool) PrefixVisibility {
	live := make(map[vantage]bool, len(peers))
	for i, a := range peers {
		live[a] = live[a] || !stale(i)
	}
	v := PrefixVisibility{Prefix: p, Paths: len(peers)}
	for _, ok := range live {
		if ok {
			v.Peers++
		} else {
			v.Stale++
		}
	}
	return v
}
