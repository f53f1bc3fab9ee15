package rislive

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"routewatch/internal/rislivetest"
	"routewatch/route"
)

type fixedRanges struct {
	mu   sync.Mutex
	ps   []netip.Prefix
	asns []uint32
}

func (f *fixedRanges) Watched() ([]netip.Prefix, []uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ps), slices.Clone(f.asns)
}

func (f *fixedRanges) set(ps []netip.Prefix, asns []uint32) {
	f.mu.Lock()
	f.ps, f.asns = ps, asns
	f.mu.Unlock()
}

type sink struct {
	mu      sync.Mutex
	batches []route.Batch
}

func (s *sink) updates() []route.Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []route.Update
	for _, b := range s.batches {
		out = append(out, b.Updates...)
	}
	return out
}

func (s *sink) states() []route.PeerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []route.PeerState
	for _, b := range s.batches {
		out = append(out, b.States...)
	}
	return out
}

func (s *sink) find(p string) []route.Update {
	var out []route.Update
	for _, u := range s.updates() {
		if u.Prefix.String() == p {
			out = append(out, u)
		}
	}
	return out
}

func testConfig(url string) Config {
	return Config{URL: url, PingInterval: time.Second, SilenceTimeout: time.Hour,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, RangesCheck: 20 * time.Millisecond,
		GapResync: time.Hour, ReadLimit: 256 << 10}
}

func discard() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start runs a client; consume false leaves out unread until s.consume.
type running struct {
	c       *Client
	out     chan route.Batch
	sink    *sink
	consume chan struct{}
}

func start(t *testing.T, cfg Config, rg Ranges, boot Bootstrapper, consume bool) *running {
	t.Helper()
	c, err := New(cfg, rg, boot, discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &running{c: c, out: make(chan route.Batch), sink: &sink{}, consume: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, r.out) }()
	go func() {
		if !consume {
			select {
			case <-r.consume:
			case <-ctx.Done():
				return
			}
		}
		for {
			select {
			case b := <-r.out:
				r.sink.mu.Lock()
				r.sink.batches = append(r.sink.batches, b)
				r.sink.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// waitFor polls cond until it holds (the client runs on real sockets).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func count(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

var watched = []netip.Prefix{netip.MustParsePrefix("52.94.0.0/22"), netip.MustParsePrefix("52.95.0.0/16"), netip.MustParsePrefix("2600:1f00::/24")}

func TestClientProtocol(t *testing.T) {
	srv := rislivetest.NewServer(t)
	rg := &fixedRanges{ps: watched, asns: []uint32{16509}}
	cfg := testConfig(srv.URL())
	cfg.IgnorePeers = []string{"198.51.100.9", "AS64999"}
	r := start(t, cfg, rg, nil, true)
	m := r.c.m

	conn := srv.Accept(t)
	want := Subscriptions(watched, []uint32{16509}, nil)
	waitFor(t, "subscriptions", func() bool { return len(subsOf(conn)) == len(want) })
	if got := subsOf(conn); !slices.Equal(got, want) {
		t.Fatalf("subscriptions %+v, want %+v", got, want)
	}
	if !slices.Contains(want, Subscription{Type: TypeUpdate, Path: "16509$"}) {
		t.Errorf("no path subscription for the watch ASN in %+v", want)
	}

	big := make([]string, 0, 6000)
	for i := range 6000 {
		big = append(big, netip.PrefixFrom(netip.AddrFrom4([4]byte{52, 95, byte(i >> 8), byte(i)}), 32).String())
	}
	msgs := []string{
		rislivetest.Update("rrc00", "192.0.2.7", "3333", 1700000000.1, "[3333,3356,16509]", "192.0.2.7", "52.94.0.0/22"),
		rislivetest.Update("rrc01", "192.0.2.7", "3333", 1700000000.2, "[3333,3356,16509]", "192.0.2.7", "52.94.0.0/22"),
		`{"type":"ris_message","data":{"timestamp":1700000000.3,"peer":"2001:db8::7","peer_asn":"64500","host":"rrc21","type":"UPDATE","path":[64500,174,[16509,14618]],"announcements":[{"next_hop":"2001:db8::7","prefixes":["2600:1f00::/24"]},{"next_hop":"fe80::7","prefixes":["2600:1f00::/24"]}],"withdrawals":[]}}`,
		rislivetest.Withdraw("rrc00", "192.0.2.7", "3333", 1700000000.4, "52.94.0.0/22"),
		rislivetest.Withdraw("rrc00", "192.0.2.7", "3333", 1700000000.5, "eor"),
		rislivetest.PeerState("rrc21", "2001:db8::7", "64500", 1700000000.6, "down"),
		rislivetest.Bare("rrc00", "192.0.2.7", "3333", 1700000000.7, "KEEPALIVE", ""),
		rislivetest.Bare("rrc00", "192.0.2.7", "3333", 1700000000.7, "OPEN", `,"direction":"received","version":4,"asn":3333,"hold_time":90,"router_id":"192.0.2.7","capabilities":{}`),
		rislivetest.Bare("rrc00", "192.0.2.7", "3333", 1700000000.7, "NOTIFICATION", `,"notification":{"code":6,"subcode":4,"data":""}`),
		`{"type":"ris_error","data":{"message":"Subscription limit reached"}}`,
		`this is not json`,
		rislivetest.Update("rrc00", "192.0.2.7", "3333", 1700000000.8, "[3333]", "192.0.2.7", "52.94.0.0/22")[:80],
		`{"type":"ris_message","data":{"timestamp":1700000000.9,"peer":"192.0.2.7","peer_asn":"3333","host":"rrc00","type":"UPDATE","announcements":[{"next_hop":"192.0.2.7","prefixes":["52.94.0.0/99"]}]}}`,
		rislivetest.Update("rrc00", "198.51.100.9", "3333", 1700000001, "[3333,16509]", "198.51.100.9", "52.94.0.0/22"),
		rislivetest.Update("rrc00", "192.0.2.99", "64999", 1700000001, "[64999,16509]", "192.0.2.99", "52.94.0.0/22"),
		rislivetest.Update("rrc00", "192.0.2.8", "3356", 1700000002, "[3356,16509]", "192.0.2.8", big...),
	}
	if len(msgs[len(msgs)-1]) < 100<<10 {
		t.Fatalf("big message only %d bytes", len(msgs[len(msgs)-1]))
	}
	for _, s := range msgs {
		conn.Send(s)
	}
	waitFor(t, "the big message", func() bool { return len(r.sink.find("52.95.23.111/32")) == 1 })

	t.Run("same peer at two RRCs is two vantage points", func(t *testing.T) {
		ups := r.sink.find("52.94.0.0/22")
		if len(ups) != 3 || ups[0].Peer.Collector != "rrc00" || ups[1].Peer.Collector != "rrc01" || ups[0].Peer.ASN != ups[1].Peer.ASN || ups[0].Key() == ups[1].Key() {
			t.Fatalf("updates %+v", ups)
		}
		if ups[0].Source != "rislive:rrc00" || ups[0].TableDump || !ups[2].Withdraw {
			t.Errorf("first %+v, withdrawal %+v", ups[0], ups[2])
		}
	})
	t.Run("link-local duplicate counted once, AS_SET kept", func(t *testing.T) {
		ups := r.sink.find("2600:1f00::/24")
		if len(ups) != 1 || ups[0].Attrs.ASPath.String() != "64500 174 {16509,14618}" {
			t.Fatalf("updates %+v", ups)
		}
	})
	t.Run("End-of-RIB and peer down are states", func(t *testing.T) {
		st := r.sink.states()
		if len(st) != 2 || !st[0].EndOfRIB || st[0].Peer.Collector != "rrc00" || !st[1].Down() || st[1].Peer.Collector != "rrc21" {
			t.Fatalf("states %+v", st)
		}
	})
	t.Run("ignored feeders left out", func(t *testing.T) {
		for _, u := range r.sink.updates() {
			if u.Peer.Addr == netip.MustParseAddr("198.51.100.9") || u.Peer.ASN == 64999 {
				t.Errorf("ignored feeder's update %+v", u)
			}
		}
	})
	t.Run("counted", func(t *testing.T) {
		for typ, want := range map[string]float64{"UPDATE": 8, "RIS_PEER_STATE": 1, "KEEPALIVE": 1, "OPEN": 1, "NOTIFICATION": 1,
			"ris_error": 1, "invalid": 3, "ris_subscribe_ok": float64(len(want))} {
			if got := count(m.messages.WithLabelValues(typ)); got != want {
				t.Errorf("messages{type=%s} = %v, want %v", typ, got, want)
			}
		}
		if got := count(m.invalid.WithLabelValues(ReasonJSON)) + count(m.invalid.WithLabelValues(ReasonPrefix)); got != 3 {
			t.Errorf("invalid json+prefix = %v, want 3", got)
		}
		if got := testutil.CollectAndCount(m.lag); got != 1 {
			t.Errorf("lag histogram series %d", got)
		}
		if count(m.subscriptions) != float64(len(want)) {
			t.Errorf("subscriptions gauge %v", count(m.subscriptions))
		}
	})

	t.Run("drop mid-stream: reconnect, resubscribe, gap re-syncs", func(t *testing.T) {
		conn.Drop()
		conn2 := srv.Accept(t)
		waitFor(t, "resubscription", func() bool { return len(subsOf(conn2)) == len(want) })
		waitFor(t, "reconnect counted", func() bool { return count(m.reconnects.WithLabelValues("read")) == 1 })
		conn2.Send(rislivetest.Update("rrc00", "192.0.2.7", "3333", 1700000100, "[3333,174,16509]", "192.0.2.7", "52.94.0.0/22"))
		conn2.Send(rislivetest.Update("rrc00", "192.0.2.7", "3333", 1700000101, "[3333,1299,16509]", "192.0.2.7", "52.94.0.0/22"))
		waitFor(t, "updates after reconnect", func() bool { return len(r.sink.find("52.94.0.0/22")) == 5 })
		ups := r.sink.find("52.94.0.0/22")
		if !ups[3].TableDump || ups[4].TableDump {
			t.Errorf("after a gap the first update is a re-sync, the next a change: %v %v", ups[3].TableDump, ups[4].TableDump)
		}
		if count(m.synced) != 1 {
			t.Errorf("resynced %v", count(m.synced))
		}

		// Oversized: beyond the read limit the library closes the socket
		// (1009); the client redials.
		conn2.Send(rislivetest.Update("rrc00", "192.0.2.8", "3356", 1700000102, "[3356,16509]", "192.0.2.8", slices.Concat(big, big, big)...))
		conn3 := srv.Accept(t)
		waitFor(t, "second reconnect", func() bool { return count(m.reconnects.WithLabelValues("read")) == 2 })
		waitFor(t, "resubscription", func() bool { return len(subsOf(conn3)) == len(want) })
	})
}

func TestClientRangesRefreshResubscribes(t *testing.T) {
	srv := rislivetest.NewServer(t)
	rg := &fixedRanges{ps: watched[:1], asns: []uint32{16509}}
	r := start(t, testConfig(srv.URL()), rg, nil, true)
	conn := srv.Accept(t)
	old := Subscriptions(watched[:1], []uint32{16509}, nil)
	waitFor(t, "subscriptions", func() bool { return len(subsOf(conn)) == len(old) })

	rg.set([]netip.Prefix{netip.MustParsePrefix("13.32.0.0/15")}, []uint32{16509, 14618})
	next := Subscriptions([]netip.Prefix{netip.MustParsePrefix("13.32.0.0/15")}, []uint32{16509, 14618}, nil)
	waitFor(t, "resubscription", func() bool { return len(subsOf(conn)) == len(old)+2 && len(unsubsOf(conn)) == 1 })
	if u := unsubsOf(conn); u[0].Prefix != "52.94.0.0/22" {
		t.Errorf("unsubscribed %+v", u)
	}
	added := subsOf(conn)[len(old):]
	if !slices.Contains(added, Subscription{Type: TypeUpdate, Prefix: "13.32.0.0/15", MoreSpecific: true}) ||
		!slices.Contains(added, Subscription{Type: TypeUpdate, Path: "14618$"}) {
		t.Errorf("added %+v", added)
	}
	waitFor(t, "gauge", func() bool { return count(r.c.m.subscriptions) == float64(len(next)) })
}

func TestClientSilenceAndNoPong(t *testing.T) {
	t.Run("silent feed is dead", func(t *testing.T) {
		srv := rislivetest.NewServer(t)
		cfg := testConfig(srv.URL())
		cfg.SilenceTimeout, cfg.PingInterval = 100*time.Millisecond, 50*time.Millisecond
		r := start(t, cfg, nil, nil, true)
		srv.Accept(t) // answers pings, sends nothing
		srv.Accept(t)
		waitFor(t, "silence reconnect", func() bool { return count(r.c.m.reconnects.WithLabelValues("silence")) >= 1 })
	})
	t.Run("no pong in three intervals", func(t *testing.T) {
		srv := rislivetest.NewServer(t)
		srv.SetNoPong(true)
		cfg := testConfig(srv.URL())
		cfg.PingInterval = 20 * time.Millisecond
		r := start(t, cfg, nil, nil, true)
		c := srv.Accept(t)
		srv.Accept(t)
		// Timing on a loaded machine decides how many pings fit before the
		// deadline; that at least one went out unanswered is what counts.
		if pings := c.Pings(); pings < 1 {
			t.Errorf("%d pings before giving up, want at least 1", pings)
		}
		waitFor(t, "no_pong reconnect", func() bool { return count(r.c.m.reconnects.WithLabelValues("no_pong")) >= 1 })
	})
	t.Run("dial failures back off and retry", func(t *testing.T) {
		srv := rislivetest.NewServer(t)
		cfg := testConfig(strings.Replace(srv.URL(), "/v1/ws/", "/nope/", 1))
		r := start(t, cfg, nil, nil, true)
		waitFor(t, "dial retries", func() bool { return count(r.c.m.reconnects.WithLabelValues("dial")) >= 3 })
	})
}

func TestClientNeverBlocksOnPipeline(t *testing.T) {
	srv := rislivetest.NewServer(t)
	cfg := testConfig(srv.URL())
	cfg.QueueSize = 1
	r := start(t, cfg, nil, nil, false) // the pipeline is stuck
	conn := srv.Accept(t)
	waitFor(t, "subscriptions", func() bool { return len(subsOf(conn)) > 0 })
	prefixes := []string{"52.94.0.0/24", "52.94.1.0/24", "52.94.2.0/24", "52.94.3.0/24", "52.94.4.0/24", "52.94.5.0/24"}
	for i, p := range prefixes {
		conn.Send(rislivetest.Update("rrc00", "192.0.2.7", "3333", 1700000000+float64(i), "[3333,16509]", "192.0.2.7", p))
	}
	// Pings are still answered: the reader keeps reading while stuck.
	waitFor(t, "drops", func() bool { return count(r.c.m.dropped) >= 3 })
	waitFor(t, "pongs while stuck", func() bool { return count(r.c.m.messages.WithLabelValues("pong")) >= 3 })
	close(r.consume)
	dropped := int(count(r.c.m.dropped))
	waitFor(t, "queued updates", func() bool { return len(r.sink.updates()) == 6-dropped })
	delivered := map[string]bool{}
	for _, u := range r.sink.updates() {
		delivered[u.Prefix.String()] = true
	}
	for i, p := range prefixes {
		conn.Send(rislivetest.Update("rrc00", "192.0.2.7", "3333", 1700000010+float64(i), "[3333,174,16509]", "192.0.2.7", p))
		waitFor(t, "update after the stall", func() bool { return len(r.sink.find(p)) == 1+btoi(delivered[p]) })
	}
	for _, p := range prefixes {
		ups := r.sink.find(p)
		last := ups[len(ups)-1]
		if last.TableDump == delivered[p] {
			t.Errorf("%s: dropped before %v, next update re-sync %v", p, !delivered[p], last.TableDump)
		}
	}
	if int(count(r.c.m.synced)) != dropped {
		t.Errorf("resynced %v, dropped %d", count(r.c.m.synced), dropped)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

type fakeBoot struct {
	until time.Time
	rib   []route.Update
}

func (f fakeBoot) Bootstrap(ctx context.Context, out chan<- route.Batch) (time.Time, error) {
	select {
	case out <- route.Batch{Updates: f.rib}:
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	return f.until, nil
}

func TestClientBootstrap(t *testing.T) {
	srv := rislivetest.NewServer(t)
	until := time.Unix(1700000050, 0)
	peer := route.Peer{Addr: netip.MustParseAddr("192.0.2.7"), ASN: 3333, Collector: "rrc00"}
	attrs := &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{3333, 3356, 16509}}}}
	boot := fakeBoot{until: until, rib: []route.Update{{Time: until.Add(-time.Hour), Source: "bview", Peer: peer, Prefix: netip.MustParsePrefix("52.94.0.0/22"), Attrs: attrs}}}
	r := start(t, testConfig(srv.URL()), nil, boot, true)
	conn := srv.Accept(t)
	conn.Send(rislivetest.Update("rrc00", "192.0.2.7", "3333", 1700000040, "[3333,174,16509]", "192.0.2.7", "52.94.0.0/22"))
	conn.Send(rislivetest.Update("rrc00", "192.0.2.7", "3333", 1700000060, "[3333,1299,16509]", "192.0.2.7", "52.94.0.0/22"))
	waitFor(t, "bootstrap and live", func() bool { return len(r.sink.find("52.94.0.0/22")) == 3 })
	ups := r.sink.find("52.94.0.0/22")
	if ups[0].Source != "bview" || !ups[0].TableDump {
		t.Errorf("bootstrap first, as a re-sync: %+v", ups[0])
	}
	if !ups[1].TableDump || ups[2].TableDump {
		t.Errorf("live before the bootstrap's end re-syncs (%v), after it counts (%v)", ups[1].TableDump, ups[2].TableDump)
	}
	if count(r.c.m.bootstraps.WithLabelValues("ok")) != 1 {
		t.Error("bootstrap not counted")
	}
}

func subsOf(c *rislivetest.Conn) []Subscription   { return convert(c.Subscriptions()) }
func unsubsOf(c *rislivetest.Conn) []Subscription { return convert(c.Unsubscriptions()) }

func convert(in []rislivetest.Subscription) []Subscription {
	out := make([]Subscription, len(in))
	for i, s := range in {
		out[i] = Subscription(s)
	}
	return out
}
