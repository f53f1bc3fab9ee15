package api

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"

	"routewatch/store"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// fixtureStore is what a test backend offers: the API's Store plus the
// writers the fixture loader uses.
type fixtureStore interface {
	store.Store
}

type backend struct {
	name string
	open func(t *testing.T) fixtureStore
}

func backends() []backend {
	return []backend{
		{"memory", func(t *testing.T) fixtureStore { return store.NewMemory(store.MemoryConfig{}) }},
		{"redis", openRedis},
	}
}

// testServer builds a server over a fixture-loaded store, with the clock
// pinned so golden uptimes are stable.
func testServer(t *testing.T, st Store, cfg Config) *Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, st, testMatcher, reg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return testNow }
	return s
}

// openAPIValidator checks responses (and, for successful calls, requests)
// against the embedded document.
type openAPIValidator struct {
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	covered map[string]bool // operationId -> a response was validated
}

func newValidator(t testing.TB) *openAPIValidator {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDoc)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &openAPIValidator{doc: doc, router: r, covered: map[string]bool{}}
}

func (v *openAPIValidator) check(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	rt, params, err := v.router.FindRoute(req)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return // not an API route: nothing to validate against
		}
		t.Fatalf("%s %s: not in openapi.json: %v", req.Method, req.URL, err)
	}
	ctx := context.Background()
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: rt, Options: opts}
	if status < 300 {
		// A request the server accepted must be one the document allows.
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s %s: request not allowed by openapi.json: %v", req.Method, req.URL, err)
		}
	}
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts,
	})
	if err != nil {
		t.Errorf("%s %s: response %d does not match openapi.json: %v\n%s", req.Method, req.URL, status, err, body)
	}
	v.mu.Lock()
	v.covered[rt.Operation.OperationID] = true
	v.mu.Unlock()
}

func (v *openAPIValidator) uncovered() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, pi := range v.doc.Paths.Map() {
		for _, op := range pi.Operations() {
			if !v.covered[op.OperationID] {
				out = append(out, op.OperationID)
			}
		}
	}
	slices.Sort(out)
	return out
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do serves one request in process and validates the answer.
func do(t testing.TB, v *openAPIValidator, h http.Handler, method, target, token string, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if v != nil && strings.HasPrefix(req.URL.Path, "/") && req.URL.Path != "/metrics" {
		vreq := httptest.NewRequest(method, target, bytes.NewReader(body))
		vreq.Header = req.Header.Clone()
		v.check(t, vreq, res.status, res.header, res.body)
	}
	return res
}

// golden compares an indented JSON body with testdata/golden/name.json.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, body)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./api -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("response differs from %s:\n--- got\n%s\n--- want\n%s", path, buf.Bytes(), want)
	}
}
