package bmpstation

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Config is the `bmp:` section of the serve configuration.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Listen is the passive station's address ("" = 127.0.0.1:11019).
	Listen string `yaml:"listen"`
	// Allow lists the router prefixes that may connect ("" = loopback).
	Allow []string `yaml:"allow"`
	// Active lists routers the station dials (routers in BMP listen mode).
	Active []Target `yaml:"active"`

	// EORTimeout ends a view's initial table when the router sends no
	// End-of-RIB for it (GoBGP never does). Not in the YAML contract.
	EORTimeout time.Duration `yaml:"-"`
	// Backoff bounds the redial delay of active targets (defaults 1 s, 60 s).
	MinBackoff, MaxBackoff time.Duration `yaml:"-"`
}

// Target is a router the station connects to.
type Target struct {
	Address string `yaml:"address"`
	Port    int    `yaml:"port"`
}

func (t Target) addr() string { return net.JoinHostPort(t.Address, strconv.Itoa(t.Port)) }

// DefaultListen is the passive station's default address.
const DefaultListen = "127.0.0.1:11019"

// Validate checks addresses and prefixes.
func (c Config) Validate() error {
	if c.Listen != "" {
		if _, err := netip.ParseAddrPort(c.Listen); err != nil {
			return fmt.Errorf("bmpstation: bmp.listen %q: want ADDRESS:PORT", c.Listen)
		}
	}
	for _, a := range c.Allow {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fmt.Errorf("bmpstation: bmp.allow %q: want a prefix such as 192.0.2.0/24", a)
		}
	}
	for i, t := range c.Active {
		if _, err := netip.ParseAddr(t.Address); err != nil {
			return fmt.Errorf("bmpstation: bmp.active[%d].address %q: want an IP address", i, t.Address)
		}
		if t.Port < 1 || t.Port > 65535 {
			return fmt.Errorf("bmpstation: bmp.active[%d].port %d: want 1-65535", i, t.Port)
		}
	}
	if c.EORTimeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return fmt.Errorf("bmpstation: negative duration")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if len(c.Allow) == 0 {
		c.Allow = []string{"127.0.0.0/8", "::1/128"}
	}
	if c.EORTimeout == 0 {
		c.EORTimeout = 5 * time.Minute
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Minute
	}
	return c
}
