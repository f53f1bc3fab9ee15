// Package api serves routewatch's REST API with Echo v4: current routes and
// history of watched prefixes, events, providers, peers and ASNs, plus
// /healthz, /readyz, /metrics and the OpenAPI document. Echo types never
// leave this package: callers get an http.Handler or Run(ctx).
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"routewatch/route"
	"routewatch/store"
)

// Store is the store roles the API uses: it reads routes, events, peers
// and groups, and writes events for the admin event import.
type Store interface {
	store.RouteReader
	store.EventReader
	store.EventWriter
	store.PeerReader
	store.GroupReader
	store.Pinger
}

// Matcher tags a prefix with the provider ranges it matches (ranges.Set).
type Matcher interface {
	Match(p netip.Prefix) []route.Tag
}

// Validator is RPKI route origin validation with the VRPs in force
// (rpki.Table; a nil *rpki.Table answers route.ROVNone). Fingerprint
// identifies the VRPs, so a cached answer built with others is not served.
type Validator interface {
	ValidatePath(p netip.Prefix, path route.ASPath) route.ROVState
	Fingerprint() string
}

// Option configures optional parts of the server.
type Option func(*Server)

// WithValidator makes route views carry their RPKI state ("rpki"),
// validated at read time with the table v returns (called per request, so
// a VRP refresh takes effect at once). v may return nil: no VRPs.
func WithValidator(v func() Validator) Option { return func(s *Server) { s.validator = v } }

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the embedded OpenAPI 3 document served at
// /api/v1/openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

type tokenEntry struct {
	name  string
	hash  [32]byte
	scope Scope
}

type readyCheck struct {
	name string
	fn   func(context.Context) error
}

// Server is the API server.
type Server struct {
	cfg     Config
	st      Store
	matcher Matcher
	// validator (nil: none) gives the VRPs in force.
	validator func() Validator
	logger    *slog.Logger
	m         *metrics
	e         *echo.Echo
	tokens    []tokenEntry
	// now is the wall clock (uptime); tests pin it.
	now func() time.Time

	// rc keeps encoded GET /prefixes answers; nil: off.
	rc *respCache

	mu     sync.Mutex
	checks []readyCheck

	// The SSE stream (stream.go): hub fans out, changeLog (nil when the
	// store has none) numbers and resumes.
	hub       *hub
	stream    *streamMetrics
	changeLog ChangeLog
	heartbeat time.Duration
	logPoll   time.Duration
	closing   chan struct{} // closed when shutdown begins
	closeOnce sync.Once
}

// New builds the server. matcher may be nil (tags then come from the store
// only); gatherer may be nil (no /metrics); reg nil registers no metrics.
func New(cfg Config, st Store, matcher Matcher, gatherer prometheus.Gatherer, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("api: new: nil store")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, st: st, matcher: matcher, logger: logger, m: m, now: time.Now, rc: newRespCache(cfg.ResponseCache), heartbeat: defaultHeartbeat, logPoll: defaultLogPoll, closing: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.stream, err = newStreamMetrics(reg); err != nil {
		return nil, err
	}
	s.changeLog, _ = st.(ChangeLog)
	s.hub = newHub(s.changeLog, s.stream, logger)
	for _, t := range cfg.Tokens {
		s.tokens = append(s.tokens, tokenEntry{name: t.Name, hash: sha256.Sum256([]byte(t.Token)), scope: t.Scope})
	}
	if len(s.tokens) == 0 {
		logger.Warn("api: no tokens configured: read endpoints are open, admin endpoints are disabled")
	}
	s.e = s.newEcho()
	s.routes(gatherer)
	return s, nil
}

// newEcho is the Echo instance with the middleware every route passes.
func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Logger.SetOutput(io.Discard)
	e.IPExtractor = s.ipExtractor()
	e.HTTPErrorHandler = s.handleError
	e.Pre(escapedPath)
	e.Use(s.observe, s.headers, s.bodyLimit)
	if len(s.cfg.CORS.AllowOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins: s.cfg.CORS.AllowOrigins,
			AllowMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost},
			AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType},
			MaxAge:       600,
		}))
	}
	if s.cfg.RateLimit.RequestsPerSecond > 0 {
		e.Use(s.rateLimiter())
	}
	return e
}

// ipExtractor is where the client address comes from. Echo's default
// RealIP believes X-Forwarded-For from anyone; only configured proxies may
// speak for the client.
func (s *Server) ipExtractor() echo.IPExtractor {
	if len(s.cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	prefixes, _ := s.cfg.trustedPrefixes() // validated in New
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range prefixes {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// rateLimiter limits the API's requests per client (clientKey).
func (s *Server) rateLimiter() echo.MiddlewareFunc {
	rl := s.cfg.RateLimit
	burst := rl.Burst
	if burst == 0 {
		burst = int(math.Ceil(rl.RequestsPerSecond))
	}
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		// Probes and scrapes are not rate limited: only the API.
		Skipper: func(c echo.Context) bool { return !strings.HasPrefix(c.Request().URL.Path, "/api/") },
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(rl.RequestsPerSecond), Burst: burst, ExpiresIn: 3 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return clientKey(c.RealIP()), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			s.m.rateLimited.Inc()
			c.Response().Header().Set("Retry-After", "1")
			return &Error{Status: http.StatusTooManyRequests, Message: "rate limit exceeded"}
		},
	})
}

// router is what addGET registers on: the Echo instance or a group.
type router interface {
	GET(string, echo.HandlerFunc, ...echo.MiddlewareFunc) *echo.Route
	HEAD(string, echo.HandlerFunc, ...echo.MiddlewareFunc) *echo.Route
}

// addGET registers a GET route; every GET route answers HEAD too (load
// balancers, uptime checks).
func addGET(g router, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	g.GET(path, h, m...)
	g.HEAD(path, h, m...)
}

// routes registers every route on s.e.
func (s *Server) routes(gatherer prometheus.Gatherer) {
	e := s.e
	addGET(e, "/healthz", s.healthz)
	addGET(e, "/readyz", s.readyz)
	if gatherer != nil {
		addGET(e, "/metrics", echo.WrapHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
			ErrorHandling: promhttp.ContinueOnError,
			ErrorLog:      slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		})))
	}
	addGET(e, "/api/v1/openapi.json", s.openapi)

	read, admin := s.requireScope(ScopeRead), s.requireScope(ScopeAdmin)
	v1 := e.Group("/api/v1")
	// A prefix contains a slash: /prefixes/192.0.2.0/24 is the natural
	// form; /prefixes/192.0.2.0%2F24 (one escaped segment) works too.
	addGET(v1, "/prefixes/:addr/:len", s.getPrefix, read)
	addGET(v1, "/prefixes/:addr", s.getPrefix, read)
	addGET(v1, "/prefixes/:addr/:len/history", s.getHistory, read)
	addGET(v1, "/prefixes/:addr/history", s.getHistory, read)
	addGET(v1, "/events", s.getEvents, read)
	v1.POST("/events", s.postEvents, admin)
	addGET(v1, "/events/:id", s.getEvent, read)
	addGET(v1, "/incidents", s.getIncidents, read)
	addGET(v1, "/providers", s.getProviders, read)
	addGET(v1, "/providers/:provider/regions/:region", s.getRegion, read)
	addGET(v1, "/peers", s.getPeers, read)
	addGET(v1, "/routers", s.getRouters, read)
	addGET(v1, "/asns/:asn/prefixes", s.getASNPrefixes, read)
	v1.GET("/stream", s.getStream, read) // a stream: HEAD would hold the connection
	addGET(v1, "/events/:id/series", s.getSeries, read)
	s.routeUI(e)
	// Request series exist from startup: 0 GET 200 answers per route.
	for _, r := range e.Routes() {
		if r.Method == http.MethodGet {
			s.m.requests.WithLabelValues(r.Path, r.Method, "200")
			s.m.duration.WithLabelValues(r.Path)
		}
	}
}

// clientKey is the rate-limit bucket of a client address: the address
// itself for IPv4, its /64 for IPv6 (one host usually owns a whole /64
// and could otherwise rotate through fresh buckets).
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// AddReadyCheck adds a readiness condition reported by /readyz next to
// the store ping (e.g. "collector": every configured session is up). Call
// it while wiring, before serving.
func (s *Server) AddReadyCheck(name string, fn func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, readyCheck{name: name, fn: fn})
}

// Handler returns the API as an http.Handler (for tests or embedding in
// another server).
func (s *Server) Handler() http.Handler { return s.e }

// Run listens on cfg.Listen and serves until ctx is done, then shuts down
// gracefully within cfg.ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener, which it closes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	s.logger.Info("api: listening", "addr", ln.Addr().String())
	go s.hub.run(ctx)
	// Open SSE streams end when shutdown begins, not at its deadline.
	srv.RegisterOnShutdown(func() { s.closeOnce.Do(func() { close(s.closing) }) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// observe records metrics, recovers panics and logs failures.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				err = &Error{Status: http.StatusInternalServerError, Message: "internal error", Err: fmt.Errorf("api: panic: %v", r)}
			}
			if err != nil {
				// Render now so the status code below is the real one.
				s.handleError(err, c)
				err = nil
			}
			path := c.Path()
			if path == "" || c.Response().Status == http.StatusNotFound && path == "/*" {
				path = "unmatched"
			}
			method := c.Request().Method
			switch method {
			case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
			default:
				method = "other" // clients must not create series at will
			}
			s.m.requests.WithLabelValues(path, method, strconv.Itoa(c.Response().Status)).Inc()
			s.m.duration.WithLabelValues(path).Observe(time.Since(start).Seconds())
		}()
		return next(c)
	}
}

// escapedPath makes Echo always route on the escaped path. Echo uses
// URL.RawPath only when it is set, which net/url does only when the
// escaping is not the default one; without this, a parameter would arrive
// escaped for some requests and unescaped for others, and the handlers'
// single unescape would decode %252F twice.
func escapedPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		u.RawPath = u.EscapedPath()
		return next(c)
	}
}

// headers sets response headers every answer gets.
func (s *Server) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// bodyLimit refuses bodies over cfg.BodyLimit: by Content-Length up
// front, and by counting for chunked bodies.
func (s *Server) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.cfg.BodyLimit {
			return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", s.cfg.BodyLimit), Parameter: "body"}
		}
		if req.Body != nil {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, s.cfg.BodyLimit)
		}
		return next(c)
	}
}

// requireScope checks the bearer token. Every configured token is compared
// (in constant time, over SHA-256 digests so lengths do not leak) before
// deciding, so timing does not reveal which token nearly matched.
func (s *Server) requireScope(need Scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if len(s.tokens) == 0 {
				if need == ScopeRead {
					return next(c)
				}
				s.m.authFailed.WithLabelValues("scope").Inc()
				return &Error{Status: http.StatusForbidden, Message: "admin endpoints are disabled: no admin token configured"}
			}
			auth := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, tok, ok := strings.Cut(auth, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
				s.m.authFailed.WithLabelValues("missing").Inc()
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="routewatch"`)
				return &Error{Status: http.StatusUnauthorized, Message: "missing bearer token"}
			}
			h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			var found *tokenEntry
			for i := range s.tokens {
				if subtle.ConstantTimeCompare(h[:], s.tokens[i].hash[:]) == 1 {
					found = &s.tokens[i]
				}
			}
			if found == nil {
				s.m.authFailed.WithLabelValues("invalid").Inc()
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="routewatch", error="invalid_token"`)
				return &Error{Status: http.StatusUnauthorized, Message: "invalid bearer token"}
			}
			if need == ScopeAdmin && found.scope != ScopeAdmin {
				s.m.authFailed.WithLabelValues("scope").Inc()
				return &Error{Status: http.StatusForbidden, Message: "admin scope required"}
			}
			return next(c)
		}
	}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeJSON encodes v into a pooled buffer and writes it in one piece with
// a Content-Length (no chunked encoding, one write syscall for typical
// answers).
func writeJSON(c echo.Context, code int, v any) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 { // do not pin huge buffers
			bufPool.Put(buf)
		}
	}()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return fmt.Errorf("api: encode response: %w", err)
	}
	return writeBody(c, code, buf.Bytes())
}

// encodeJSON encodes v as writeJSON does, into a new slice.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, fmt.Errorf("api: encode response: %w", err)
	}
	return buf.Bytes(), nil
}

// writeBody sends an encoded JSON answer.
func writeBody(c echo.Context, code int, body []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	c.Response().WriteHeader(code)
	_, err := c.Response().Write(body)
	return err
}

// handleError renders every error as {"error": ..., "parameter": ...}.
// Store and internal failures are logged and never described to the
// client; malformed input always maps to 4xx.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *Error
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrBadCursor):
		ae = badParam("cursor", "invalid cursor")
	case errors.Is(err, store.ErrNotFound):
		ae = &Error{Status: http.StatusNotFound, Message: "not found"}
	case errors.As(err, &mbe):
		ae = &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", s.cfg.BodyLimit), Parameter: "body"}
	case errors.As(err, &he):
		msg := strings.ToLower(http.StatusText(he.Code))
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			msg = strings.ToLower(m)
		}
		ae = &Error{Status: he.Code, Message: msg}
	case errors.Is(err, context.DeadlineExceeded):
		ae = &Error{Status: http.StatusServiceUnavailable, Message: "store timed out", Err: err}
	default:
		ae = &Error{Status: http.StatusInternalServerError, Message: "internal error", Err: err}
	}
	switch {
	case ae.Status >= 500:
		s.logger.Error("api: request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "status", ae.Status, "err", err)
	case ae.Status == http.StatusBadRequest:
		s.m.badRequest(ae.Parameter)
	}
	if c.Request().Method == http.MethodHead {
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		_ = c.NoContent(ae.Status)
		return
	}
	if werr := writeJSON(c, ae.Status, ae); werr != nil {
		s.logger.Debug("api: write error response", "err", werr)
	}
}

func (s *Server) healthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

type readyView struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz is ready when the store answers and every added check passes.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	s.mu.Lock()
	checks := append([]readyCheck{{name: "store", fn: s.st.Ping}}, s.checks...)
	s.mu.Unlock()
	v := readyView{Status: "ready", Checks: map[string]string{}}
	for _, ch := range checks {
		if err := ch.fn(ctx); err != nil {
			v.Status = "not ready"
			v.Checks[ch.name] = err.Error()
			continue
		}
		v.Checks[ch.name] = "ok"
	}
	if v.Status != "ready" {
		return writeJSON(c, http.StatusServiceUnavailable, v)
	}
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}
