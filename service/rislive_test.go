package service

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/alert"
	"routewatch/analyzer"
	"routewatch/internal/rislivetest"
	"routewatch/internal/testenv"
	"routewatch/mrtdata/scenario"
	"routewatch/ranges"
	"routewatch/rislive"
	"routewatch/route"
)

// TestServeRISLive runs serve with RIS Live pointed at the local RIS Live
// server and the BGP collector off: the server streams a regional path
// shift as ris_messages from feeders at two RRCs, and the event reaches
// the API and a generic webhook on a local receiver.
func TestServeRISLive(t *testing.T) {
	sc := scenario.TEShift(scenario.Options{Seed: 1})
	dir := t.TempDir()
	rangesFile := filepath.Join(dir, "ip-ranges.json")
	f, err := os.Create(rangesFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.WriteRanges(f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var mu sync.Mutex
	var hooks []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	defer receiver.Close()

	srv := rislivetest.NewServer(t)
	cfg := loopbackConfig(t)
	cfg.Ranges.Specs = []string{rangesFile}
	cfg.Ranges.WatchASNs = map[string][]uint32{}
	*cfg.Collector.Enabled = false
	cfg.RISLive.Enabled = true
	cfg.RISLive.URL = srv.URL()
	cfg.RISLive.Bootstrap.Collectors = []string{} // no archive bootstrap: the live stream brings the table
	cfg.Alert.AllowPrivateTargets = true
	cfg.Alert.Sinks = []alert.SinkConfig{{Name: "hook", Type: alert.Generic, URL: receiver.URL, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, stop := startService(t, cfg)

	conn := srv.Accept(t)
	waitUntil(t, "subscriptions for the watched ranges", func() bool {
		for _, s := range conn.Subscriptions() {
			if s.Prefix != "" && s.MoreSpecific && !strings.HasPrefix(s.Prefix, "84.205.") {
				return true
			}
		}
		return false
	})
	// Half the feeders at rrc00, half at rrc01, as RIS Live sends them.
	hosts := map[route.Peer]string{}
	for i, p := range sc.Peers {
		hosts[p] = []string{"rrc00", "rrc01"}[i%2]
	}
	for _, it := range sc.Items() {
		if it.Update != nil {
			u := *it.Update
			conn.Send(string(rislivetest.Encode(hosts[u.Peer], "UPDATE", u.Peer, u.Time, []route.Update{u}, nil)))
			continue
		}
		st := *it.State
		if st.Down() || st.Up() {
			conn.Send(string(rislivetest.Encode(hosts[st.Peer], "RIS_PEER_STATE", st.Peer, st.Time, nil, &st)))
		}
	}

	want := sc.Expected[0]
	var ev route.Event
	waitUntil(t, "the path_shift in the API", func() bool {
		resp, err := http.Get("http://" + cfg.API.Listen + "/api/v1/events?kind=" + string(want.Kind))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Events []route.Event `json:"events"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		for _, e := range body.Events {
			if e.Provider == want.Provider && e.Region == want.Region {
				ev = e
				return true
			}
		}
		return false
	})
	if ev.Peers < 2 {
		t.Errorf("event %s: %d peers", ev.ID, ev.Peers)
	}
	for _, p := range ev.AffectedPeers {
		if p.Collector != "rrc00" && p.Collector != "rrc01" {
			t.Errorf("affected peer %+v without its RRC", p)
		}
	}
	waitUntil(t, "the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooks {
			if strings.Contains(h, ev.ID) {
				return true
			}
		}
		return false
	})
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRISLiveVantagePoints: a feeder at two RRCs is two vantage points
// (its routes do not overwrite each other) but one ASN for the
// thresholds: two ASNs at three sessions stay below min_peers 3, three
// ASNs open the path_shift.
func TestRISLiveVantagePoints(t *testing.T) {
	var entries []ranges.Entry
	var prefixes []string
	for i := range 20 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{52, 94, byte(i), 0}), 24)
		prefixes = append(prefixes, p.String())
		entries = append(entries, ranges.Entry{Prefix: p, Tag: route.Tag{Provider: "aws", Region: "eu-west-1"}})
	}
	set := ranges.NewSet(entries, nil)
	type feeder struct{ host, addr, asn string }
	for _, tt := range []struct {
		name    string
		feeders []feeder
		event   bool
	}{
		{"two ASNs at three sessions", []feeder{{"rrc00", "192.0.2.1", "3333"}, {"rrc01", "192.0.2.1", "3333"}, {"rrc00", "192.0.2.2", "174"}}, false},
		{"three ASNs", []feeder{{"rrc00", "192.0.2.1", "3333"}, {"rrc01", "192.0.2.1", "3333"}, {"rrc00", "192.0.2.2", "174"}, {"rrc21", "192.0.2.3", "6939"}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			an := analyzer.New(analyzer.DefaultConfig())
			dec := rislive.NewDecoder()
			var changes []route.EventChange
			feed := func(msg string) {
				m, err := dec.Decode([]byte(msg))
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range m.Updates {
					set.Tag(&u)
					changes = append(changes, an.Observe(u)...)
				}
			}
			for _, f := range tt.feeders {
				feed(rislivetest.Update(f.host, f.addr, f.asn, 1700000000, "["+f.asn+",3356,16509]", f.addr, prefixes...))
			}
			if st := an.Stats(); st.Slots != int64(20*len(tt.feeders)) {
				t.Fatalf("%d routes held, want %d (one per prefix and vantage point)", st.Slots, 20*len(tt.feeders))
			}
			for _, f := range tt.feeders {
				feed(rislivetest.Update(f.host, f.addr, f.asn, 1700000400, "["+f.asn+",2914,16509]", f.addr, prefixes...))
			}
			changes = append(changes, an.Tick(time.Unix(1700000500, 0))...)
			changes = append(changes, an.Flush()...)
			opened := false
			for _, c := range changes {
				opened = opened || (c.Change == route.EventOpened && c.Event.Kind == route.KindPathShift)
			}
			if opened != tt.event {
				t.Errorf("path_shift opened %v, want %v", opened, tt.event)
			}
		})
	}
}

// TestRISLiveBootstrapConfig: the bootstrap reads rrc00 unless the config
// names other collectors; an empty list turns it off.
func TestRISLiveBootstrapConfig(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"default", "ris_live: {enabled: true}\n", []string{"rrc00"}},
		{"off", "ris_live: {enabled: true, bootstrap: {collectors: []}}\n", []string{}},
		{"two", "ris_live: {enabled: true, bootstrap: {collectors: [rrc01, route-views2]}}\n", []string{"rrc01", "route-views2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := LoadFile(p, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			if got := c.RISLive.Bootstrap.Collectors; got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("collectors = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestRISLiveBootstrapOffline: archives that cannot be had (nothing
// listening, every file 404) end the bootstrap with an error, promptly,
// for the client to log and count — never a hang.
func TestRISLiveBootstrapOffline(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	for _, tt := range []struct{ name, url string }{
		{"unreachable", fmt.Sprintf("http://127.0.0.1:%d/rrc00", testenv.FreePort(t))},
		{"404", notFound.URL + "/rrc00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loopbackConfig(t)
			cfg.RISLive.Enabled = true
			cfg.RISLive.Bootstrap.BaseURLs = map[string]string{"rrc00": tt.url}
			s := &Service{cfg: cfg, logger: slog.New(slog.DiscardHandler), reg: prometheus.NewRegistry()}
			boot, err := s.newRISBootstrap()
			if err != nil || boot == nil {
				t.Fatalf("bootstrap = %v, %v", boot, err)
			}
			out := make(chan route.Batch, 16)
			if _, err := boot.Bootstrap(t.Context(), out); err == nil {
				t.Error("no error from a bootstrap without archives")
			}
			if len(out) != 0 {
				t.Errorf("%d batches from a bootstrap without archives", len(out))
			}
		})
	}
}
