package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"routewatch/route"
	"routewatch/store"
)

// switchMatcher is a Matcher whose ranges can be replaced, as the ranges
// refresher does.
type switchMatcher struct{ cur atomic.Pointer[rangeMatcher] }

func (m *switchMatcher) Match(p netip.Prefix) []route.Tag { return m.cur.Load().Match(p) }

// TestResponseCache: answers served from the response cache must be the
// ones a server without it gives, after every kind of change the store
// and the ranges can make.
func TestResponseCache(t *testing.T) {
	uris := []string{
		"/api/v1/prefixes/52.94.0.0/22",
		"/api/v1/prefixes/52.94.0.0%2F22",
		"/api/v1/prefixes/52.94.4.0/24?match=covering",
		"/api/v1/prefixes/0.0.0.0/0?match=covered&limit=2",
		"/api/v1/prefixes/2600:1f18::/36",
		"/api/v1/prefixes/10.0.0.0/8",
		"/api/v1/events",
		"/api/v1/events?status=open&limit=1",
		"/api/v1/events?provider=aws&region=us-east-1",
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st := b.open(t)
			loadFixture(t, st)
			m := &switchMatcher{}
			m.cur.Store(&testMatcher)
			reg := prometheus.NewRegistry()
			cached, err := New(testConfig(), st, m, reg, nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			off := testConfig()
			off.ResponseCache = 0
			plain, err := New(off, st, m, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			get := func(s *Server, uri string) string {
				t.Helper()
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, uri, nil))
				body, _ := io.ReadAll(rec.Result().Body)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s: %d %s", uri, rec.Code, body)
				}
				return string(body)
			}
			check := func(step string) {
				t.Helper()
				for _, uri := range uris {
					want := get(plain, uri)
					for i := 0; i < 2; i++ {
						if got := get(cached, uri); got != want {
							t.Fatalf("%s: %s (request %d):\ncached: %s\nfresh:  %s", step, uri, i+1, got, want)
						}
					}
				}
			}
			at := t0.Add(time.Hour)
			apply := func(ups ...route.Update) {
				t.Helper()
				if err := st.ApplyUpdates(ctx, ups); err != nil {
					t.Fatal(err)
				}
			}
			states := func(sts ...route.PeerState) {
				t.Helper()
				if err := st.ApplyPeerStates(ctx, sts); err != nil {
					t.Fatal(err)
				}
			}
			path := func(asns ...uint32) *route.Attrs {
				return &route.Attrs{ASPath: seqPath(asns...), NextHop: netip.MustParseAddr("192.0.2.1")}
			}
			tags := testMatcher.Match(mustPrefix("52.94.0.0/22"))

			check("fixture")
			apply(route.Update{Time: at, Peer: peerA, Prefix: mustPrefix("52.94.0.0/22"), Attrs: path(3333, 1299, 16509), Tags: tags})
			check("path change")
			states(route.PeerState{Time: at.Add(time.Second), Peer: peerA, Old: route.StateEstablished, New: route.StateIdle})
			check("session down")
			states(route.PeerState{Time: at.Add(2 * time.Second), Peer: peerA, Old: route.StateOpenConfirm, New: route.StateEstablished})
			check("session up")
			apply(route.Update{Time: at.Add(3 * time.Second), Peer: peerA, Prefix: mustPrefix("52.94.0.0/22"), Attrs: path(3333, 1299, 16509), Tags: tags})
			check("re-announcement in the new session")
			apply(route.Update{Time: at.Add(4 * time.Second), Peer: peerB, Prefix: mustPrefix("52.94.0.0/22"), Attrs: path(2914, 16509),
				Tags: []route.Tag{{Provider: "aws", Region: "us-east-2", Match: route.MatchEqual}}})
			check("stored tags")
			apply(route.Update{Time: at.Add(5 * time.Second), Peer: peerB, Prefix: mustPrefix("3.0.0.0/24"), Attrs: path(2914, 16509)})
			check("new prefix inside a covered page")
			apply(route.Update{Time: at.Add(6 * time.Second), Peer: peerC, Prefix: mustPrefix("2600:1f18::/36"), Withdraw: true})
			check("withdrawal")
			other := append(rangeMatcher{{mustPrefix("52.94.0.0/16"), route.Tag{Provider: "aws", Region: "eu-west-1"}}}, testMatcher...)
			m.cur.Store(&other)
			check("ranges refreshed")
			evs, _, err := st.Events(ctx, store.EventFilter{})
			if err != nil || len(evs) == 0 {
				t.Fatalf("events: %v %v", evs, err)
			}
			e := evs[0]
			e.Prefixes++
			e.End = nil
			if err := st.PutEvents(ctx, []route.Event{e}); err != nil {
				t.Fatal(err)
			}
			check("event updated")
			e.ID = "withdrawal-aws-us-east-1-20211215T170000Z"
			e.Start = e.Start.Add(time.Hour)
			if err := st.PutEvents(ctx, []route.Event{e}); err != nil {
				t.Fatal(err)
			}
			check("event added")
			if hits := testutil.ToFloat64(cached.m.respCache.WithLabelValues("hit")); hits == 0 {
				t.Error("no answer came from the response cache")
			}
		})
	}
}

func TestRespCacheBound(t *testing.T) {
	c := newRespCache(16 << 10) // entries up to 1 KiB
	body := make([]byte, 900)
	for i := range 100 {
		c.put(string(rune('a'+i%26))+string(rune('a'+i/26)), "fp", body)
	}
	if bytes, max, n := c.size(); bytes > max || n == 0 || max != 16<<10 {
		t.Fatalf("cache holds %d bytes in %d entries, bound %d", bytes, n, max)
	}
	c.put("big", "fp", make([]byte, 2<<10))
	if _, ok := c.get("big", "fp"); ok {
		t.Error("an entry above the per-entry bound was cached")
	}
	// Replacing one key over and over holds one entry's bytes.
	before, _, _ := c.size()
	for range 50 {
		c.put("same", "fp", body)
	}
	if after, _, _ := c.size(); after > before+entrySize("same", &cachedResp{fp: "fp", body: body}) {
		t.Errorf("replacing a key leaks: %d bytes after, %d before", after, before)
	}
	c.put("k", "fp1", body)
	if _, ok := c.get("k", "fp2"); ok {
		t.Error("served for another fingerprint")
	}
	if _, ok := c.get("k", "fp1"); !ok {
		t.Error("not served for its fingerprint")
	}
	if newRespCache(0) != nil {
		t.Error("a zero bound must disable the cache")
	}
}
