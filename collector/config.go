package collector

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// DefaultPort is the BGP port. Binding it needs root or CAP_NET_BIND_SERVICE
// (e.g. `setcap cap_net_bind_service=+ep routewatch`); otherwise use a high
// port and have the routers connect to it.
const DefaultPort = 179

// maxMD5KeyLen is TCP_MD5SIG_MAXKEYLEN of the Linux kernel.
const maxMD5KeyLen = 80

// Max-prefix actions.
const (
	// MaxPrefixShutdown closes the session with a CEASE notification and
	// leaves it administratively down until routewatch restarts.
	MaxPrefixShutdown = "shutdown"
	// MaxPrefixRestart closes the session like shutdown and re-enables the
	// neighbor after RestartAfter.
	MaxPrefixRestart = "restart"
	// MaxPrefixWarn keeps the session, logs once and counts
	// routewatch_bgp_max_prefix_exceeded_total.
	MaxPrefixWarn = "warn"
)

// Config is the collector section of routewatch's configuration.
type Config struct {
	// ASN is routewatch's local AS number (4-byte ASNs allowed).
	ASN uint32 `yaml:"asn"`
	// RouterID is the BGP identifier, an IPv4 address.
	RouterID string `yaml:"router_id"`
	// ListenAddresses default to loopback (127.0.0.1): listening on
	// other addresses must be asked for, and is logged at startup.
	ListenAddresses []string `yaml:"listen_addresses"`
	// Port defaults to 179 (see DefaultPort for running without root).
	Port int `yaml:"port"`
	// Neighbors are the routers allowed to peer, one by one.
	Neighbors []Neighbor `yaml:"neighbors"`
	// DynamicNeighbors accept any router from a prefix.
	DynamicNeighbors []DynamicNeighbor `yaml:"dynamic_neighbors"`
	// HoldTime in seconds (default 90, minimum 3).
	HoldTime int `yaml:"hold_time"`
	// QueueBatches bounds the hand-off queue between GoBGP's watcher and
	// Run (default 4096 batches; one batch is one UPDATE message).
	QueueBatches int `yaml:"queue_batches"`
	// HandoffTimeout is how long GoBGP's watcher may wait on a full queue
	// before a batch of updates is dropped and counted (default 10s).
	// Peer state changes are never dropped.
	HandoffTimeout time.Duration `yaml:"handoff_timeout"`
	// EORTimeout ends a session's initial table when the neighbor sent no
	// End-of-RIB within it (default 5m): TableDump stops, routes of the
	// previous session it did not re-announce are withdrawn and a
	// PeerState with EndOfRIB (Reason says why) is sent. Negative disables.
	EORTimeout time.Duration `yaml:"eor_timeout"`
}

// Neighbor is one configured BGP peer.
type Neighbor struct {
	Address string `yaml:"address"`
	// PeerASN 0 accepts any ASN; such a neighbor is always passive.
	PeerASN uint32 `yaml:"peer_asn"`
	// Passive: wait for the router to connect instead of dialing it.
	Passive bool `yaml:"passive"`
	// MD5Password enables TCP MD5 signatures (RFC 2385). Startup fails if
	// the kernel refuses the key.
	MD5Password string `yaml:"md5_password"`
	// TTLMin enables TTL security (RFC 5082) when > 0: packets with a
	// lower TTL are dropped by the kernel. Startup fails if refused.
	TTLMin    int        `yaml:"ttl_min"`
	MaxPrefix *MaxPrefix `yaml:"max_prefix"`
	// Port the neighbor listens on when dialed (default 179).
	RemotePort int `yaml:"remote_port"`
}

// DynamicNeighbor accepts sessions from every address in Prefix.
type DynamicNeighbor struct {
	Prefix string `yaml:"prefix"`
	// PeerASN 0 accepts any ASN.
	PeerASN     uint32     `yaml:"peer_asn"`
	MD5Password string     `yaml:"md5_password"`
	TTLMin      int        `yaml:"ttl_min"`
	MaxPrefix   *MaxPrefix `yaml:"max_prefix"`
}

// MaxPrefix limits the routes a neighbor may send, per address family
// (IPv4 and IPv6 unicast are counted separately, as GoBGP does).
type MaxPrefix struct {
	Limit uint32 `yaml:"limit"`
	// Action is shutdown (default), restart or warn.
	Action string `yaml:"action"`
	// RestartAfter applies to the restart action (default 5m).
	RestartAfter time.Duration `yaml:"restart_after"`
}

// ValidationError lists everything wrong with a Config.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "collector: invalid config: " + strings.Join(e.Problems, "; ")
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if len(c.ListenAddresses) == 0 {
		c.ListenAddresses = []string{"127.0.0.1"}
	}
	if c.HoldTime == 0 {
		c.HoldTime = 90
	}
	if c.QueueBatches == 0 {
		c.QueueBatches = 4096
	}
	if c.HandoffTimeout == 0 {
		c.HandoffTimeout = 10 * time.Second
	}
	if c.EORTimeout == 0 {
		c.EORTimeout = 5 * time.Minute
	}
	return c
}

// Validate reports every problem of c in one error (*ValidationError).
func (c Config) Validate() error {
	c = c.withDefaults()
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if c.ASN == 0 {
		add("asn: required (local AS number)")
	}
	if id, err := netip.ParseAddr(c.RouterID); err != nil || !id.Is4() || id.IsUnspecified() {
		add("router_id: %q is not a non-zero IPv4 address", c.RouterID)
	}
	if c.Port < 1 || c.Port > 65535 {
		add("port: %d out of range 1-65535", c.Port)
	}
	for i, a := range c.ListenAddresses {
		if _, err := netip.ParseAddr(a); err != nil {
			add("listen_addresses[%d]: %q is not an IP address", i, a)
		}
	}
	if c.HoldTime < 3 || c.HoldTime > 65535 {
		add("hold_time: %d out of range 3-65535", c.HoldTime)
	}
	if c.QueueBatches < 1 {
		add("queue_batches: must be positive")
	}
	if c.HandoffTimeout < 0 {
		add("handoff_timeout: must not be negative")
	}
	if len(c.Neighbors) == 0 && len(c.DynamicNeighbors) == 0 {
		add("neighbors: at least one neighbor or dynamic_neighbors range is required (routewatch accepts only configured peers)")
	}
	seen := map[netip.Addr]bool{}
	for i, n := range c.Neighbors {
		at := fmt.Sprintf("neighbors[%d]", i)
		a, err := netip.ParseAddr(n.Address)
		if err != nil || a.Zone() != "" {
			add("%s.address: %q is not an IP address", at, n.Address)
		} else {
			if seen[a] {
				add("%s.address: %s configured twice", at, a)
			}
			seen[a] = true
		}
		if n.PeerASN == 0 && !n.Passive {
			add("%s: peer_asn 0 (any) needs passive: true", at)
		}
		if n.RemotePort < 0 || n.RemotePort > 65535 {
			add("%s.remote_port: %d out of range", at, n.RemotePort)
		}
		p = append(p, checkPeerOptions(at, n.MD5Password, n.TTLMin, n.MaxPrefix)...)
	}
	for i, d := range c.DynamicNeighbors {
		at := fmt.Sprintf("dynamic_neighbors[%d]", i)
		pfx, err := netip.ParsePrefix(d.Prefix)
		if err != nil {
			add("%s.prefix: %q is not a CIDR prefix", at, d.Prefix)
		} else if pfx != pfx.Masked() {
			add("%s.prefix: %s has host bits set (did you mean %s?)", at, pfx, pfx.Masked())
		}
		p = append(p, checkPeerOptions(at, d.MD5Password, d.TTLMin, d.MaxPrefix)...)
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func checkPeerOptions(at, md5 string, ttlMin int, mp *MaxPrefix) []string {
	var p []string
	if len(md5) > maxMD5KeyLen {
		p = append(p, fmt.Sprintf("%s.md5_password: longer than %d bytes", at, maxMD5KeyLen))
	}
	if ttlMin < 0 || ttlMin > 255 {
		p = append(p, fmt.Sprintf("%s.ttl_min: %d out of range 0-255", at, ttlMin))
	}
	if mp != nil {
		if mp.Limit == 0 {
			p = append(p, fmt.Sprintf("%s.max_prefix.limit: must be positive", at))
		}
		switch mp.Action {
		case "", MaxPrefixShutdown, MaxPrefixRestart, MaxPrefixWarn:
		default:
			p = append(p, fmt.Sprintf("%s.max_prefix.action: %q is not shutdown, restart or warn", at, mp.Action))
		}
		if mp.RestartAfter < 0 {
			p = append(p, fmt.Sprintf("%s.max_prefix.restart_after: must not be negative", at))
		}
	}
	return p
}

func (m *MaxPrefix) action() string {
	if m == nil {
		return ""
	}
	if m.Action == "" {
		return MaxPrefixShutdown
	}
	return m.Action
}

func (m *MaxPrefix) restartAfter() time.Duration {
	if m.RestartAfter > 0 {
		return m.RestartAfter
	}
	return 5 * time.Minute
}

// ErrSecurityUnavailable is wrapped by New when MD5 or TTL security is
// configured but the kernel refuses it (routewatch fails closed instead of
// running unauthenticated sessions).
var ErrSecurityUnavailable = errors.New("TCP session protection refused by the kernel")

// exposed returns the listen addresses that are not loopback ("0.0.0.0"
// and "::" included): the BGP listener is reachable beyond this host.
func (c Config) exposed() []string {
	var out []string
	for _, a := range c.ListenAddresses {
		if ip, err := netip.ParseAddr(a); err != nil || !ip.IsLoopback() {
			out = append(out, a)
		}
	}
	return out
}
