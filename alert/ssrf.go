package alert

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// BlockedAddrError is returned (wrapped in the HTTP client's error) when a
// webhook host resolves to an address the SSRF guard refuses.
type BlockedAddrError struct {
	Addr   netip.Addr
	Reason string
	// Always is set for addresses refused even with allow_private_targets
	// (cloud metadata and credential endpoints).
	Always bool
}

func (e *BlockedAddrError) Error() string {
	if e.Always {
		return "alert: refused to connect to " + e.Addr.String() + " (" + e.Reason + "); never allowed"
	}
	return "alert: refused to connect to " + e.Addr.String() + " (" + e.Reason + "); set allow_private_targets to permit"
}

// metadataAddrs are cloud metadata and credential endpoints. They are
// refused even with allow_private_targets: no webhook legitimately lives
// there and they hand out credentials.
var metadataAddrs = map[netip.Addr]string{
	netip.MustParseAddr("169.254.169.254"): "cloud metadata: AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack, …",
	netip.MustParseAddr("fd00:ec2::254"):   "cloud metadata: AWS IMDS over IPv6",
	netip.MustParseAddr("169.254.170.2"):   "cloud credentials: AWS ECS task metadata",
	netip.MustParseAddr("169.254.170.23"):  "cloud credentials: AWS EKS Pod Identity",
	netip.MustParseAddr("fd00:ec2::23"):    "cloud credentials: AWS EKS Pod Identity over IPv6",
	netip.MustParseAddr("168.63.129.16"):   "cloud metadata: Azure WireServer",
	netip.MustParseAddr("100.100.100.200"): "cloud metadata: Alibaba Cloud",
	netip.MustParseAddr("fd20:ce::254"):    "cloud metadata: GCP over IPv6",
	netip.MustParseAddr("192.0.0.192"):     "cloud metadata: Oracle Cloud",
	netip.MustParseAddr("169.254.0.23"):    "cloud metadata: Tencent Cloud",
	netip.MustParseAddr("169.254.42.42"):   "cloud metadata: Scaleway",
	netip.MustParseAddr("fe80::a9fe:a9fe"): "cloud metadata: OpenStack over IPv6",
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	reserved4 = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	ietf4     = netip.MustParsePrefix("192.0.0.0/24")

	compat4     = netip.MustParsePrefix("::/96")           // IPv4-compatible (deprecated)
	translated4 = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT IPv4-translated
	sixToFour   = netip.MustParsePrefix("2002::/16")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215: any RFC 6052 prefix length
	teredo      = netip.MustParsePrefix("2001::/32")
)

// embedded4 returns the IPv4 addresses an IPv6 address carries, with the
// name of the encoding: a packet to it may be translated to, or tunnelled
// towards, that IPv4 address.
func embedded4(a netip.Addr) (out []netip.Addr, form string) {
	if !a.Is6() || a.Is4In6() {
		return nil, ""
	}
	b := a.As16()
	v4 := func(i, j, k, l int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[j], b[k], b[l]}) }
	switch {
	case translated4.Contains(a):
		return []netip.Addr{v4(12, 13, 14, 15)}, "IPv4-translated"
	case compat4.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
		return []netip.Addr{v4(12, 13, 14, 15)}, "IPv4-compatible"
	case sixToFour.Contains(a):
		return []netip.Addr{v4(2, 3, 4, 5)}, "6to4"
	case nat64.Contains(a):
		return []netip.Addr{v4(12, 13, 14, 15)}, "NAT64"
	case nat64Local.Contains(a):
		// The prefix length is the operator's choice: try every RFC 6052
		// position (/48, /56, /64, /96; bits 64–71 are the "u" octet).
		return []netip.Addr{v4(6, 7, 9, 10), v4(7, 9, 10, 11), v4(9, 10, 11, 12), v4(12, 13, 14, 15)}, "NAT64"
	case teredo.Contains(a):
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return []netip.Addr{v4(4, 5, 6, 7), client}, "Teredo"
	case (b[8]|0x02) == 0x02 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe:
		return []netip.Addr{v4(12, 13, 14, 15)}, "ISATAP"
	}
	return nil, ""
}

// guard decides which addresses the webhook client may dial. allow is a
// test hook: addresses it accepts skip the private-range check (metadata
// stays refused). lookup replaces DNS (tests); nil uses the system
// resolver.
type guard struct {
	allowPrivate bool
	allow        func(netip.Addr) bool
	lookup       func(ctx context.Context, host string) ([]netip.Addr, error)
}

// check returns a *BlockedAddrError for a refused address. An IPv6 address
// that embeds IPv4 addresses is refused when any of them is.
func (g guard) check(a netip.Addr) error {
	orig := a
	a = a.Unmap().WithZone("")
	if err := g.checkOne(orig, a, ""); err != nil {
		return err
	}
	inner, form := embedded4(a)
	for _, v4 := range inner {
		if err := g.checkOne(orig, v4, form); err != nil {
			return err
		}
	}
	return nil
}

func (g guard) checkOne(orig, a netip.Addr, form string) error {
	refuse := func(reason string, always bool) error {
		if form != "" {
			reason += ", as " + a.String() + " embedded in a " + form + " address"
		}
		return &BlockedAddrError{Addr: orig, Reason: reason, Always: always}
	}
	if name, ok := metadataAddrs[a]; ok {
		return refuse(name, true)
	}
	if g.allowPrivate || (g.allow != nil && g.allow(a)) {
		return nil
	}
	if reason := privateReason(a); reason != "" {
		return refuse(reason, false)
	}
	return nil
}

// privateReason says why a is not a public unicast address ("" if it is).
func privateReason(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "invalid address"
	case a.IsUnspecified():
		return "unspecified address"
	case a.IsLoopback():
		return "loopback address"
	case a.IsPrivate():
		return "private address"
	case a.IsLinkLocalUnicast():
		return "link-local address"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast address"
	case cgnat.Contains(a):
		return "carrier-grade NAT address"
	case thisNet.Contains(a), reserved4.Contains(a), benchmark.Contains(a), ietf4.Contains(a):
		return "reserved address"
	}
	return ""
}

// control runs right before connect(2), for every connection the client
// makes: the first request, each redirect and each re-resolution, so DNS
// rebinding cannot slip past a check made earlier.
func (g guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("alert: dial %s: %w", network, err)
	}
	return g.check(ap.Addr())
}

// resolve returns every address of host (a literal address or a name).
func (g guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if g.lookup != nil {
		return g.lookup(ctx, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// dialer resolves the host itself and refuses the connection when any of
// its addresses is refused (a name that also points inside is not a
// webhook), then dials the addresses in order; Control checks each again.
func (g guard) dialer(d *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("alert: dial: %w", err)
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("alert: dial: bad port %q", portText)
		}
		addrs, err := g.resolve(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("alert: resolve: %w", err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("alert: resolve: no addresses")
		}
		for _, a := range addrs {
			if err := g.check(a); err != nil {
				return nil, err
			}
		}
		var first error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
}

// maxRedirects bounds the 307/308 hops a delivery follows.
const maxRedirects = 3

// RedirectError is a delivery that ended at a redirect routewatch does not
// follow: 301/302/303 (Go's client would re-send a bodyless GET: the
// notice would be lost while the receiver answers 200) or too many hops.
type RedirectError struct {
	Status int    // the redirect's status code
	Host   string // where it pointed (the host only: paths carry tokens)
	Hops   int
}

func (e *RedirectError) Error() string {
	if e.Status == http.StatusTemporaryRedirect || e.Status == http.StatusPermanentRedirect {
		return fmt.Sprintf("alert: more than %d redirects (last HTTP %d to %s)", maxRedirects, e.Status, e.Host)
	}
	return fmt.Sprintf("alert: the receiver moved (HTTP %d to %s): fix the URL; only 307/308 redirects are followed", e.Status, e.Host)
}

// checkRedirect follows 307 and 308 only (method and body kept; the guard
// checks the new host when it is dialled), at most maxRedirects times.
func checkRedirect(req *http.Request, via []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	switch {
	case status != http.StatusTemporaryRedirect && status != http.StatusPermanentRedirect:
		return &RedirectError{Status: status, Host: req.URL.Host, Hops: len(via)}
	case len(via) > maxRedirects:
		return &RedirectError{Status: status, Host: req.URL.Host, Hops: len(via)}
	}
	return nil
}

// newHTTPClient returns the client every sink uses: SSRF-guarded dialer,
// no proxy from the environment (a proxy would dial on our behalf), a
// per-attempt timeout and 307/308 redirects only.
func newHTTPClient(g guard, timeout time.Duration, tlsCfg *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		TLSClientConfig:       tlsCfg,
		DialContext:           g.dialer(d),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: checkRedirect}
}

// blocked reports whether err came from the SSRF guard.
func blocked(err error) bool {
	var b *BlockedAddrError
	return errors.As(err, &b)
}

// redirected returns the redirect err ended at, if any.
func redirected(err error) (*RedirectError, bool) {
	var r *RedirectError
	ok := errors.As(err, &r)
	return r, ok
}
