package alert

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"routewatch/route"
)

func TestGuardCheck(t *testing.T) {
	tests := []struct {
		addr         string
		allowPrivate bool
		blocked      bool
	}{
		{"127.0.0.1", false, true},
		{"127.1.2.3", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true}, // v4-mapped loopback
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"192.168.1.1", false, true},
		{"fd12:3456::1", false, true},
		{"169.254.10.10", false, true},
		{"fe80::1", false, true},
		{"100.64.0.1", false, true}, // CGNAT
		{"0.0.0.0", false, true},
		{"::", false, true},
		{"224.0.0.1", false, true},
		{"ff02::1", false, true},
		{"255.255.255.255", false, true},
		{"64:ff9b::7f00:1", false, true}, // NAT64 of 127.0.0.1
		{"169.254.169.254", false, true},
		{"169.254.169.254", true, true}, // metadata: refused even when private targets are allowed
		{"fd00:ec2::254", true, true},
		{"127.0.0.1", true, false},
		{"10.0.0.1", true, false},
		{"8.8.8.8", false, false},
		{"52.94.0.1", false, false},
		{"2600:1f14::1", false, false},
		{"64:ff9b::808:808", false, false}, // NAT64 of 8.8.8.8
		// Embedded IPv4 in IPv6 forms of blocked addresses.
		{"2002:a9fe:a9fe::", true, true},                     // 6to4 of 169.254.169.254
		{"::169.254.169.254", true, true},                    // IPv4-compatible
		{"::ffff:0:a9fe:a9fe", true, true},                   // IPv4-translated
		{"64:ff9b:1:a9fe:a9:fe00::", true, true},             // local NAT64, /48 layout
		{"64:ff9b:1::a83f:8110", true, true},                 // local NAT64 /96 of 168.63.129.16
		{"2001:0:a9fe:a9fe::1", true, true},                  // Teredo server 169.254.169.254
		{"2001:0:4136:e378:8000:63bf:57c0:7eef", true, true}, // Teredo client 168.63.129.16
		{"2600:1f14::5efe:a83f:8110", true, true},            // ISATAP 168.63.129.16
		{"fe80::a9fe:a9fe%eth0", true, true},                 // OpenStack metadata over IPv6
		{"2002:7f00:1::", false, true},                       // 6to4 of 127.0.0.1
		{"2002:7f00:1::", true, false},
		{"2002:a00:1::", false, true}, // 6to4 of 10.0.0.1
		{"2002:808:808::", false, false},
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", false, false}, // Teredo client 8.8.8.8
		{"100.100.100.1", true, false},                         // CGNAT, allowed with allow_private_targets
	}
	for _, tt := range tests {
		t.Run(tt.addr+"/allow="+strconv.FormatBool(tt.allowPrivate), func(t *testing.T) {
			err := guard{allowPrivate: tt.allowPrivate}.check(netip.MustParseAddr(tt.addr))
			if (err != nil) != tt.blocked {
				t.Fatalf("check = %v, blocked want %v", err, tt.blocked)
			}
		})
	}
}

// encodings returns a and every IPv6 form that embeds it (when it is IPv4).
func encodings(a netip.Addr) []netip.Addr {
	if !a.Is4() {
		return []netip.Addr{a}
	}
	b := a.As4()
	v6 := func(prefix string, at int, xor byte) netip.Addr {
		x := netip.MustParseAddr(prefix).As16()
		for i := range 4 {
			x[at+i] = b[i] ^ xor
		}
		return netip.AddrFrom16(x)
	}
	return []netip.Addr{
		a,
		netip.AddrFrom16(a.As16()), // IPv4-mapped
		v6("::", 12, 0),            // IPv4-compatible
		v6("::ffff:0:0:0", 12, 0),  // IPv4-translated
		v6("2002::", 2, 0),         // 6to4
		v6("64:ff9b::", 12, 0),     // NAT64
		v6("64:ff9b:1::", 12, 0),   // local-use NAT64 /96
		v6("64:ff9b:1::", 9, 0),    // local-use NAT64 /64
		v6("2001:0:4136:e378:8000:63bf::", 12, 0xff), // Teredo client
		v6("2001::", 4, 0),                           // Teredo server
		v6("2a05:d000::200:5efe:0:0", 12, 0),         // ISATAP
	}
}

// TestMetadataAlwaysRefused: every cloud metadata/credential endpoint, in
// every encoding, is refused with and without allow_private_targets.
func TestMetadataAlwaysRefused(t *testing.T) {
	for m := range metadataAddrs {
		for _, a := range encodings(m) {
			for _, allow := range []bool{false, true} {
				t.Run(a.String()+"/allow="+strconv.FormatBool(allow), func(t *testing.T) {
					err := guard{allowPrivate: allow, allow: func(netip.Addr) bool { return true }}.check(a)
					var b *BlockedAddrError
					if !errors.As(err, &b) || !b.Always {
						t.Fatalf("check(%s) = %v, want always refused", a, err)
					}
				})
			}
		}
	}
}

// TestMetadataRefusedOnTheWire: with allow_private_targets on, a webhook
// that reaches a metadata address through a 307 redirect or through a DNS
// name with several answers (one of them fine) is refused before any
// connection; a name whose answers are all fine is delivered.
func TestMetadataRefusedOnTheWire(t *testing.T) {
	rc := newReceiver(t, Slack, nil, nil)
	good := netip.MustParseAddr("127.0.0.1")
	_, port, _ := net.SplitHostPort(rc.srv.Listener.Addr().String())
	var targets []netip.Addr
	for m := range metadataAddrs {
		targets = append(targets, encodings(m)...)
	}
	deliver := func(t *testing.T, url string, answers []netip.Addr) (outcome string, a *Alerter) {
		clock := newFakeClock()
		cfg := Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("s", Slack, url)}, Delivery: testDelivery()}
		cfg.Delivery.Timeout = time.Second
		lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
			if host != "hook.example" {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			return answers, nil
		}
		a = newTestAlerter(t, cfg, newOutbox(), clock, withTestTransport(nil, nil, lookup))
		if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, fixtureEvent(1, route.KindPathShift))}); err != nil {
			t.Fatal(err)
		}
		run(t, a)
		eventually(t, "the delivery to end", func() bool {
			return counterValue(a.m.deliveries.WithLabelValues("s", "gave_up"))+counterValue(a.m.deliveries.WithLabelValues("s", "delivered")) == 1
		})
		if counterValue(a.m.deliveries.WithLabelValues("s", "delivered")) == 1 {
			return "delivered", a
		}
		return "gave_up", a
	}
	t.Run("dns all good", func(t *testing.T) {
		if got, _ := deliver(t, "http://hook.example:"+port+"/hook", []netip.Addr{good}); got != "delivered" {
			t.Fatalf("outcome %s, want delivered", got)
		}
	})
	before := len(rc.requests())
	for _, target := range targets {
		t.Run("307 to "+target.String(), func(t *testing.T) {
			redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://"+netip.AddrPortFrom(target, 80).String()+"/latest/", http.StatusTemporaryRedirect)
			}))
			t.Cleanup(redir.Close)
			got, a := deliver(t, redir.URL+"/hook", nil)
			if got != "gave_up" || counterValue(a.m.attempts.WithLabelValues("s", "blocked")) != 1 {
				t.Fatalf("outcome %s, want gave_up after one blocked attempt", got)
			}
		})
		t.Run("dns answers "+target.String(), func(t *testing.T) {
			got, a := deliver(t, "http://hook.example:"+port+"/hook", []netip.Addr{good, target})
			if got != "gave_up" || counterValue(a.m.attempts.WithLabelValues("s", "blocked")) != 1 {
				t.Fatalf("outcome %s, want gave_up after one blocked attempt", got)
			}
		})
	}
	if n := len(rc.requests()) - before; n != 0 {
		t.Errorf("%d requests reached the receiver through a name that also resolves to metadata", n)
	}
}

// countingListener accepts TCP connections on addr and counts them: a
// guarded dial must never reach it.
func countingListener(t *testing.T, network, addr string) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), &n
}

// TestSSRF sends a notice to webhook URLs that point (directly, by name or
// through a redirect) at internal addresses: nothing may connect, the
// attempt is counted as blocked and the delivery given up, not retried.
func TestSSRF(t *testing.T) {
	v4, hits4 := countingListener(t, "tcp", "127.0.0.1:0")
	v6, hits6 := countingListener(t, "tcp6", "[::1]:0")
	_, port4, _ := net.SplitHostPort(v4)

	// The redirector sits on 127.0.0.2, which this test alone lets through
	// the guard; it sends the client on to the loopback listener.
	var redirected atomic.Int64
	redir := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
		http.Redirect(w, r, "https://127.0.0.1:"+port4+"/steal", http.StatusTemporaryRedirect)
	}))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	redir.Listener = l
	redir.StartTLS()
	t.Cleanup(redir.Close)
	redirector := netip.MustParseAddr("127.0.0.2")
	// The test certificate names example.com, 127.0.0.1 and ::1.
	tlsCfg := &tls.Config{RootCAs: redir.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com"}

	tests := []struct {
		name string
		url  string
	}{
		{"redis on loopback", "https://127.0.0.1:6379/"},
		{"loopback listener", "https://" + v4 + "/hook"},
		{"cloud metadata", "https://169.254.169.254/latest/meta-data/iam/security-credentials/"},
		{"ipv6 loopback", "https://" + v6 + "/hook"},
		{"name resolving to loopback", "https://localhost:" + port4 + "/hook"},
		{"redirect to loopback", redir.URL + "/hook"},
		{"private range", "https://10.255.255.1/hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			ob := newOutbox()
			cfg := Config{Sinks: []SinkConfig{sinkFor("s", Slack, tt.url)}, Delivery: testDelivery()}
			cfg.Delivery.Timeout = time.Second
			a := newTestAlerter(t, cfg, ob, clock, withTestTransport(func(a netip.Addr) bool { return a == redirector }, tlsCfg, nil))
			if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, fixtureEvent(1, route.KindPathShift))}); err != nil {
				t.Fatal(err)
			}
			run(t, a)
			eventually(t, "the delivery to be given up", func() bool { return counterValue(a.m.deliveries.WithLabelValues("s", "gave_up")) == 1 })
			if got := counterValue(a.m.attempts.WithLabelValues("s", "blocked")); got != 1 {
				t.Errorf("blocked attempts = %v, want 1", got)
			}
			if !ob.empty() {
				t.Error("blocked delivery left in the outbox")
			}
		})
	}
	if n := hits4.Load() + hits6.Load(); n != 0 {
		t.Errorf("guarded client connected to loopback listeners %d times", n)
	}
	if redirected.Load() == 0 {
		t.Error("the redirect case never reached the redirector")
	}
}
