package alert

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"routewatch/route"
)

// TestRedirects: a generic sink whose URL redirects. 307/308 are followed
// with method, body and signature intact; 301/302/303 (which Go's client
// would turn into a bodyless GET answered 200) are failures that say the
// receiver moved, and nothing reaches the new location; loops are bounded.
func TestRedirects(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		hops      int // redirects before the receiver (0: redirect forever)
		delivered bool
		reason    string
	}{
		{name: "307 followed", status: http.StatusTemporaryRedirect, hops: 1, delivered: true},
		{name: "308 followed", status: http.StatusPermanentRedirect, hops: 1, delivered: true},
		{name: "two 307 hops followed", status: http.StatusTemporaryRedirect, hops: 2, delivered: true},
		{name: "301 refused", status: http.StatusMovedPermanently, hops: 1, reason: "the receiver moved (HTTP 301"},
		{name: "302 refused", status: http.StatusFound, hops: 1, reason: "the receiver moved (HTTP 302"},
		{name: "303 refused", status: http.StatusSeeOther, hops: 1, reason: "the receiver moved (HTTP 303"},
		{name: "307 loop bounded", status: http.StatusTemporaryRedirect, hops: 0, reason: "more than 3 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			rc := newReceiver(t, Generic, clock, nil)
			var redirects atomic.Int64
			var redir *httptest.Server
			redir = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := redirects.Add(1)
				to := rc.srv.URL + "/hook"
				if tt.hops == 0 || int(n)%tt.hops != 0 {
					to = redir.URL + r.URL.Path
				}
				http.Redirect(w, r, to, tt.status)
			}))
			t.Cleanup(redir.Close)
			var logs syncBuffer
			cfg := Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("g", Generic, redir.URL+"/old/SECRETTOKEN")}, Delivery: testDelivery()}
			a, err := New(cfg, newOutbox(), slog.New(slog.NewTextHandler(&logs, nil)), nil, WithClock(clock.Now), WithJitter(func() float64 { return 0.5 }))
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, fixtureEvent(1, route.KindPathShift))}); err != nil {
				t.Fatal(err)
			}
			run(t, a)
			outcome := "gave_up"
			if tt.delivered {
				outcome = "delivered"
			}
			pump(t, clock, outcome, func() bool { return counterValue(a.m.deliveries.WithLabelValues("g", outcome)) == 1 })
			reqs := rc.requests()
			switch {
			case tt.delivered && (len(reqs) != 1 || len(reqs[0].body) == 0):
				t.Fatalf("receiver got %d requests (want 1 with the body)", len(reqs))
			case !tt.delivered && len(reqs) != 0:
				t.Fatalf("receiver got %d requests through a refused redirect", len(reqs))
			}
			if !tt.delivered {
				if got := counterValue(a.m.attempts.WithLabelValues("g", "redirect")); got != 1 {
					t.Errorf("redirect attempts = %v, want 1 (no retries: the URL must be fixed)", got)
				}
				if out := logs.String(); !strings.Contains(out, tt.reason) {
					t.Errorf("log lacks %q:\n%s", tt.reason, out)
				}
			}
			if tt.hops == 0 && redirects.Load() != maxRedirects+1 {
				t.Errorf("followed %d redirects, want %d", redirects.Load(), maxRedirects+1)
			}
			if strings.Contains(logs.String(), "SECRETTOKEN") {
				t.Errorf("log leaks the webhook path:\n%s", logs.String())
			}
			rc.check() // method POST, content type and signature verified per request
		})
	}
}
