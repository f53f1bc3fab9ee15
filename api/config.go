package api

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Scope is what a token may do: read anything, or also change state.
type Scope string

// Token scopes. Admin implies read.
const (
	ScopeRead  Scope = "read"
	ScopeAdmin Scope = "admin"
)

// Token is one bearer token from the configuration.
type Token struct {
	// Name identifies the token in logs; the secret itself is never logged.
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
	Scope Scope  `yaml:"scope"`
}

// RateLimit limits requests per client IP with a token bucket.
type RateLimit struct {
	// RequestsPerSecond is the sustained rate per client IP; 0 disables
	// rate limiting.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Burst is the bucket size (default: the rate rounded up).
	Burst int `yaml:"burst"`
}

// CORS enables cross-origin requests from the listed origins. Empty (the
// default) sends no CORS headers at all.
type CORS struct {
	AllowOrigins []string `yaml:"allow_origins"`
}

// Config configures the API server.
type Config struct {
	// Listen is the TCP address to serve on, e.g. "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// Tokens are the accepted bearer tokens. With none configured, read
	// endpoints are open and admin endpoints are refused.
	Tokens    []Token   `yaml:"tokens"`
	RateLimit RateLimit `yaml:"rate_limit"`
	// TrustedProxies lists the CIDRs of reverse proxies whose
	// X-Forwarded-For header is believed. Empty: the client IP is the TCP
	// peer address and X-Forwarded-For is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	CORS           CORS     `yaml:"cors"`
	// BodyLimit is the largest request body accepted, in bytes.
	BodyLimit int64 `yaml:"body_limit"`
	// http.Server timeouts.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// RequestTimeout bounds the store calls of one request.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ShutdownTimeout is how long Run waits for in-flight requests.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ResponseCache bounds, in bytes, the encoded GET /prefixes and GET
	// /events answers kept for reuse while the store reports them
	// unchanged (their versions; the store is asked on every request).
	// 0 disables it.
	ResponseCache int64 `yaml:"response_cache"`
}

// DefaultConfig returns a configuration that listens on loopback only,
// without tokens, rate limited to 50 requests/s per client IP.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		RateLimit:         RateLimit{RequestsPerSecond: 50, Burst: 100},
		BodyLimit:         8 << 20, // 1,000 imported events of a few KiB each
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		RequestTimeout:    10 * time.Second,
		ShutdownTimeout:   10 * time.Second,
		ResponseCache:     64 << 20,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: empty"))
	} else if err := ValidListen(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	names := map[string]bool{}
	secrets := map[[32]byte]bool{}
	for i, t := range c.Tokens {
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("tokens[%d].name: empty", i))
		} else if names[t.Name] {
			errs = append(errs, fmt.Errorf("tokens[%d].name: duplicate %q", i, t.Name))
		}
		names[t.Name] = true
		// Short tokens are guessable; 16 characters is the floor.
		if len(t.Token) < 16 {
			errs = append(errs, fmt.Errorf("tokens[%d].token: shorter than 16 characters", i))
		}
		h := sha256.Sum256([]byte(t.Token))
		if secrets[h] {
			errs = append(errs, fmt.Errorf("tokens[%d].token: duplicate secret", i))
		}
		secrets[h] = true
		if t.Scope != ScopeRead && t.Scope != ScopeAdmin {
			errs = append(errs, fmt.Errorf("tokens[%d].scope: %q is not read or admin", i, t.Scope))
		}
	}
	if c.ResponseCache < 0 {
		errs = append(errs, errors.New("response_cache: negative"))
	}
	if c.RateLimit.RequestsPerSecond < 0 {
		errs = append(errs, errors.New("rate_limit.requests_per_second: negative"))
	}
	if c.RateLimit.Burst < 0 {
		errs = append(errs, errors.New("rate_limit.burst: negative"))
	}
	if _, err := c.trustedPrefixes(); err != nil {
		errs = append(errs, err)
	}
	for i, o := range c.CORS.AllowOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			errs = append(errs, fmt.Errorf("cors.allow_origins[%d]: %q is not * or an http(s) origin", i, o))
		}
	}
	if c.BodyLimit <= 0 {
		errs = append(errs, errors.New("body_limit: must be positive"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"read_header_timeout", c.ReadHeaderTimeout},
		{"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout},
		{"request_timeout", c.RequestTimeout},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", d.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("api: config: %w", err)
	}
	return nil
}

func (c Config) trustedPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for i, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			// A bare address means just that host.
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted_proxies[%d]: %q is not a CIDR or address", i, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ValidListen checks a HOST:PORT listen address before anything tries to
// bind it: the port 0-65535, the host empty (every address), an IP
// address or a host name.
func ValidListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (e.g. 127.0.0.1:8080)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 0-65535", addr, port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	numeric := true
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("%q: %q is not an IP address or host name", addr, host)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q: %q is not an IP address or host name", addr, host)
			}
			if r < '0' || r > '9' {
				numeric = false
			}
		}
	}
	if numeric {
		return fmt.Errorf("%q: %q is not an IP address", addr, host)
	}
	return nil
}
