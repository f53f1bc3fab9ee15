package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"routewatch/store"
)

// FuzzParams sends arbitrary path segments and query strings to the API
// and asserts that no input produces a 5xx, and that every error is the
// JSON error shape. Seeds: testdata/fuzz/FuzzParams plus the cases below.
func FuzzParams(f *testing.F) {
	for _, tc := range append(append([]apiCase{}, goldenCases...), badCases...) {
		u, err := url.Parse(tc.target)
		if err != nil {
			continue
		}
		f.Add(strings.TrimPrefix(u.EscapedPath(), "/api/v1/"), u.RawQuery)
	}
	f.Add("prefixes/0.0.0.0/0", "match=covered&limit=1000")
	f.Add("prefixes/::/0/history", "cursor=aDE6MTg0NDY3NDQwNzM3MDk1NTE2MTU")
	f.Add("events", "from=0000-01-01T00:00:00Z&to=9999-12-31T23:59:59Z")
	f.Add("asns/00000000000000000003356/prefixes", "limit=1&cursor=")

	var (
		once sync.Once
		h    http.Handler
	)
	f.Fuzz(func(t *testing.T, path, query string) {
		once.Do(func() {
			st := store.NewMemory(store.MemoryConfig{})
			loadFixture(t, st)
			s, err := New(testConfig(), st, testMatcher, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			h = s.Handler()
		})
		// Only what an HTTP client can actually send: a parseable
		// request-target.
		u, err := url.ParseRequestURI("/api/v1/" + path + "?" + query)
		if err != nil || strings.ContainsAny(path+query, " \t\r\n#") {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %s: status %d: %s", u, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Fatalf("GET %s: %d without a JSON error: %q", u, rec.Code, rec.Body)
			}
		} else if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("GET %s: %d with invalid JSON", u, rec.Code)
		}
	})
}
