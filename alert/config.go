package alert

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"routewatch/route"
)

// SinkType names a chat service (or the generic signed webhook).
type SinkType string

// Sink types.
const (
	Slack      SinkType = "slack"
	Teams      SinkType = "teams"
	Discord    SinkType = "discord"
	Mattermost SinkType = "mattermost"
	Generic    SinkType = "generic"
)

// Config is the `alerts:` section of the routewatch config.
type Config struct {
	// APIBaseURL is where people reach the routewatch API; messages link
	// to <api_base_url>/api/v1/events/<id>. Empty: no link.
	APIBaseURL string `yaml:"api_base_url"`
	// AllowPrivateTargets lets webhook URLs resolve to loopback, private,
	// link-local, CGNAT, multicast and unspecified addresses, and allows
	// plain http://. Off by default (SSRF guard); tests and lab setups
	// turn it on. Cloud metadata addresses stay refused regardless.
	AllowPrivateTargets bool           `yaml:"allow_private_targets"`
	Sinks               []SinkConfig   `yaml:"sinks"`
	Delivery            DeliveryConfig `yaml:"delivery"`
}

// SinkConfig is one destination.
type SinkConfig struct {
	// Name identifies the sink in the outbox, logs and metrics. Unique.
	Name string   `yaml:"name"`
	Type SinkType `yaml:"type"`
	// URL is the webhook URL. It usually embeds a credential: it is never
	// logged.
	URL string `yaml:"url"`
	// Secret signs generic webhooks (Standard Webhooks, "whsec_<base64>").
	// Required for type generic, unused otherwise.
	Secret string `yaml:"secret"`
	// Routes select the events the sink receives; an event goes to the
	// sink when any rule matches. No rules: every event.
	Routes []Rule `yaml:"routes"`
	// RatePerSecond and Burst bound messages per second to this webhook.
	// Zero: the service's default (Slack 1/s, Discord 2/s burst 5, ...).
	RatePerSecond float64 `yaml:"rate_per_second"`
	Burst         int     `yaml:"burst"`
	// CoalesceMax is how many event notices one message may carry when a
	// burst queues up behind the rate limit. 1 disables coalescing.
	// Zero: 10 for chat services, 1 for generic.
	CoalesceMax int `yaml:"coalesce_max"`
	// Updates enables "event grew" messages for ongoing events. They are
	// sent at most once per UpdateInterval per event and only when the
	// event grew by UpdateGrowth since the last message.
	Updates        bool          `yaml:"updates"`
	UpdateInterval time.Duration `yaml:"update_interval"`
	UpdateGrowth   float64       `yaml:"update_growth"`
}

// Rule is one routing filter. Empty fields do not filter.
type Rule struct {
	// Providers and Regions match provider events (not peer_down, which
	// is never attributed to a provider). Regions accept path.Match
	// patterns such as "us-*".
	Providers []string          `yaml:"providers"`
	Regions   []string          `yaml:"regions"`
	Kinds     []route.EventKind `yaml:"kinds"`
	// MinPrefixes and MinPeers drop small provider events.
	MinPrefixes int `yaml:"min_prefixes"`
	MinPeers    int `yaml:"min_peers"`
}

// DeliveryConfig tunes the delivery worker. Zero fields take defaults.
type DeliveryConfig struct {
	// PollInterval is how often the worker looks for due deliveries when
	// nothing woke it up (default 1s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// Lease is how long a fetched delivery is reserved for this worker
	// (default 1m); after a crash another worker retries it after Lease.
	Lease time.Duration `yaml:"lease"`
	// Timeout bounds one HTTP attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// InitialBackoff and MaxBackoff bound the exponential retry delay
	// (defaults 5s, 10m); the delay is jittered between half and all of it.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// MaxRetryAfter caps a receiver's Retry-After (default 1h).
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// GiveUpAfter is the age after which an undelivered message is dropped
	// and recorded as gave_up (default 24h).
	GiveUpAfter time.Duration `yaml:"give_up_after"`
	// BatchSize is how many due deliveries one poll fetches (default 100).
	BatchSize int `yaml:"batch_size"`
}

// DefaultConfig returns a config with no sinks and default delivery
// settings.
func DefaultConfig() Config {
	return Config{Delivery: DeliveryConfig{}.withDefaults()}
}

func (d DeliveryConfig) withDefaults() DeliveryConfig {
	def := func(v *time.Duration, dv time.Duration) {
		if *v <= 0 {
			*v = dv
		}
	}
	def(&d.PollInterval, time.Second)
	def(&d.Lease, time.Minute)
	def(&d.Timeout, 10*time.Second)
	def(&d.InitialBackoff, 5*time.Second)
	def(&d.MaxBackoff, 10*time.Minute)
	def(&d.MaxRetryAfter, time.Hour)
	def(&d.GiveUpAfter, 24*time.Hour)
	if d.BatchSize <= 0 {
		d.BatchSize = 100
	}
	return d
}

// serviceDefaults are the per-service rate limits: Slack documents about
// one message per second per webhook; Discord allows ~5 requests per 2 s
// per webhook; Teams Workflows and Mattermost have no firm published
// figure, so stay conservative.
func (s SinkConfig) withDefaults() SinkConfig {
	if s.RatePerSecond <= 0 {
		switch s.Type {
		case Slack:
			s.RatePerSecond, s.Burst = 1, max(s.Burst, 1)
		case Discord:
			s.RatePerSecond, s.Burst = 2, max(s.Burst, 5)
		case Teams:
			s.RatePerSecond, s.Burst = 1, max(s.Burst, 2)
		case Mattermost:
			s.RatePerSecond, s.Burst = 2, max(s.Burst, 2)
		default:
			s.RatePerSecond, s.Burst = 10, max(s.Burst, 10)
		}
	}
	if s.Burst <= 0 {
		s.Burst = 1
	}
	if s.CoalesceMax <= 0 {
		s.CoalesceMax = 10
		if s.Type == Generic {
			s.CoalesceMax = 1
		}
	}
	if s.UpdateInterval <= 0 {
		s.UpdateInterval = 15 * time.Minute
	}
	if s.UpdateGrowth <= 0 {
		s.UpdateGrowth = 1.5
	}
	return s
}

// maxCoalesce is the most event notices one message of the service can
// carry within its limits (Slack 50 blocks at 4 per event plus a header,
// Discord 10 embeds).
func maxCoalesce(t SinkType) int {
	if t == Generic {
		return 1
	}
	return 10
}

// ConfigError is returned by Validate and New for a bad config.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "alert: config: " + e.Field + ": " + e.Reason }

// Validate checks the config without touching the network.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if c.APIBaseURL != "" {
		u, err := url.Parse(c.APIBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("api_base_url", "want an absolute http(s) URL")
		}
	}
	names := map[string]bool{}
	for i, s := range c.Sinks {
		f := fmt.Sprintf("sinks[%d]", i)
		switch {
		case s.Name == "":
			bad(f+".name", "required")
		case names[s.Name]:
			bad(f+".name", "duplicate %q", s.Name)
		}
		names[s.Name] = true
		switch s.Type {
		case Slack, Teams, Discord, Mattermost, Generic:
		default:
			bad(f+".type", "%q is not one of slack, teams, discord, mattermost, generic", s.Type)
		}
		// Never echo the URL: it usually carries the webhook's credential.
		u, err := url.Parse(s.URL)
		switch {
		case err != nil || u.Host == "":
			bad(f+".url", "want an absolute URL")
		case u.Scheme == "http" && !c.AllowPrivateTargets:
			bad(f+".url", "plain http:// needs allow_private_targets (webhook URLs carry credentials)")
		case u.Scheme != "http" && u.Scheme != "https":
			bad(f+".url", "scheme must be https")
		case u.User != nil:
			bad(f+".url", "credentials in the URL userinfo are not supported")
		}
		if s.Type == Generic {
			if _, err := parseSecret(s.Secret); err != nil {
				bad(f+".secret", "%v", err)
			}
		}
		if s.RatePerSecond < 0 || s.Burst < 0 || s.CoalesceMax < 0 || s.UpdateGrowth < 0 || s.UpdateInterval < 0 {
			bad(f, "rate_per_second, burst, coalesce_max, update_interval and update_growth must not be negative")
		}
		if s.CoalesceMax > maxCoalesce(s.Type) {
			bad(f+".coalesce_max", "at most %d for %s", maxCoalesce(s.Type), s.Type)
		}
		for j, r := range s.Routes {
			rf := fmt.Sprintf("%s.routes[%d]", f, j)
			for _, g := range r.Regions {
				if _, err := path.Match(g, ""); err != nil {
					bad(rf+".regions", "bad pattern %q", g)
				}
			}
			for _, k := range r.Kinds {
				if !knownKind(k) {
					bad(rf+".kinds", "unknown kind %q", k)
				}
			}
			if r.MinPrefixes < 0 || r.MinPeers < 0 {
				bad(rf, "min_prefixes and min_peers must not be negative")
			}
		}
	}
	d := c.Delivery
	if d.PollInterval < 0 || d.Lease < 0 || d.Timeout < 0 || d.InitialBackoff < 0 || d.MaxBackoff < 0 ||
		d.MaxRetryAfter < 0 || d.GiveUpAfter < 0 || d.BatchSize < 0 {
		bad("delivery", "durations and batch_size must not be negative")
	}
	return errors.Join(errs...)
}

func knownKind(k route.EventKind) bool {
	switch k {
	case route.KindPathShift, route.KindWithdrawal, route.KindPeerDown, route.KindOriginChange,
		route.KindMoreSpecific, route.KindPrependChange, route.KindCommunityChange:
		return true
	}
	return false
}

// parseSecret decodes a Standard Webhooks secret: "whsec_" followed by the
// base64 key (the prefix is optional, as in the reference libraries).
func parseSecret(s string) ([]byte, error) {
	raw := strings.TrimPrefix(s, "whsec_")
	if raw == "" {
		return nil, errors.New("want a Standard Webhooks secret whsec_<base64 of 24 to 64 random bytes>")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New("secret after whsec_ is not valid base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("secret key is %d bytes, want 24 to 64", len(key))
	}
	return key, nil
}

// match reports whether the event passes any of the rules.
func match(rules []Rule, ev *route.Event) bool {
	if len(rules) == 0 {
		return true
	}
	for i := range rules {
		if rules[i].match(ev) {
			return true
		}
	}
	return false
}

func (r *Rule) match(ev *route.Event) bool {
	if len(r.Kinds) > 0 && !contains(r.Kinds, ev.Kind) {
		return false
	}
	if ev.Kind == route.KindPeerDown {
		// Vantage-point trouble has no provider/region and its size is a
		// path count, not an event size: only the kind filter applies.
		return true
	}
	if len(r.Providers) > 0 && !containsFold(r.Providers, ev.Provider) {
		return false
	}
	if len(r.Regions) > 0 {
		ok := false
		for _, g := range r.Regions {
			if m, _ := path.Match(g, ev.Region); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return ev.Prefixes >= r.MinPrefixes && ev.Peers >= r.MinPeers
}

func contains[T comparable](xs []T, x T) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func containsFold(xs []string, x string) bool {
	for _, v := range xs {
		if strings.EqualFold(v, x) {
			return true
		}
	}
	return false
}
