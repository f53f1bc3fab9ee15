package api

import (
	"bytes"
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
	// Store cursors of a covered listing: resumed, or handed to another
	// family, length or match.
	f.Add("prefixes/0.0.0.0/0", "match=covered&limit=1&cursor=cjE6NTIuOTQuMC4wLzIy")
	f.Add("prefixes/52.94.0.0/24", "match=covering&cursor=cjE6NTIuOTQuMC4wLzIy")
	f.Add("prefixes/::/0", "match=covered&cursor=cjE6NTIuOTQuMC4wLzIy")
	f.Add("prefixes/2600::/12", "match=covered&limit=2&cursor=cjE6MjYwMDoxZjE4OjovMzY")
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

// FuzzImport sends arbitrary bodies to the admin event import: no body may
// produce a 5xx, and whatever is accepted must read back as valid events.
func FuzzImport(f *testing.F) {
	f.Add([]byte(`[{"id":"e1","kind":"path_shift","start":"2021-12-15T15:00:00Z"}]`))
	f.Add([]byte(`[{"id":"e2","kind":"withdrawal","provider":"aws","region":"us-east-1","start":"2021-12-15T15:00:00Z","end":"2021-12-15T14:00:00Z"}]`))
	f.Add([]byte(`[{"id":"e3","kind":"peer_down","start":"2021-12-15T15:00:00Z","affected_peers":[{"addr":"192.0.2.1","asn":1}],"sample_prefixes":["192.0.2.0/24"]}]`))
	f.Add([]byte(`[{"id":"e4","kind":"peer_down","start":"2021-12-15T15:00:00Z","sample_prefixes":["192.0.2.1/33"]}]`))
	f.Add([]byte(`{"id":"x"}`))
	f.Add([]byte(`[] []`))
	f.Add([]byte(`[{"id":"e5","kind":"path_shift","start":"0001-01-01T00:00:00Z","end":"-0001-01-01T00:00:00Z"}]`))
	var (
		once sync.Once
		h    http.Handler
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		once.Do(func() {
			c := testConfig()
			c.Tokens = []Token{{Name: "ops", Token: adminToken, Scope: ScopeAdmin}}
			s, err := New(c, store.NewMemory(store.MemoryConfig{}), nil, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			h = s.Handler()
		})
		req := httptest.NewRequest(http.MethodPost, "/api/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code != http.StatusOK {
			return
		}
		var evs []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &evs); err != nil {
			t.Fatalf("accepted a body that is not an event array: %q", body)
		}
		for _, e := range evs {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/events/"+url.PathEscape(e.ID), nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("imported event %q reads back %d: %s", e.ID, rec.Code, rec.Body)
			}
		}
	})
}
