package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"routewatch/route"
)

// TestMemoryMatchesRedis runs the same random streams of announcements,
// changes, withdrawals, session downs and ups (several path IDs, tags that
// come, change and go) and events through Memory and Redis, and after
// every batch compares every read: routes (each match, paged), routes at
// past times, history, prefixes by ASN, groups, group prefixes, peers,
// session history and event pages.
func TestMemoryMatchesRedis(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			ret := Retention{HistoryCount: 6, HistoryAge: 20 * time.Minute, ResolvedEvents: 5}
			mem := NewMemory(MemoryConfig{Retention: ret})
			red := newTestRedis(t, RedisConfig{Retention: ret, SummaryTTL: -1, ChunkSize: 3})
			g := newStreamGen(seed)
			for step := 0; step < 60; step++ {
				ups, sts, evs := g.batch()
				for name, s := range map[string]Store{"memory": mem, "redis": red} {
					if err := applyAll(s, ups, sts, evs); err != nil {
						t.Fatalf("step %d: %s: %v", step, name, err)
					}
				}
				if diff := compareReads(g, mem, red); diff != "" {
					t.Fatalf("step %d (seed %d): Memory and Redis differ: %s\nbatch: %+v %+v", step, seed, diff, ups, sts)
				}
			}
		})
	}
}

func applyAll(s Store, ups []route.Update, sts []route.PeerState, evs []route.Event) error {
	ctx := context.Background()
	if err := s.ApplyUpdates(ctx, ups); err != nil {
		return err
	}
	if err := s.ApplyPeerStates(ctx, sts); err != nil {
		return err
	}
	return s.PutEvents(ctx, evs)
}

// streamGen makes random batches over a small space so that paths, tags
// and sessions collide often.
type streamGen struct {
	rnd      *rand.Rand
	now      time.Time
	prefixes []netip.Prefix
	peers    []route.Peer
	up       map[vantage]bool
	tags     [][]route.Tag
	asns     []uint32
	events   int
}

func newStreamGen(seed uint64) *streamGen {
	g := &streamGen{rnd: rand.New(rand.NewPCG(seed, 7)), now: t0, up: map[vantage]bool{},
		asns: []uint32{3356, 2914, 1299, 16509, 15169}}
	for _, s := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.3.0/24", "10.2.0.0/16", "2001:db8::/32", "2001:db8:1::/48"} {
		g.prefixes = append(g.prefixes, netip.MustParsePrefix(s))
	}
	// Vantage points sharing peerA's address: the same feeder at two RIS
	// collectors, and one BMP neighbor in two RIB views of one router.
	g.peers = []route.Peer{peerA, peerB, peerC, peerARRC00, peerARRC01, peerABMPPre, peerABMPPost}
	g.tags = [][]route.Tag{nil, awsW2, gcpE1, {awsW2[0], gcpE1[0]}}
	return g
}

func (g *streamGen) batch() ([]route.Update, []route.PeerState, []route.Event) {
	var ups []route.Update
	var sts []route.PeerState
	for range 1 + g.rnd.IntN(6) {
		// Mostly forward in time, sometimes the same instant, sometimes
		// a jump past the history age.
		switch r := g.rnd.IntN(20); {
		case r == 0:
			g.now = g.now.Add(25 * time.Minute)
		case r < 15:
			g.now = g.now.Add(time.Duration(1+g.rnd.IntN(90)) * time.Second)
		}
		p := g.peers[g.rnd.IntN(len(g.peers))]
		if g.rnd.IntN(12) == 0 {
			sts = append(sts, g.flip(p))
			continue
		}
		u := route.Update{Time: g.now, Source: "test", Peer: p, Prefix: g.prefixes[g.rnd.IntN(len(g.prefixes))],
			PathID: uint32(g.rnd.IntN(2)), Tags: g.tags[g.rnd.IntN(len(g.tags))]}
		if g.rnd.IntN(4) == 0 {
			u.Withdraw = true
		} else {
			asns := []uint32{p.ASN}
			for range g.rnd.IntN(3) {
				asns = append(asns, g.asns[g.rnd.IntN(len(g.asns))])
			}
			u.Attrs = path(append(asns, 16509)...)
			if g.rnd.IntN(3) == 0 {
				u.Attrs.MED, u.Attrs.HasMED = uint32(g.rnd.IntN(2)), true
			}
		}
		ups = append(ups, u)
	}
	var evs []route.Event
	if g.rnd.IntN(3) == 0 {
		evs = append(evs, g.event())
	}
	return ups, sts, evs
}

func (g *streamGen) flip(p route.Peer) route.PeerState {
	old, nw := route.StateIdle, route.StateEstablished
	v := vantageOf(p)
	if g.up[v] {
		old, nw = nw, old
	}
	g.up[v] = !g.up[v]
	return route.PeerState{Time: g.now, Source: "test", Peer: p, Old: old, New: nw}
}

func (g *streamGen) event() route.Event {
	id := g.rnd.IntN(g.events + 1) // replace an earlier event or add one
	if id == g.events {
		g.events++
	}
	kinds := []route.EventKind{route.KindPathShift, route.KindWithdrawal}
	e := route.Event{ID: fmt.Sprintf("ev-%d", id), Kind: kinds[g.rnd.IntN(2)], Provider: "aws", Region: "us-west-2",
		Start: t0.Add(time.Duration(g.rnd.IntN(50)) * time.Minute), Detected: g.now, Prefixes: g.rnd.IntN(9)}
	if g.rnd.IntN(2) == 0 {
		e.Provider, e.Region = "gcp", "us-east1"
	}
	if g.rnd.IntN(2) == 0 {
		end := g.now
		e.End = &end
	}
	return e
}

// compareReads returns "" when every read answers the same, else the
// first difference.
func compareReads(g *streamGen, a, b Store) string {
	ctx := context.Background()
	type read struct {
		name string
		do   func(s Store) (any, error)
	}
	var reads []read
	add := func(name string, do func(s Store) (any, error)) { reads = append(reads, read{name, do}) }
	for _, p := range append(g.prefixes, netip.MustParsePrefix("10.0.0.0/7"), netip.MustParsePrefix("::/0")) {
		for _, m := range []Match{MatchExact, MatchCovering, MatchCovered} {
			add(fmt.Sprintf("Routes(%v, %d)", p, m), func(s Store) (any, error) { return s.Routes(ctx, p, m) })
			add(fmt.Sprintf("RoutesPage(%v, %d)", p, m), func(s Store) (any, error) {
				return allPages(func(c string) ([]PrefixRoutes, string, error) {
					return s.RoutesPage(ctx, p, m, Page{Cursor: c, Limit: 2})
				})
			})
		}
		add(fmt.Sprintf("History(%v)", p), func(s Store) (any, error) {
			return allPages(func(c string) ([]HistoryEntry, string, error) { return s.History(ctx, p, Page{Cursor: c, Limit: 2}) })
		})
		for _, back := range []time.Duration{0, time.Minute, 10 * time.Minute} {
			add(fmt.Sprintf("RoutesAt(%v, now-%v)", p, back), func(s Store) (any, error) {
				r, err := s.RoutesAt(ctx, p, g.now.Add(-back))
				return r, ignoreNotFound(err)
			})
		}
	}
	for _, asn := range append(g.asns, peerA.ASN) {
		add(fmt.Sprintf("PrefixesByASN(%d)", asn), func(s Store) (any, error) {
			return allPages(func(c string) ([]netip.Prefix, string, error) {
				return s.PrefixesByASN(ctx, asn, Page{Cursor: c, Limit: 2})
			})
		})
	}
	add("Groups", func(s Store) (any, error) { return s.Groups(ctx) })
	for _, grp := range []route.Group{awsW2[0].Group(), gcpE1[0].Group()} {
		add("Group "+grp.Provider, func(s Store) (any, error) {
			r, err := s.Group(ctx, grp.Provider, grp.Region)
			return r, ignoreNotFound(err)
		})
		add("GroupPrefixes "+grp.Provider, func(s Store) (any, error) {
			return allPages(func(c string) ([]PrefixVisibility, string, error) {
				return s.GroupPrefixes(ctx, grp.Provider, grp.Region, Page{Cursor: c, Limit: 2})
			})
		})
	}
	add("Peers", func(s Store) (any, error) { return s.Peers(ctx) })
	for _, p := range g.peers {
		add("SessionHistory "+PeerKey(p), func(s Store) (any, error) { return s.SessionHistory(ctx, p, 0) })
	}
	for _, f := range []EventFilter{{}, {Provider: "aws"}, {Status: StatusOpen}, {Status: StatusResolved, Provider: "gcp"},
		{Kind: route.KindWithdrawal}, {From: t0.Add(10 * time.Minute), To: t0.Add(40 * time.Minute)}} {
		add(fmt.Sprintf("Events(%+v)", f), func(s Store) (any, error) {
			return allPages(func(c string) ([]route.Event, string, error) {
				f.Page = Page{Cursor: c, Limit: 2}
				return s.Events(ctx, f)
			})
		})
	}
	for _, r := range reads {
		va, errA := r.do(a)
		vb, errB := r.do(b)
		if (errA == nil) != (errB == nil) {
			return fmt.Sprintf("%s: errors %v / %v", r.name, errA, errB)
		}
		ja, _ := json.Marshal(va)
		jb, _ := json.Marshal(vb)
		if string(ja) != string(jb) {
			return fmt.Sprintf("%s:\n memory %s\n redis  %s", r.name, ja, jb)
		}
	}
	return ""
}

func ignoreNotFound(err error) error {
	if err == ErrNotFound {
		return nil
	}
	return err
}

// allPages follows a listing's cursors to the end.
func allPages[T any](page func(cursor string) ([]T, string, error)) ([]T, error) {
	out := []T{}
	cursor := ""
	for range 1000 {
		items, next, err := page(cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
	return nil, fmt.Errorf("cursor loop")
}
