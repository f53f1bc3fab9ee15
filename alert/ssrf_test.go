package alert

import (
	"context"
	"crypto/tls"
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
			a := newTestAlerter(t, cfg, ob, clock, withTestTransport(func(a netip.Addr) bool { return a == redirector }, tlsCfg))
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
