package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"routewatch/internal/testenv"
	"routewatch/route"
	"routewatch/store"
)

const (
	readToken  = "read-token-0123456789abcdef"
	adminToken = "admin-token-0123456789abcdef"
)

func tokenConfig() Config {
	c := testConfig()
	c.Tokens = []Token{{Name: "grafana", Token: readToken, Scope: ScopeRead}, {Name: "ops", Token: adminToken, Scope: ScopeAdmin}}
	return c
}

func importBody(t *testing.T, ids ...string) []byte {
	t.Helper()
	var evs []route.Event
	for i, id := range ids {
		evs = append(evs, route.Event{
			ID: id, Kind: route.KindWithdrawal, Provider: "gcp", Region: "europe-west1",
			Start: t0.Add(time.Duration(i) * time.Minute), Detected: t0.Add(time.Duration(i+1) * time.Minute),
			Prefixes: 5, Peers: 3, Summary: "imported",
		})
	}
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuth(t *testing.T) {
	v := newValidator(t)
	st := store.NewMemory(store.MemoryConfig{})
	loadFixture(t, st)
	h := testServer(t, st, tokenConfig()).Handler()
	open := testServer(t, store.NewMemory(store.MemoryConfig{}), testConfig()).Handler()
	tests := []struct {
		name    string
		h       http.Handler
		method  string
		target  string
		auth    string // full Authorization header
		body    []byte
		status  int
		wwwAuth bool
	}{
		{name: "no token", h: h, target: "/api/v1/events", status: 401, wwwAuth: true},
		{name: "wrong token", h: h, target: "/api/v1/events", auth: "Bearer read-token-0123456789abcdeX", status: 401, wwwAuth: true},
		{name: "wrong scheme", h: h, target: "/api/v1/events", auth: "Basic " + readToken, status: 401, wwwAuth: true},
		{name: "read token reads", h: h, target: "/api/v1/events", auth: "Bearer " + readToken, status: 200},
		{name: "scheme case-insensitive", h: h, target: "/api/v1/peers", auth: "bearer " + readToken, status: 200},
		{name: "admin token reads", h: h, target: "/api/v1/peers", auth: "Bearer " + adminToken, status: 200},
		{name: "read token cannot write", h: h, method: "POST", target: "/api/v1/events", auth: "Bearer " + readToken, body: importBody(t, "imp-1"), status: 403},
		{name: "admin token writes", h: h, method: "POST", target: "/api/v1/events", auth: "Bearer " + adminToken, body: importBody(t, "imp-1", "imp-2"), status: 200},
		{name: "imported event readable", h: h, target: "/api/v1/events/imp-2", auth: "Bearer " + readToken, status: 200},
		{name: "bad import body", h: h, method: "POST", target: "/api/v1/events", auth: "Bearer " + adminToken, body: []byte(`[{"id":"x","kind":"meteor"}]`), status: 400},
		{name: "unknown import field", h: h, method: "POST", target: "/api/v1/events", auth: "Bearer " + adminToken, body: []byte(`[{"idd":"x"}]`), status: 400},
		{name: "empty import", h: h, method: "POST", target: "/api/v1/events", auth: "Bearer " + adminToken, body: []byte(`[]`), status: 400},
		{name: "health needs no token", h: h, target: "/healthz", status: 200},
		{name: "openapi needs no token", h: h, target: "/api/v1/openapi.json", status: 200},
		{name: "no tokens: reads open", h: open, target: "/api/v1/events", status: 200},
		{name: "no tokens: writes refused", h: open, method: "POST", target: "/api/v1/events", body: importBody(t, "imp-3"), status: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(methodOr(tc.method), tc.target, bytes.NewReader(tc.body))
			if tc.body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate") != ""; got != tc.wwwAuth {
				t.Errorf("WWW-Authenticate present=%v, want %v", got, tc.wwwAuth)
			}
			vreq := httptest.NewRequest(methodOr(tc.method), tc.target, bytes.NewReader(tc.body))
			vreq.Header = req.Header.Clone()
			v.check(t, vreq, rec.Code, rec.Header(), rec.Body.Bytes())
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // substring of the error, "" for valid
	}{
		{name: "default", edit: func(*Config) {}},
		{name: "tokens", edit: func(c *Config) { *c = tokenConfig() }},
		{name: "short token", edit: func(c *Config) { c.Tokens = []Token{{Name: "a", Token: "short", Scope: ScopeRead}} }, want: "shorter than 16"},
		{name: "bad scope", edit: func(c *Config) { c.Tokens = []Token{{Name: "a", Token: readToken, Scope: "root"}} }, want: "not read or admin"},
		{name: "duplicate secret", edit: func(c *Config) {
			c.Tokens = []Token{{Name: "a", Token: readToken, Scope: ScopeRead}, {Name: "b", Token: readToken, Scope: ScopeAdmin}}
		}, want: "duplicate secret"},
		{name: "bad proxy", edit: func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/33"} }, want: "trusted_proxies[0]"},
		{name: "proxy host", edit: func(c *Config) { c.TrustedProxies = []string{"10.0.0.1", "fd00::/8"} }},
		{name: "bad origin", edit: func(c *Config) { c.CORS.AllowOrigins = []string{"example.com"} }, want: "cors.allow_origins[0]"},
		{name: "zero timeout", edit: func(c *Config) { c.WriteTimeout = 0 }, want: "write_timeout"},
		{name: "bad listen", edit: func(c *Config) { c.Listen = "8080" }, want: "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// serveFrom sends a request as if from remote address ip, with an optional
// X-Forwarded-For header.
func serveFrom(h http.Handler, ip, xff string) int {
	req := httptest.NewRequest("GET", "/api/v1/peers", nil)
	req.RemoteAddr = net.JoinHostPort(ip, "40000")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestRateLimit(t *testing.T) {
	st := store.NewMemory(store.MemoryConfig{})
	t.Run("direct peer address, X-Forwarded-For ignored", func(t *testing.T) {
		c := testConfig()
		// A rate this low cannot refill during the test.
		c.RateLimit = RateLimit{RequestsPerSecond: 0.001, Burst: 2}
		reg := prometheus.NewRegistry()
		s, err := New(c, st, nil, reg, nil, reg)
		if err != nil {
			t.Fatal(err)
		}
		h := s.Handler()
		// Spoofed X-Forwarded-For values must not buy a fresh bucket.
		for i, want := range []int{200, 200, 429, 429} {
			if got := serveFrom(h, "192.0.2.10", fmt.Sprintf("203.0.113.%d", i)); got != want {
				t.Fatalf("request %d: status %d, want %d", i, got, want)
			}
		}
		if got := serveFrom(h, "192.0.2.11", ""); got != 200 {
			t.Errorf("other client: status %d, want 200", got)
		}
		// IPv6 clients share a bucket per /64.
		for i, want := range []int{200, 200, 429} {
			if got := serveFrom(h, fmt.Sprintf("2001:db8:1:2::%d", i+1), ""); got != want {
				t.Errorf("IPv6 request %d: status %d, want %d", i, got, want)
			}
		}
		if got := serveFrom(h, "2001:db8:1:3::1", ""); got != 200 {
			t.Errorf("other /64: status %d, want 200", got)
		}
		// Probes are not rate limited.
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.RemoteAddr = "192.0.2.10:1"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("/healthz: status %d", rec.Code)
		}
		if n := counterValue(t, reg, "routewatch_api_rate_limited_total"); n != 3 {
			t.Errorf("rate limited counter %v, want 3", n)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		c := testConfig()
		c.RateLimit = RateLimit{RequestsPerSecond: 0.001, Burst: 1}
		c.TrustedProxies = []string{"10.1.0.0/16"}
		s, err := New(c, st, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := s.Handler()
		// Through the trusted proxy each client has its own bucket.
		for _, tc := range []struct {
			remote, xff string
			want        int
		}{
			{"10.1.2.3", "198.51.100.1", 200},
			{"10.1.2.3", "198.51.100.2", 200},
			{"10.1.2.3", "198.51.100.1", 429},
			// An untrusted sender's header is ignored: keyed by its address.
			{"192.0.2.99", "198.51.100.3", 200},
			{"192.0.2.99", "198.51.100.4", 429},
			// Private addresses are not trusted implicitly (Echo's default).
			{"192.168.1.1", "198.51.100.5", 200},
			{"192.168.1.1", "198.51.100.6", 429},
		} {
			if got := serveFrom(h, tc.remote, tc.xff); got != tc.want {
				t.Errorf("from %s xff %s: status %d, want %d", tc.remote, tc.xff, got, tc.want)
			}
		}
	})
}

func TestBodyLimitAndCORS(t *testing.T) {
	st := store.NewMemory(store.MemoryConfig{})
	c := tokenConfig()
	c.BodyLimit = 512
	s, err := New(c, st, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := importBody(t, "a1", "a2", "a3", "a4", "a5", "a6")
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			var body io.Reader = bytes.NewReader(big)
			if chunked {
				body = io.MultiReader(bytes.NewReader(big)) // unknown length
			}
			req := httptest.NewRequest("POST", "/api/v1/events", body)
			if chunked {
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+adminToken)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413: %s", rec.Code, rec.Body)
			}
		})
	}
	t.Run("cors off by default", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header.Set("Origin", "https://evil.example")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if v := rec.Header().Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Access-Control-Allow-Origin %q without CORS configured", v)
		}
	})
	t.Run("cors configured", func(t *testing.T) {
		c := testConfig()
		c.CORS.AllowOrigins = []string{"https://grafana.example"}
		s, err := New(c, st, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for origin, want := range map[string]string{"https://grafana.example": "https://grafana.example", "https://evil.example": ""} {
			req := httptest.NewRequest("GET", "/api/v1/peers", nil)
			req.Header.Set("Origin", origin)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("origin %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
			}
		}
	})
}

// failingStore is the memory store with a broken Ping: readiness must
// report it without failing liveness.
type failingStore struct{ *store.Memory }

func (failingStore) Ping(context.Context) error { return errors.New("connection refused") }

func TestReadinessAndMetrics(t *testing.T) {
	v := newValidator(t)
	reg := prometheus.NewRegistry()
	s, err := New(testConfig(), failingStore{store.NewMemory(store.MemoryConfig{})}, nil, reg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.AddReadyCheck("collector", func(context.Context) error { return nil })
	h := s.Handler()
	res := do(t, v, h, "GET", "/readyz", "", nil)
	if res.status != 503 || !strings.Contains(string(res.body), "connection refused") || !strings.Contains(string(res.body), `"collector":"ok"`) {
		t.Errorf("readyz: %d %s", res.status, res.body)
	}
	if res := do(t, v, h, "GET", "/healthz", "", nil); res.status != 200 {
		t.Errorf("healthz: %d", res.status)
	}
	do(t, v, h, "GET", "/api/v1/asns/AS1/prefixes", "", nil)
	res = do(t, v, h, "GET", "/api/v1/openapi.json", "", nil)
	if !bytes.Equal(res.body, openAPIDoc) {
		t.Error("openapi.json not served verbatim")
	}
	res = do(t, v, h, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`routewatch_api_requests_total{code="400",method="GET",route="/api/v1/asns/:asn/prefixes"} 1`,
		`routewatch_api_bad_requests_total{parameter="asn"} 1`,
		`routewatch_api_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(string(res.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The route label is the template, never the raw path.
	if strings.Contains(string(res.body), "AS1") {
		t.Error("raw path leaked into metric labels")
	}
	// Registering twice on one registry is an error, not a panic.
	if _, err := New(testConfig(), store.NewMemory(store.MemoryConfig{}), nil, reg, nil, reg); err == nil {
		t.Error("second New on the same registry succeeded")
	}
}

// TestRun serves over real TCP on loopback and shuts down on cancel.
func TestRun(t *testing.T) {
	c := testConfig()
	c.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	s, err := New(c, store.NewMemory(store.MemoryConfig{}), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var res *http.Response
	for i := 0; i < 100; i++ {
		res, err = http.Get("http://" + c.Listen + "/healthz")
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("status %d headers %v", res.StatusCode, res.Header)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// A second server on the same address fails with a clear error.
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "api: listen") {
		t.Errorf("Run on a busy port: %v", err)
	}
}

func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestConfigYAML checks the yaml tags the serve config is composed from,
// decoded strictly as `routewatch serve` does.
func TestConfigYAML(t *testing.T) {
	const doc = `
listen: 127.0.0.1:9090
tokens:
  - {name: grafana, token: read-token-0123456789abcdef, scope: read}
  - {name: ops, token: admin-token-0123456789abcdef, scope: admin}
rate_limit: {requests_per_second: 20, burst: 40}
trusted_proxies: [10.0.0.0/8, "2001:db8::1"]
cors: {allow_origins: ["https://grafana.example"]}
body_limit: 65536
read_header_timeout: 2s
read_timeout: 5s
write_timeout: 15s
idle_timeout: 1m
request_timeout: 3s
shutdown_timeout: 4s
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.IdleTimeout != time.Minute || c.RateLimit.Burst != 40 || len(c.Tokens) != 2 || c.Tokens[1].Scope != ScopeAdmin || c.BodyLimit != 65536 {
		t.Errorf("decoded %+v", c)
	}
	if _, err := New(c, store.NewMemory(store.MemoryConfig{}), nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
}
