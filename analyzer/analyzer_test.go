package analyzer_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"routewatch/analyzer"
	"routewatch/route"
)

var t0 = time.Date(2021, 12, 15, 15, 0, 0, 0, time.UTC)

func path(asns ...uint32) *route.Attrs {
	return &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: asns}}}
}

func TestClassify(t *testing.T) {
	withComm := path(3333, 3356, 16509)
	withComm.Communities = []route.Community{1}
	tests := []struct {
		name     string
		old, new *route.Attrs
		want     analyzer.ChangeType
	}{
		{"none", nil, nil, analyzer.ChangeNone},
		{"initial", nil, path(3333, 16509), analyzer.ChangeInitial},
		{"withdraw", path(3333, 16509), nil, analyzer.ChangeWithdraw},
		{"duplicate", path(3333, 3356, 16509), path(3333, 3356, 16509), analyzer.ChangeNone},
		{"attrs only", path(3333, 3356, 16509), withComm, analyzer.ChangeAttrs},
		{"upstream", path(3333, 3356, 16509), path(3333, 2914, 16509), analyzer.ChangeUpstream},
		{"direct to transit", path(3333, 16509), path(3333, 2914, 16509), analyzer.ChangeUpstream},
		{"origin", path(3333, 3356, 16509), path(3333, 3356, 64500), analyzer.ChangeUpstream},
		{"origin prepend", path(3333, 3356, 16509), path(3333, 3356, 16509, 16509), analyzer.ChangePrepend},
		{"transit prepend", path(3333, 3356, 16509), path(3333, 3333, 3356, 16509), analyzer.ChangePathLength},
		{"transit longer", path(3333, 3356, 16509), path(3333, 1299, 3356, 16509), analyzer.ChangePathLength},
		{"transit other", path(3333, 1299, 3356, 16509), path(3333, 174, 3356, 16509), analyzer.ChangePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := analyzer.Classify(tt.old, tt.new); got != tt.want {
				t.Errorf("Classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := analyzer.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name  string
		field string
		edit  func(*analyzer.Config)
	}{
		{"zero window", "window", func(c *analyzer.Config) { c.Window = 0 }},
		{"no prefixes", "min_prefixes", func(c *analyzer.Config) { c.MinPrefixes = 0 }},
		{"share above one", "min_share", func(c *analyzer.Config) { c.MinShare = 1.5 }},
		{"no peers", "min_peers", func(c *analyzer.Config) { c.MinPeers = 0 }},
		{"per prefix above peers", "min_peers_per_prefix", func(c *analyzer.Config) { c.MinPeersPerPrefix = 9 }},
		{"negative multiple", "baseline_multiple", func(c *analyzer.Config) { c.BaselineMultiple = -1 }},
		{"tolerance one", "restore_tolerance", func(c *analyzer.Config) { c.RestoreTolerance = 1 }},
		{"no stable period", "stable_period", func(c *analyzer.Config) { c.StablePeriod = 0 }},
		{"peer down share zero", "peer_down_share", func(c *analyzer.Config) { c.PeerDownShare = 0 }},
		{"negative samples", "sample_prefixes", func(c *analyzer.Config) { c.SamplePrefixes = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := analyzer.DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if !errors.Is(err, analyzer.ErrConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Validate = %v, want ErrConfig naming %s", err, tt.field)
			}
			// New never fails: invalid fields fall back to the defaults.
			if got := analyzer.New(c).Config(); got.Validate() != nil {
				t.Errorf("New kept an invalid config: %+v", got)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	c := analyzer.DefaultConfig()
	d := yaml.NewDecoder(strings.NewReader("window: 10m\nmin_prefixes: 8\nstable_period: 2h\ntransit_changes: true\n"))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Window != 10*time.Minute || c.MinPrefixes != 8 || c.StablePeriod != 2*time.Hour || !c.TransitChanges || c.MinPeers != 3 {
		t.Errorf("decoded %+v", c)
	}
	d = yaml.NewDecoder(strings.NewReader("windw: 10m\n"))
	d.KnownFields(true)
	if err := d.Decode(&c); err == nil {
		t.Error("unknown field accepted")
	}
}

// world is a tiny hand-built topology: peers AS 1..n, prefixes of one
// group.
type world struct {
	peers    []route.Peer
	prefixes []netip.Prefix
	tags     []route.Tag
}

func newWorld(peers, prefixes int) world {
	w := world{tags: []route.Tag{{Provider: "aws", Region: "us-west-2", Match: route.MatchEqual}}}
	for i := range peers {
		w.peers = append(w.peers, route.Peer{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), ASN: uint32(65000 + i)})
	}
	for i := range prefixes {
		w.prefixes = append(w.prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24))
	}
	return w
}

func (w world) update(t time.Time, peer, prefix int, a *route.Attrs, tableDump bool) route.Update {
	u := route.Update{Time: t, Peer: w.peers[peer], Prefix: w.prefixes[prefix], Attrs: a, Withdraw: a == nil, TableDump: tableDump}
	if a != nil {
		u.Tags = w.tags // withdrawals arrive untagged: the analyzer carries tags forward
	}
	return u
}

// load announces every prefix at every peer via upstream 3356.
func (w world) load(a *analyzer.Analyzer, t time.Time, tableDump bool) {
	for p := range w.peers {
		for i := range w.prefixes {
			a.Observe(w.update(t, p, i, path(w.peers[p].ASN, 3356, 16509), tableDump))
		}
	}
}

func kinds(evs []route.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s/%s", e.Kind, e.Provider, e.Region))
	}
	return out
}

func TestTableDumpAndInitialLoadNeverOpen(t *testing.T) {
	tests := []struct {
		name      string
		tableDump bool
	}{{"table dump", true}, {"first announcements", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(10, 40)
			a := analyzer.New(analyzer.DefaultConfig())
			w.load(a, t0, tt.tableDump)
			// A second RIB snapshot with every path moved is a state sync,
			// not a change on the wire.
			for p := range w.peers {
				for i := range w.prefixes {
					a.Observe(w.update(t0.Add(10*time.Minute), p, i, path(w.peers[p].ASN, 2914, 16509), true))
				}
			}
			a.Tick(t0.Add(time.Hour))
			a.Flush()
			if evs := a.Events(); len(evs) != 0 {
				t.Errorf("events: %v", kinds(evs))
			}
		})
	}
}

// TestTableDumpWithdrawalNeverOpens: a re-sync that finds routes gone (a
// RIS Live bootstrap after a gap) removes them without a change: the same
// withdrawals on the wire open a withdrawal event.
func TestTableDumpWithdrawalNeverOpens(t *testing.T) {
	for _, tt := range []struct {
		name      string
		tableDump bool
		want      []string
	}{
		{"re-sync", true, nil},
		{"on the wire", false, []string{"withdrawal aws/us-west-2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(10, 40)
			a := analyzer.New(analyzer.DefaultConfig())
			w.load(a, t0, true)
			a.Tick(t0.Add(10 * time.Minute))
			start := t0.Add(10 * time.Minute)
			for i := range 30 {
				for p := range w.peers {
					a.Observe(w.update(start.Add(time.Duration(i+p)*time.Second), p, i, nil, tt.tableDump))
				}
			}
			var got []string
			for _, c := range a.Tick(start.Add(2 * time.Minute)) {
				if c.Change == route.EventOpened {
					got = append(got, fmt.Sprintf("%s %s/%s", c.Event.Kind, c.Event.Provider, c.Event.Region))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
		})
	}
}

func TestShiftWithdrawalsCarryTagsAndRestore(t *testing.T) {
	w := newWorld(10, 40)
	a := analyzer.New(analyzer.DefaultConfig())
	w.load(a, t0, true)
	a.Tick(t0.Add(10 * time.Minute))
	start := t0.Add(10 * time.Minute)
	// 30 of 40 prefixes: withdrawn (untagged) at every peer within 40 s.
	for i := range 30 {
		for p := range w.peers {
			a.Observe(w.update(start.Add(time.Duration(i+p)*time.Second), p, i, nil, false))
		}
	}
	var changes []route.EventChange
	changes = append(changes, a.Tick(start.Add(2*time.Minute))...)
	if len(changes) != 1 || changes[0].Change != route.EventOpened || changes[0].Event.Kind != route.KindWithdrawal {
		t.Fatalf("changes after outage: %+v", changes)
	}
	ev := changes[0].Event
	if ev.Prefixes != 30 || ev.Peers != 10 || !ev.Start.Equal(start) || ev.Provider != "aws" || ev.Region != "us-west-2" {
		t.Errorf("opened %+v", ev)
	}
	if !strings.Contains(ev.Summary, "still visible at 0 vantage points") {
		t.Errorf("summary %q", ev.Summary)
	}
	// Restoration: the same paths come back.
	back := start.Add(20 * time.Minute)
	for i := range 30 {
		for p := range w.peers {
			changes = append(changes, a.Observe(w.update(back.Add(time.Duration(i)*time.Second), p, i, path(w.peers[p].ASN, 3356, 16509), false))...)
		}
	}
	evs := a.Events()
	if len(evs) != 1 || evs[0].End == nil {
		t.Fatalf("after restoration: %+v", evs)
	}
	if d := evs[0].End.Sub(back); d < 0 || d > time.Minute {
		t.Errorf("end %s, restoration at %s", evs[0].End, back)
	}
	if evs[0].Duration() <= 0 || changes[len(changes)-1].Change != route.EventResolved {
		t.Errorf("duration %s, last change %s", evs[0].Duration(), changes[len(changes)-1].Change)
	}
}

func TestPermanentShiftResolvesWhenStable(t *testing.T) {
	w := newWorld(10, 40)
	cfg := analyzer.DefaultConfig()
	a := analyzer.New(cfg)
	w.load(a, t0, true)
	a.Tick(t0.Add(10 * time.Minute))
	start := t0.Add(10 * time.Minute)
	last := start
	for i := range 20 {
		for p := range 6 {
			last = start.Add(time.Duration(i*6+p) * time.Second)
			a.Observe(w.update(last, p, i, path(w.peers[p].ASN, 2914, 16509), false))
		}
	}
	a.Tick(start.Add(cfg.StablePeriod))
	if evs := a.Events(); len(evs) != 1 || !evs[0].Open() {
		t.Fatalf("before the stable period ends: %v", kinds(evs))
	}
	changes := a.Tick(last.Add(cfg.StablePeriod + time.Second))
	evs := a.Events()
	if len(changes) != 1 || changes[0].Change != route.EventResolved || evs[0].End == nil || !evs[0].End.Equal(last) {
		t.Fatalf("stable resolution: changes %+v events %+v", changes, evs)
	}
	e := evs[0]
	if e.Kind != route.KindPathShift || e.Prefixes != 20 || e.Peers != 6 {
		t.Errorf("event %+v", e)
	}
	if len(e.Transitions) != 1 || e.Transitions[0] != (route.Transition{FromUpstream: 3356, ToUpstream: 2914, Prefixes: 20}) {
		t.Errorf("transitions %+v", e.Transitions)
	}
	if len(e.SamplePrefixes) != cfg.SamplePrefixes || !slices.IsSortedFunc(e.AffectedPeers, func(x, y route.Peer) int { return x.Addr.Compare(y.Addr) }) {
		t.Errorf("samples %v peers %v", e.SamplePrefixes, e.AffectedPeers)
	}
	if !strings.HasPrefix(e.Summary, "aws us-west-2: 20 prefixes shifted at 6 peer ASNs; via 3356 → via 2914: 20 prefixes") {
		t.Errorf("summary %q", e.Summary)
	}
}

func TestPeerSessionReset(t *testing.T) {
	w := newWorld(10, 40)
	a := analyzer.New(analyzer.DefaultConfig())
	w.load(a, t0, true)
	down := t0.Add(10 * time.Minute)
	ch := a.ObservePeer(route.PeerState{Time: down, Peer: w.peers[3], Old: route.StateEstablished, New: route.StateIdle})
	if len(ch) != 1 || ch[0].Event.Kind != route.KindPeerDown || ch[0].Event.Prefixes != 40 || ch[0].Event.Provider != "" {
		t.Fatalf("down: %+v", ch)
	}
	up := down.Add(3 * time.Minute)
	ch = a.ObservePeer(route.PeerState{Time: up, Peer: w.peers[3], Old: route.StateOpenConfirm, New: route.StateEstablished})
	if len(ch) != 1 || ch[0].Change != route.EventResolved || !ch[0].Event.End.Equal(up) {
		t.Fatalf("up: %+v", ch)
	}
	before := a.Stats().Changes
	for i := range w.prefixes {
		a.Observe(w.update(up.Add(time.Second), 3, i, path(w.peers[3].ASN, 3356, 16509), false))
	}
	if after := a.Stats().Changes; after != before {
		t.Errorf("re-announcing the old paths counted as changes: %v -> %v", before, after)
	}
	a.Tick(up.Add(time.Hour))
	a.Flush()
	if evs := a.Events(); len(evs) != 1 {
		t.Errorf("events: %v", kinds(evs))
	}
	if n := a.Prune(up); n != 0 {
		t.Errorf("pruned %d events that ended at the cut", n)
	}
	if n := a.Prune(up.Add(time.Second)); n != 1 || len(a.Events()) != 0 {
		t.Errorf("pruned %d, %d left", n, len(a.Events()))
	}
}

func TestSinglePeerChurnNeverOpens(t *testing.T) {
	w := newWorld(10, 40)
	a := analyzer.New(analyzer.DefaultConfig())
	w.load(a, t0, true)
	// One busy peer moves every prefix back and forth for an hour.
	for m := range 60 {
		for i := range w.prefixes {
			up := uint32(3356)
			if m%2 == 0 {
				up = 2914
			}
			a.Observe(w.update(t0.Add(10*time.Minute+time.Duration(m)*time.Minute+time.Duration(i)*time.Second), 0, i, path(w.peers[0].ASN, up, 16509), false))
		}
	}
	a.Tick(t0.Add(3 * time.Hour))
	a.Flush()
	for _, e := range a.Events() {
		if e.Kind != route.KindPeerDown {
			t.Errorf("provider event from one peer: %s", e.Summary)
		}
	}
}

// FuzzObserve drives the analyzer with arbitrary streams: it must never
// panic and its events must stay consistent.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte("\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newWorld(6, 12)
		cfg := analyzer.DefaultConfig()
		cfg.MinPrefixes, cfg.MinPeers, cfg.MinPeersPerPrefix, cfg.PeerDownMinRoutes = 2, 2, 2, 2
		a := analyzer.New(cfg)
		now := t0
		for len(data) >= 3 {
			op, x, y := data[0], int(data[1]), int(data[2])
			data = data[3:]
			now = now.Add(time.Duration(op&0x0f) * 7 * time.Second)
			peer, prefix := x%len(w.peers), y%len(w.prefixes)
			switch op >> 4 {
			case 0, 1, 2, 3:
				a.Observe(w.update(now, peer, prefix, path(w.peers[peer].ASN, 3356+uint32(op>>4), 16509), op&1 == 1 && op>>4 == 0))
			case 4, 5:
				a.Observe(w.update(now, peer, prefix, nil, false))
			case 6:
				a.ObservePeer(route.PeerState{Time: now, Peer: w.peers[peer], Old: route.StateEstablished, New: route.StateIdle})
			case 7:
				a.ObservePeer(route.PeerState{Time: now, Peer: w.peers[peer], Old: route.StateOpenConfirm, New: route.StateEstablished})
			case 8:
				a.Tick(now.Add(time.Duration(x) * time.Minute))
			case 9:
				// Out-of-order and zero times must be tolerated.
				u := w.update(time.Time{}, peer, prefix, path(w.peers[peer].ASN, 1299, 16509), false)
				if y%2 == 0 {
					u.Time = now.Add(-time.Hour)
				}
				a.Observe(u)
			default:
				u := w.update(now, peer, prefix, path(w.peers[peer].ASN, 174, 16509), false)
				u.PathID = uint32(y % 3)
				a.Observe(u)
			}
		}
		a.Flush()
		if st := a.Stats(); st.Slots < 0 || st.Slots > 6*12*3 || st.Prefixes < 0 || st.Prefixes > 12 || st.Peers > 6 {
			t.Fatalf("state held: %+v", st)
		}
		evs := a.Events()
		seen := map[string]bool{}
		for i, e := range evs {
			if seen[e.ID] {
				t.Fatalf("duplicate id %s", e.ID)
			}
			seen[e.ID] = true
			if e.End != nil && e.End.Before(e.Start) {
				t.Fatalf("event ends before it starts: %+v", e)
			}
			if i > 0 && evs[i-1].Start.After(e.Start) {
				t.Fatalf("events not ordered by start")
			}
		}
	})
}

// TestLiveSessionDrop: the live collector may deliver a dropped session's
// withdrawals just before the state change, and re-sends the table as a
// table dump ending with End-of-RIB. None of it is a provider event.
func TestLiveSessionDrop(t *testing.T) {
	w := newWorld(10, 40)
	a := analyzer.New(analyzer.DefaultConfig())
	w.load(a, t0, true)
	drop := t0.Add(10 * time.Minute)
	for peer := range 3 { // three sessions drop together (collector restart)
		for i := range w.prefixes {
			a.Observe(w.update(drop, peer, i, nil, false))
		}
		ch := a.ObservePeer(route.PeerState{Time: drop, Peer: w.peers[peer], Old: route.StateEstablished, New: route.StateIdle})
		if len(ch) != 1 || ch[0].Event.Kind != route.KindPeerDown || ch[0].Event.Prefixes != 40 {
			t.Fatalf("peer %d down: %+v", peer, ch)
		}
	}
	back := drop.Add(2 * time.Minute)
	for peer := range 3 {
		a.ObservePeer(route.PeerState{Time: back, Peer: w.peers[peer], Old: route.StateOpenConfirm, New: route.StateEstablished})
		for i := range 30 { // 10 prefixes are not re-sent
			a.Observe(w.update(back, peer, i, path(w.peers[peer].ASN, 3356, 16509), true))
		}
		a.ObservePeer(route.PeerState{Time: back, Peer: w.peers[peer], Old: route.StateEstablished, New: route.StateEstablished, EndOfRIB: true})
	}
	a.Tick(back.Add(time.Hour))
	a.Flush()
	for _, e := range a.Events() {
		if e.Kind != route.KindPeerDown {
			t.Errorf("provider event from session drops: %s", e.Summary)
		} else if e.End == nil || !e.End.Equal(back) {
			t.Errorf("peer_down not resolved at %s: %+v", back, e)
		}
	}
	if st := a.Stats(); st.Changes[analyzer.ChangeWithdraw] != 0 {
		t.Errorf("%d withdrawals counted, want 0 (all taken back as stale)", st.Changes[analyzer.ChangeWithdraw])
	}
}
