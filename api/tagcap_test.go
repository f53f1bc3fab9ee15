package api

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"

	"routewatch/route"
	"routewatch/store"
)

// manyTags matches every prefix with n ranges, as a short covering prefix
// matches thousands of published ranges.
type manyTags int

func (n manyTags) Match(netip.Prefix) []route.Tag {
	out := make([]route.Tag, n)
	for i := range out {
		out[i] = route.Tag{Provider: "gcp", Region: fmt.Sprintf("region-%d", i), Match: route.MatchCovered}
	}
	return out
}

// TestPrefixTagsCappedByLimit: a lookup's tags and each prefix's tags are
// capped by limit (issue 16: /prefixes/0.0.0.0/0?limit=1 returned 3,698
// tags).
func TestPrefixTagsCappedByLimit(t *testing.T) {
	v := newValidator(t)
	st := store.NewMemory(store.MemoryConfig{})
	loadFixture(t, st)
	s, err := New(testConfig(), st, manyTags(300), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		uri  string
		want int
	}{
		{"/api/v1/prefixes/0.0.0.0/0?limit=1", 1},
		{"/api/v1/prefixes/0.0.0.0/0?match=covered&limit=1", 1},
		{"/api/v1/prefixes/0.0.0.0/0?match=covered&limit=5", 5},
		{"/api/v1/prefixes/0.0.0.0/0?match=covered", store.DefaultLimit},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			for i := 0; i < 2; i++ { // fresh, then cached
				res := do(t, v, s.Handler(), "GET", tc.uri, "", nil)
				var pv prefixView
				if err := json.Unmarshal(res.body, &pv); err != nil {
					t.Fatal(err)
				}
				if len(pv.Tags) != min(tc.want, 300) {
					t.Errorf("%d tags, want %d", len(pv.Tags), tc.want)
				}
				for _, p := range pv.Prefixes {
					if len(p.Tags) > tc.want {
						t.Errorf("%s: %d tags, want at most %d", p.Prefix, len(p.Tags), tc.want)
					}
				}
			}
		})
	}
}
