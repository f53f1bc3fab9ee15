package rislive

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultURL is RIPE's RIS Live endpoint; client= names us to RIPE.
const DefaultURL = "wss://ris-live.ripe.net/v1/ws/?client=routewatch"

// DefaultSilenceTimeout is how long a silent feed is trusted.
const DefaultSilenceTimeout = 30 * time.Minute

// Config is the ris_live section's connection part (the service adds
// enabled and bootstrap). Fields tagged yaml:"-" are not configurable in
// the file; their defaults are the documented behaviour.
type Config struct {
	// URL of the RIS Live websocket (default DefaultURL).
	URL string `yaml:"url"`
	// Hosts are the RRCs to keep (rrc00, rrc21, …); empty keeps all.
	Hosts []string `yaml:"hosts"`
	// IgnorePeers are feeders to leave out: peer addresses or ASNs
	// ("192.0.2.1", "2001:db8::1", "3333", "AS3333").
	IgnorePeers []string `yaml:"ignore_peers"`
	// SilenceTimeout: no ris_message for this long (the beacons flap every
	// two hours, the watched ranges far more often) means a dead feed:
	// reconnect. Default 30m.
	SilenceTimeout time.Duration `yaml:"silence_timeout"`

	// PingInterval between application pings; no pong for three intervals
	// ends the connection. Default 30s.
	PingInterval time.Duration `yaml:"-"`
	// QueueSize bounds the messages between the websocket reader and the
	// pipeline; beyond it messages are dropped and counted. Default 65536.
	QueueSize int `yaml:"-"`
	// ReadLimit is the largest message accepted (default 16 MiB; RIS Live
	// sends messages of 100 KB and more).
	ReadLimit int64 `yaml:"-"`
	// RangesCheck is how often the watched ranges are asked again to
	// follow a ranges refresh. Default 1m.
	RangesCheck time.Duration `yaml:"-"`
	// BackoffMin and BackoffMax bound the redial wait (defaults 1s, 2m).
	BackoffMin, BackoffMax time.Duration `yaml:"-"`
	// GapResync: after a reconnect, each route's first update within this
	// period is a re-sync, not a change. Default 30m.
	GapResync time.Duration `yaml:"-"`
	// BatchSize caps the updates of one route.Batch (default 1024).
	BatchSize int `yaml:"-"`
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time `yaml:"-"`
}

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.SilenceTimeout == 0 {
		c.SilenceTimeout = DefaultSilenceTimeout
	}
	if c.PingInterval == 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.QueueSize == 0 {
		c.QueueSize = 1 << 16
	}
	if c.ReadLimit == 0 {
		c.ReadLimit = 16 << 20
	}
	if c.RangesCheck == 0 {
		c.RangesCheck = time.Minute
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = time.Second
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 2 * time.Minute
	}
	if c.GapResync == 0 {
		c.GapResync = 30 * time.Minute
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1024
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem, naming the YAML key under ris_live.
func (c Config) Validate() error {
	var errs []error
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("ris_live.url: %w", err))
		case u.Scheme != "ws" && u.Scheme != "wss":
			errs = append(errs, fmt.Errorf("ris_live.url: scheme %q is not ws or wss", u.Scheme))
		}
	}
	for i, h := range c.Hosts {
		if strings.TrimSpace(h) == "" {
			errs = append(errs, fmt.Errorf("ris_live.hosts[%d]: empty", i))
		}
	}
	if _, err := parseIgnore(c.IgnorePeers); err != nil {
		errs = append(errs, err)
	}
	if c.SilenceTimeout < 0 {
		errs = append(errs, errors.New("ris_live.silence_timeout: must not be negative"))
	}
	return errors.Join(errs...)
}

// ignoreSet is the feeders to leave out.
type ignoreSet struct {
	addrs map[netip.Addr]bool
	asns  map[uint32]bool
}

func parseIgnore(items []string) (ignoreSet, error) {
	s := ignoreSet{addrs: map[netip.Addr]bool{}, asns: map[uint32]bool{}}
	var errs []error
	for i, it := range items {
		it = strings.TrimSpace(it)
		if a, err := netip.ParseAddr(it); err == nil {
			s.addrs[a.Unmap()] = true
			continue
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(it), "AS"), 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("ris_live.ignore_peers[%d]: %q is neither an address nor an ASN", i, it))
			continue
		}
		s.asns[uint32(n)] = true
	}
	return s, errors.Join(errs...)
}

func (s ignoreSet) ignores(addr netip.Addr, asn uint32) bool {
	return s.addrs[addr] || s.asns[asn]
}

// redact returns u without user info and query, for logs.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid url)"
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}
