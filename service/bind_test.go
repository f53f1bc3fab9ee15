package service

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/collector"
	"routewatch/internal/testenv"
	"routewatch/route"
)

// hostAddrs returns this machine's non-loopback interface addresses.
func hostAddrs(t *testing.T) []netip.Addr {
	t.Helper()
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, ifa := range ifas {
		p, err := netip.ParsePrefix(ifa.String())
		if err == nil && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// TestBGPListenerLoopbackByDefault: changing only the port keeps the BGP
// listener on 127.0.0.1: it accepts there and nowhere else (not ::1, not
// the machine's own addresses).
func TestBGPListenerLoopbackByDefault(t *testing.T) {
	port := testenv.FreePort(t)
	cfg, err := Parse(strings.NewReader("collector: {port: "+strconv.Itoa(port)+"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Collector.ListenAddresses; len(got) != 1 || got[0] != "127.0.0.1" {
		t.Fatalf("listen_addresses = %v, want [127.0.0.1]", got)
	}
	c, err := collector.New(cfg.Collector.Config, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan route.Batch)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, out) }()
	go func() {
		for range out {
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		close(out)
	})
	loop := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", loop, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener never opened on %s: %v", loop, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	others := append(hostAddrs(t), netip.IPv6Loopback())
	for _, a := range others {
		t.Run(a.String(), func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, uint16(port)).String(), time.Second)
			if err == nil {
				conn.Close()
				t.Fatalf("BGP listener accepts on %s: only 127.0.0.1 was asked for", a)
			}
		})
	}
}
