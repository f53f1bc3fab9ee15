package api

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
	"routewatch/rpki"
)

// TestRouteViewsRPKI: route views carry the ROV state computed at read
// time with the VRPs in force; a refresh that changes the VRPs changes the
// answer at once, also with the response cache on.
func TestRouteViewsRPKI(t *testing.T) {
	v := newValidator(t)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			loadFixture(t, st)
			vrps := filepath.Join(t.TempDir(), "vrps.json")
			write := func(body string) {
				t.Helper()
				if err := os.WriteFile(vrps, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// rpki-client -j: ASNs as numbers; 104.16.0.0/13 is covered by
			// nothing (not-found).
			write(`{"metadata":{"buildtime":"2021-12-15T15:00:00Z"},"roas":[{"asn":16509,"prefix":"52.94.0.0/16","maxLength":24,"ta":"arin"}]}`)
			ref := rpki.NewRefresher(rpki.Config{VRPs: vrps}, nil, nil, nil)
			if err := ref.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			s, err := New(testConfig(), st, testMatcher, reg, nil, reg, WithValidator(func() Validator { return ref.Table() }))
			if err != nil {
				t.Fatal(err)
			}
			s.now = func() time.Time { return testNow }
			states := func(uri string) []route.ROVState {
				t.Helper()
				res := do(t, v, s.Handler(), "GET", uri, "", nil)
				if res.status != 200 {
					t.Fatalf("%s: %d %s", uri, res.status, res.body)
				}
				var pv prefixView
				if err := json.Unmarshal(res.body, &pv); err != nil {
					t.Fatal(err)
				}
				var out []route.ROVState
				for _, p := range pv.Prefixes {
					for _, r := range p.Routes {
						out = append(out, r.RPKI)
					}
				}
				return out
			}
			const exact = "/api/v1/prefixes/52.94.0.0/22"
			for _, tc := range []struct {
				name, uri string
				want      []route.ROVState
			}{
				{"valid", exact, []route.ROVState{route.ROVValid, route.ROVValid}},
				{"not_found", "/api/v1/prefixes/104.16.0.0/13", []route.ROVState{route.ROVNotFound}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					for i := 0; i < 2; i++ { // the second answer is the cached one
						if got := states(tc.uri); !equalStates(got, tc.want) {
							t.Fatalf("request %d: %v, want %v", i+1, got, tc.want)
						}
					}
				})
			}
			if b.name == "memory" {
				golden(t, "prefix_exact_rpki", do(t, v, s.Handler(), "GET", exact, "", nil).body)
			}
			t.Run("refresh_voids_cache", func(t *testing.T) {
				// Another origin authorised, another size (file stamps are
				// size+mtime).
				write(`{"roas":[{"asn":"AS64500","prefix":"52.94.0.0/16","maxLength":24},{"asn":"AS64501","prefix":"52.94.0.0/16","maxLength":16}]}`)
				if err := ref.Refresh(context.Background()); err != nil {
					t.Fatal(err)
				}
				if got, want := states(exact), []route.ROVState{route.ROVInvalid, route.ROVInvalid}; !equalStates(got, want) {
					t.Fatalf("after refresh: %v, want %v", got, want)
				}
				res := do(t, v, s.Handler(), "GET", exact+"/history", "", nil)
				var hv historyView
				if err := json.Unmarshal(res.body, &hv); err != nil {
					t.Fatal(err)
				}
				for _, e := range hv.Entries {
					want := route.ROVInvalid
					if e.New == nil {
						want = route.ROVNone
					}
					if e.RPKI != want {
						t.Errorf("history entry %s %s: rpki %q, want %q", e.Time, e.Change, e.RPKI, want)
					}
				}
			})
		})
	}
}

func equalStates(a, b []route.ROVState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
