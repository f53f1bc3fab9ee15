package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"routewatch/internal/testenv"
	"routewatch/route"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

func TestConfigYAML(t *testing.T) {
	const doc = `
asn: 64999
router_id: 192.0.2.1
listen_addresses: ["127.0.0.1", "::1"]
port: 1179
neighbors:
  - address: 192.0.2.10
    peer_asn: 65010
    passive: true
    md5_password: secret
    max_prefix: {limit: 1000000, action: restart, restart_after: 10m}
  - address: 2001:db8::10
    peer_asn: 0
    passive: true
dynamic_neighbors:
  - prefix: 198.51.100.0/24
    peer_asn: 0
    max_prefix: {limit: 1200000}
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	must(t, dec.Decode(&c))
	must(t, c.Validate())
	if c.Neighbors[0].MaxPrefix.RestartAfter.Minutes() != 10 || c.DynamicNeighbors[0].MaxPrefix.action() != MaxPrefixShutdown {
		t.Errorf("decoded %+v", c)
	}
	if d := c.withDefaults(); d.Port != 1179 || d.HoldTime != 90 || d.QueueBatches != 4096 {
		t.Errorf("defaults: %+v", d)
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{ASN: 64999, RouterID: "192.0.2.1", Neighbors: []Neighbor{{Address: "192.0.2.10", PeerASN: 65010}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"default port", func(c *Config) { c.Port = 0 }, ""},
		{"no asn", func(c *Config) { c.ASN = 0 }, "asn: required"},
		{"bad router id", func(c *Config) { c.RouterID = "2001:db8::1" }, "router_id"},
		{"zero router id", func(c *Config) { c.RouterID = "0.0.0.0" }, "router_id"},
		{"port range", func(c *Config) { c.Port = 70000 }, "port: 70000"},
		{"listen address", func(c *Config) { c.ListenAddresses = []string{"localhost"} }, "listen_addresses[0]"},
		{"no neighbors", func(c *Config) { c.Neighbors = nil }, "at least one neighbor"},
		{"neighbor address", func(c *Config) { c.Neighbors[0].Address = "router1" }, "neighbors[0].address"},
		{"duplicate neighbor", func(c *Config) { c.Neighbors = append(c.Neighbors, c.Neighbors[0]) }, "configured twice"},
		{"any asn needs passive", func(c *Config) { c.Neighbors[0].PeerASN = 0 }, "needs passive"},
		{"any asn passive", func(c *Config) { c.Neighbors[0].PeerASN, c.Neighbors[0].Passive = 0, true }, ""},
		{"md5 too long", func(c *Config) { c.Neighbors[0].MD5Password = strings.Repeat("x", 81) }, "md5_password: longer than 80"},
		{"ttl range", func(c *Config) { c.Neighbors[0].TTLMin = 256 }, "ttl_min"},
		{"max prefix zero", func(c *Config) { c.Neighbors[0].MaxPrefix = &MaxPrefix{} }, "max_prefix.limit"},
		{"max prefix action", func(c *Config) { c.Neighbors[0].MaxPrefix = &MaxPrefix{Limit: 5, Action: "drop"} }, `"drop" is not`},
		{"dynamic prefix", func(c *Config) { c.DynamicNeighbors = []DynamicNeighbor{{Prefix: "10.0.0.0"}} }, "dynamic_neighbors[0].prefix"},
		{"dynamic host bits", func(c *Config) { c.DynamicNeighbors = []DynamicNeighbor{{Prefix: "10.0.0.1/24"}} }, "did you mean 10.0.0.0/24"},
		{"dynamic only", func(c *Config) { c.Neighbors = nil; c.DynamicNeighbors = []DynamicNeighbor{{Prefix: "10.0.0.0/24"}} }, ""},
		{"hold time", func(c *Config) { c.HoldTime = 2 }, "hold_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want *ValidationError containing %q", err, tc.want)
			}
		})
	}
	t.Run("all problems at once", func(t *testing.T) {
		err := Config{}.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) < 3 {
			t.Fatalf("Validate = %v, want several problems", err)
		}
	})
}

// TestSecurityFailClosed: when the kernel refuses a configured MD5 key or
// minimum TTL, New fails instead of running unprotected sessions.
func TestSecurityFailClosed(t *testing.T) {
	refuse := errors.New("ENOPROTOOPT")
	ok := func(netip.Addr, string) error { return nil }
	okTTL := func(netip.Addr, int) error { return nil }
	for _, tc := range []struct {
		name string
		cfg  Config
		pr   probes
		want string
	}{
		{"md5 refused", Config{Neighbors: []Neighbor{{Address: "192.0.2.10", MD5Password: "k"}}},
			probes{md5: func(netip.Addr, string) error { return refuse }, ttl: okTTL}, "neighbor 192.0.2.10: md5_password configured but"},
		{"ttl refused on range", Config{DynamicNeighbors: []DynamicNeighbor{{Prefix: "10.0.0.0/24", TTLMin: 254}}},
			probes{md5: ok, ttl: func(netip.Addr, int) error { return refuse }}, "dynamic neighbor 10.0.0.0/24: ttl_min configured but"},
		{"no protection configured", Config{Neighbors: []Neighbor{{Address: "192.0.2.10"}}},
			probes{md5: func(netip.Addr, string) error { return refuse }, ttl: func(netip.Addr, int) error { return refuse }}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSecurity(tc.cfg, tc.pr)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrSecurityUnavailable) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ENOPROTOOPT") {
				t.Fatalf("got %v, want ErrSecurityUnavailable mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("kernel probes on this machine", func(t *testing.T) {
		// Loopback MD5 and min-TTL work on Linux; the integration test
		// then runs a real MD5 session.
		if err := probeMD5(netip.MustParseAddr("127.0.0.2"), "secret"); err != nil {
			t.Logf("kernel refuses TCP MD5 here: %v (New would fail closed)", err)
		}
		if err := probeMD5(netip.MustParseAddr("127.0.0.2"), strings.Repeat("k", 81)); err == nil {
			t.Error("81-byte key accepted")
		}
	})
	t.Run("New rejects invalid config", func(t *testing.T) {
		if _, err := New(Config{}, nil, nil); err == nil {
			t.Fatal("New accepted an empty config")
		}
	})
}

func TestExposed(t *testing.T) {
	tests := []struct {
		name  string
		addrs []string
		want  []string
	}{
		{"default", nil, nil},
		{"loopbacks", []string{"127.0.0.1", "::1", "127.0.0.2"}, nil},
		{"wildcards", []string{"0.0.0.0", "::"}, []string{"0.0.0.0", "::"}},
		{"mixed", []string{"127.0.0.1", "192.0.2.2"}, []string{"192.0.2.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{ListenAddresses: tt.addrs}.withDefaults()
			if got := c.exposed(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("exposed = %v, want %v", got, tt.want)
			}
		})
	}
}

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestExposedBindLogged: a listener on a non-loopback address is logged
// at startup as a warning naming the address.
func TestExposedBindLogged(t *testing.T) {
	var host netip.Addr
	ifas, _ := net.InterfaceAddrs()
	for _, ifa := range ifas {
		if p, err := netip.ParsePrefix(ifa.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			host = p.Addr()
			break
		}
	}
	if !host.IsValid() {
		t.Skip("no non-loopback IPv4 address on this machine")
	}
	var logs lockedBuffer
	cfg := Config{ASN: 64512, RouterID: "127.0.0.1", ListenAddresses: []string{host.String()}, Port: testenv.FreePort(t),
		DynamicNeighbors: []DynamicNeighbor{{Prefix: "192.0.2.0/24"}}}
	c, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, make(chan route.Batch)) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "beyond loopback") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the exposed listener:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), host.String()) {
		t.Errorf("warning does not name %s:\n%s", host, logs.String())
	}
}
