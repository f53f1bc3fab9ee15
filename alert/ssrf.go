package alert

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// BlockedAddrError is returned (wrapped in the HTTP client's error) when a
// webhook host resolves to an address the SSRF guard refuses.
type BlockedAddrError struct {
	Addr   netip.Addr
	Reason string
}

func (e *BlockedAddrError) Error() string {
	return "alert: refused to connect to " + e.Addr.String() + " (" + e.Reason + "); set allow_private_targets to permit"
}

var (
	// Cloud metadata endpoints are refused even with allow_private_targets:
	// no webhook legitimately lives there and they hand out credentials.
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, Oracle, ...
		netip.MustParseAddr("fd00:ec2::254"),   // AWS IPv6 IMDS
		netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
	}
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	reserved4 = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	ietf4     = netip.MustParsePrefix("192.0.0.0/24")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
)

// guard decides which addresses the webhook client may dial. allow is a
// test hook: addresses it accepts skip the private-range check (metadata
// stays refused).
type guard struct {
	allowPrivate bool
	allow        func(netip.Addr) bool
}

// check returns a *BlockedAddrError for a refused address.
func (g guard) check(a netip.Addr) error {
	a = a.Unmap()
	if a.Is6() && nat64.Contains(a) {
		// A NAT64 address reaches the embedded IPv4 address.
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, m := range metadataAddrs {
		if a == m {
			return &BlockedAddrError{Addr: a, Reason: "cloud metadata address"}
		}
	}
	if g.allowPrivate || (g.allow != nil && g.allow(a)) {
		return nil
	}
	reason := ""
	switch {
	case !a.IsValid():
		reason = "invalid address"
	case a.IsUnspecified():
		reason = "unspecified address"
	case a.IsLoopback():
		reason = "loopback address"
	case a.IsPrivate():
		reason = "private address"
	case a.IsLinkLocalUnicast():
		reason = "link-local address"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		reason = "multicast address"
	case cgnat.Contains(a):
		reason = "carrier-grade NAT address"
	case thisNet.Contains(a), reserved4.Contains(a), benchmark.Contains(a), ietf4.Contains(a):
		reason = "reserved address"
	default:
		return nil
	}
	return &BlockedAddrError{Addr: a, Reason: reason}
}

// control runs after DNS resolution, right before connect(2), for every
// connection the client makes: the first request, each redirect and each
// re-resolution, so DNS rebinding cannot slip past a check made earlier.
func (g guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("alert: dial %s: %w", network, err)
	}
	return g.check(ap.Addr())
}

// newHTTPClient returns the client every sink uses: SSRF-guarded dialer,
// no proxy from the environment (a proxy would dial on our behalf), a
// per-attempt timeout and at most three redirects.
func newHTTPClient(g guard, timeout time.Duration, tlsCfg *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		TLSClientConfig:       tlsCfg,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("alert: too many redirects")
			}
			return nil
		},
	}
}

// blocked reports whether err came from the SSRF guard.
func blocked(err error) bool {
	var b *BlockedAddrError
	return errors.As(err, &b)
}
