package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"routewatch/route"
	"routewatch/store"
)

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBodyClientFaults sends raw HTTP/1.1 to a listening server: a body
// that stalls past the read timeout answers 408 and a malformed chunked
// body 400, both as JSON errors, with nothing logged at ERROR.
func TestBodyClientFaults(t *testing.T) {
	var logs lockedLog
	cfg := tokenConfig()
	cfg.ReadTimeout = 300 * time.Millisecond // the stalled body waits this long
	s, err := New(cfg, store.NewMemory(store.MemoryConfig{}), nil, nil, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	head := "POST /api/v1/events HTTP/1.1\r\nHost: routewatch\r\nAuthorization: Bearer " + adminToken + "\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"stalled body", head + "Content-Length: 4000\r\n\r\n[{\"id\":", http.StatusRequestTimeout},
		{"bad chunk length", head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n[]\r\n0\r\n\r\n", http.StatusBadRequest},
		{"chunk longer than said", head + "Transfer-Encoding: chunked\r\n\r\n2\r\n[]]]]\r\n0\r\n\r\n", http.StatusBadRequest},
		{"body cut short", head + "Content-Length: 4000\r\n\r\n[", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.raw); err != nil {
				t.Fatal(err)
			}
			if tt.name == "body cut short" {
				conn.(*net.TCPConn).CloseWrite()
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second)) // bounds a hung test only
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Error     string `json:"error"`
				Parameter string `json:"parameter"`
			}
			if resp.StatusCode != tt.status || json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Fatalf("status %d body %q, want %d with a JSON error", resp.StatusCode, body, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("content type %q", ct)
			}
		})
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") {
		t.Errorf("client faults logged as errors:\n%s", out)
	}
}

func ndjson(t *testing.T, evs []route.Event) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, e := range evs {
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestImportFormats: POST /api/v1/events takes an array or NDJSON (what
// replay --format json prints), up to the documented 1,000 events within
// the default body limit; errors name JSON fields and kinds, never Go
// types, and are not cut off.
func TestImportFormats(t *testing.T) {
	var arr []route.Event
	if err := json.Unmarshal(importBody(t, "n1", "n2", "n3"), &arr); err != nil {
		t.Fatal(err)
	}
	thousand := make([]route.Event, maxImport)
	for i := range thousand {
		thousand[i] = bigEvent(i)
	}
	tests := []struct {
		name    string
		ct      string
		body    []byte
		status  int
		stored  int
		message string // must be contained in the error
	}{
		{name: "array", ct: "application/json", body: importBody(t, "a1", "a2"), status: 200, stored: 2},
		{name: "ndjson", ct: "application/x-ndjson", body: ndjson(t, arr), status: 200, stored: 3},
		{name: "ndjson without final newline", ct: "application/x-ndjson", body: bytes.TrimSpace(ndjson(t, arr)), status: 200, stored: 3},
		{name: "ndjson sent as json", ct: "application/json; charset=utf-8", body: ndjson(t, arr), status: 200, stored: 3},
		{name: "1000 events fit the default limit", ct: "application/x-ndjson", body: ndjson(t, thousand), status: 200, stored: maxImport},
		{name: "1001 events", ct: "application/x-ndjson", body: ndjson(t, append(thousand, bigEvent(maxImport))), status: 400, message: "more than 1000 events"},
		{name: "wrong type", ct: "application/json", body: []byte(`[{"id":"x","kind":"withdrawal","prefixes":"many"}]`), status: 400, message: "events[0]: prefixes: want an integer, got string"},
		{name: "wrong nested type", ct: "application/x-ndjson", body: []byte(`{"id":"x","kind":"withdrawal","start":"2021-12-15T15:14:03Z"}` + "\n" + `{"id":"y","transitions":[{"prefixes":true}]}`), status: 400, message: "events[1]: transitions.prefixes: want an integer, got bool"},
		{name: "bad time", ct: "application/json", body: []byte(`[{"id":"x","start":"yesterday"}]`), status: 400, message: `events[0]: "yesterday" is not an RFC 3339 time`},
		{name: "bad prefix", ct: "application/json", body: []byte(`[{"id":"x","sample_prefixes":["10.0.0.0"]}]`), status: 400, message: "events[0]: not a prefix"},
		{name: "unknown field", ct: "application/json", body: []byte(`[{"id":"x","colour":"red"}]`), status: 400, message: `events[0]: unknown field "colour"`},
		{name: "syntax", ct: "application/json", body: []byte(`[{"id":"x",}]`), status: 400, message: "invalid JSON at byte"},
		{name: "cut short", ct: "application/json", body: []byte(`[{"id":"x"`), status: 400, message: "cut short"},
		{name: "trailing data", ct: "application/json", body: []byte(`[] []`), status: 400, message: "trailing data"},
		{name: "empty", ct: "application/json", body: nil, status: 400, message: "no events"},
		{name: "other type", ct: "text/plain", body: []byte(`[]`), status: 415, message: "application/x-ndjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testServer(t, store.NewMemory(store.MemoryConfig{}), tokenConfig())
			req := httptest.NewRequest("POST", "/api/v1/events", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ct)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			var got struct {
				Stored int    `json:"stored"`
				Error  string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Stored != tt.stored || !strings.Contains(got.Error, tt.message) {
				t.Errorf("answer %s, want stored %d and error containing %q", rec.Body, tt.stored, tt.message)
			}
			for _, goType := range []string{"Go ", "route.", "time.Time", "int64", "netip", "struct"} {
				if strings.Contains(got.Error, goType) {
					t.Errorf("error exposes Go type names (%q): %s", goType, got.Error)
				}
			}
		})
	}
}

// bigEvent is an event as large as the analyzer makes them: sample
// prefixes, affected peers and transitions filled.
func bigEvent(i int) route.Event {
	start := time.Date(2021, 12, 15, 15, 14, 3, 0, time.UTC).Add(time.Duration(i) * time.Second)
	e := route.Event{ID: fmt.Sprintf("big-%04d", i), Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2",
		Start: start, Detected: start.Add(time.Minute), Prefixes: 87, Peers: 8,
		Summary: "aws us-west-2: 87 prefixes moved from AS3356 to AS2914 at 8 peers"}
	for j := range 10 {
		e.SamplePrefixes = append(e.SamplePrefixes, netip.MustParsePrefix(fmt.Sprintf("54.%d.%d.0/24", 200+j, i%256)))
		e.AffectedPeers = append(e.AffectedPeers, route.Peer{Addr: netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", j+1)), ASN: uint32(64500 + j)})
	}
	e.Transitions = []route.Transition{{FromUpstream: 3356, ToUpstream: 2914, Prefixes: 40}, {FromUpstream: 1299, ToUpstream: 2914, Prefixes: 47}}
	return e
}

// TestHeadEveryGet: every GET route answers HEAD with the GET's status and
// headers and no body.
func TestHeadEveryGet(t *testing.T) {
	st := store.NewMemory(store.MemoryConfig{})
	loadFixture(t, st)
	s := testServer(t, st, testConfig())
	heads := map[string]bool{}
	for _, r := range s.e.Routes() {
		if r.Method == http.MethodHead {
			heads[r.Path] = true
		}
	}
	for _, r := range s.e.Routes() {
		// The SSE stream is GET only: HEAD would hold the connection.
		if r.Path == "/api/v1/stream" {
			continue
		}
		if r.Method == http.MethodGet && !heads[r.Path] {
			t.Errorf("GET %s has no HEAD", r.Path)
		}
	}
	for _, target := range []string{"/healthz", "/metrics", "/api/v1/openapi.json", "/api/v1/events", "/api/v1/providers", "/api/v1/peers", "/api/v1/events/nope"} {
		t.Run(target, func(t *testing.T) {
			get := httptest.NewRecorder()
			s.Handler().ServeHTTP(get, httptest.NewRequest("GET", target, nil))
			head := httptest.NewRecorder()
			s.Handler().ServeHTTP(head, httptest.NewRequest("HEAD", target, nil))
			if head.Code != get.Code || head.Header().Get("Content-Type") != get.Header().Get("Content-Type") {
				t.Errorf("HEAD %d %q, GET %d %q", head.Code, head.Header().Get("Content-Type"), get.Code, get.Header().Get("Content-Type"))
			}
		})
	}
}

// TestTimesAndCursors: a time before history is valid input answered
// "history does not reach back", and a cursor that is not one gives
// "invalid cursor".
func TestTimesAndCursors(t *testing.T) {
	st := store.NewMemory(store.MemoryConfig{})
	loadFixture(t, st)
	s := testServer(t, st, testConfig())
	tests := []struct {
		target string
		status int
		msg    string
	}{
		{"/api/v1/prefixes/52.94.0.0/22?at=0001-01-01T00:00:00Z", 404, "history does not reach back to 0001-01-01T00:00:00Z"},
		{"/api/v1/events?from=0001-01-01T00:00:00Z", 200, ""},
		{"/api/v1/events?to=1969-12-31T23:59:59Z", 200, `"events":[]`},
		{"/api/v1/events?from=yesterday", 400, "not an RFC 3339 time"},
		{"/api/v1/events?cursor=garbage!!", 400, "invalid cursor"},
		{"/api/v1/events?cursor=" + encodeCursor("peers", "x"), 400, "invalid cursor"},
		{"/api/v1/peers?cursor=Z2FyYmFnZQ", 400, "invalid cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", tt.target, nil))
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.msg) {
				t.Errorf("%d %s, want %d containing %q", rec.Code, rec.Body, tt.status, tt.msg)
			}
		})
	}
}
