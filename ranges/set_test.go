package ranges

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"routewatch/internal/testenv"
	"routewatch/route"
)

func tag(provider, region, service string, m route.MatchKind) route.Tag {
	return route.Tag{Provider: provider, Region: region, Service: service, Match: m}
}

func entry(p, provider, region, service string) Entry {
	return Entry{Prefix: netip.MustParsePrefix(p), Tag: route.Tag{Provider: provider, Region: region, Service: service}}
}

// testSet: a /8 with a /16 and two /24s nested inside it, a duplicate
// listing, an IPv6 pair, and a region-less tag shadowed by a regional one.
func testSet() *Set {
	return NewSet([]Entry{
		entry("10.0.0.0/8", "p", "r1", "BIG"),
		entry("10.1.0.0/16", "p", "r1", "A"),
		entry("10.1.0.0/16", "p", "r1", "B"),
		entry("10.1.0.0/16", "p", "r1", "A"), // duplicate
		entry("10.1.2.0/24", "p", "r1", "A"), // same tag as its parent
		entry("10.1.3.0/24", "q", "r2", "C"),
		entry("192.0.2.0/24", "p", "", "G"),
		entry("192.0.2.0/24", "p", "r3", "G"), // shadows the region-less G
		entry("192.0.2.0/24", "p", "", "H"),   // region-less, not shadowed
		entry("2001:db8::/32", "v6", "r6", ""),
		entry("2001:db8:1::/48", "v6", "r6b", ""),
	}, map[string][]uint32{"p": {64500}, "q": {64500, 64501}})
}

func TestMatch(t *testing.T) {
	s := testSet()
	const (
		eq  = route.MatchEqual
		cov = route.MatchCovered
		cvg = route.MatchCovering
	)
	tests := []struct {
		name   string
		prefix string
		want   []route.Tag
	}{
		{"no match v4", "11.0.0.0/8", nil},
		{"no match v6", "2001:db9::/32", nil},
		{"equal root", "10.0.0.0/8", []route.Tag{
			tag("p", "r1", "BIG", eq), tag("p", "r1", "A", cvg), tag("p", "r1", "B", cvg), tag("q", "r2", "C", cvg)}},
		{"equal merges duplicates", "10.1.0.0/16", []route.Tag{
			tag("p", "r1", "A", eq), tag("p", "r1", "B", eq), tag("p", "r1", "BIG", cov), tag("q", "r2", "C", cvg)}},
		{"equal leaf: own tag beats ancestor's copy", "10.1.2.0/24", []route.Tag{
			tag("p", "r1", "A", eq), tag("p", "r1", "B", cov), tag("p", "r1", "BIG", cov)}},
		{"covered by nested ranges", "10.1.2.128/25", []route.Tag{
			tag("p", "r1", "B", cov), tag("p", "r1", "BIG", cov), tag("p", "r1", "A", cov)}},
		{"covered, no kid inside", "10.1.200.0/24", []route.Tag{
			tag("p", "r1", "BIG", cov), tag("p", "r1", "A", cov), tag("p", "r1", "B", cov)}},
		{"covered and covering", "10.1.2.0/23", []route.Tag{
			tag("p", "r1", "BIG", cov), tag("p", "r1", "A", cov), tag("p", "r1", "B", cov), tag("q", "r2", "C", cvg)}},
		{"covered by root only", "10.200.0.0/16", []route.Tag{tag("p", "r1", "BIG", cov)}},
		{"aggregate covering everything", "0.0.0.0/0", []route.Tag{
			tag("p", "r1", "BIG", cvg), tag("p", "r1", "A", cvg), tag("p", "r1", "B", cvg), tag("q", "r2", "C", cvg),
			tag("p", "", "H", cvg), tag("p", "r3", "G", cvg)}},
		{"host bits ignored", "10.1.2.77/24", []route.Tag{
			tag("p", "r1", "A", eq), tag("p", "r1", "B", cov), tag("p", "r1", "BIG", cov)}},
		{"shadowed region-less tag dropped", "192.0.2.0/24", []route.Tag{tag("p", "", "H", eq), tag("p", "r3", "G", eq)}},
		{"v6 equal with kid", "2001:db8::/32", []route.Tag{tag("v6", "r6", "", eq), tag("v6", "r6b", "", cvg)}},
		{"v6 covered", "2001:db8:1:2::/64", []route.Tag{tag("v6", "r6", "", cov), tag("v6", "r6b", "", cov)}},
		{"v6 aggregate", "2001::/16", []route.Tag{tag("v6", "r6", "", cvg), tag("v6", "r6b", "", cvg)}},
		{"v4-mapped v6 is not v4", "::ffff:10.0.0.0/104", nil},
		{"invalid prefix", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p netip.Prefix
			if tt.prefix != "" {
				p = netip.MustParsePrefix(tt.prefix)
			}
			// Twice: the second answer may come from the covering cache.
			for range 2 {
				got := s.Match(p)
				if !sameTags(got, tt.want) {
					t.Fatalf("Match(%s):\n got %v\nwant %v", tt.prefix, got, tt.want)
				}
			}
		})
	}
}

// sameTags compares as sets: the order of tags is not part of the contract.
func sameTags(a, b []route.Tag) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, compareTags)
	slices.SortFunc(b, compareTags)
	return slices.Equal(a, b)
}

func TestMatchResultIsNotClobbered(t *testing.T) {
	s := testSet()
	p := netip.MustParsePrefix("10.1.2.0/24")
	got := s.Match(p)
	_ = append(got, tag("x", "x", "x", route.MatchEqual)) // a careless caller
	if again := s.Match(p); len(again) != 3 || again[0].Provider != "p" {
		t.Fatalf("shared result changed: %v", again)
	}
	if s2 := s.Match(netip.MustParsePrefix("10.1.2.0/25")); len(s2) != 3 {
		t.Fatalf("covered result changed: %v", s2)
	}
}

func TestMatchAllocs(t *testing.T) {
	s := testSet()
	tests := []struct {
		name   string
		prefix string
	}{
		{"no match", "11.0.0.0/24"},
		{"no match v6", "2a00::/32"},
		{"equal", "10.1.2.0/24"},
		{"covered leaf", "10.1.2.0/25"},
		{"covered, kids elsewhere", "10.1.200.0/24"},
		{"covering (cached)", "10.0.0.0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := netip.MustParsePrefix(tt.prefix)
			s.Match(p) // warm the covering cache
			if n := testing.AllocsPerRun(100, func() { s.Match(p) }); n != 0 {
				t.Errorf("%v allocations per Match, want 0", n)
			}
		})
	}
	t.Run("Tag no match", func(t *testing.T) {
		u := route.Update{Prefix: netip.MustParsePrefix("11.0.0.0/24"), Attrs: &route.Attrs{
			ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{3356, 64999}}}}}
		if n := testing.AllocsPerRun(100, func() { s.Tag(&u) }); n != 0 {
			t.Errorf("%v allocations per Tag, want 0", n)
		}
	})
}

func TestTag(t *testing.T) {
	s := testSet()
	path := func(asns ...uint32) *route.Attrs {
		return &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: asns}}}
	}
	tests := []struct {
		name string
		u    route.Update
		want []route.Tag
	}{
		{"range beats origin", route.Update{Prefix: netip.MustParsePrefix("10.1.3.0/24"), Attrs: path(3356, 64500)},
			[]route.Tag{tag("q", "r2", "C", route.MatchEqual), tag("p", "r1", "A", route.MatchCovered),
				tag("p", "r1", "B", route.MatchCovered), tag("p", "r1", "BIG", route.MatchCovered)}},
		{"origin on one watch list", route.Update{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Attrs: path(3356, 64501)},
			[]route.Tag{tag("q", "", "", route.MatchOriginASN)}},
		{"origin on two watch lists", route.Update{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Attrs: path(3356, 64500, 64500)},
			[]route.Tag{tag("p", "", "", route.MatchOriginASN), tag("q", "", "", route.MatchOriginASN)}},
		{"origin in a one-member AS_SET", route.Update{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Attrs: &route.Attrs{ASPath: route.ASPath{
			{Type: route.ASSequence, ASNs: []uint32{3356}}, {Type: route.ASSet, ASNs: []uint32{64501}}}}},
			[]route.Tag{tag("q", "", "", route.MatchOriginASN)}},
		{"unwatched origin", route.Update{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Attrs: path(3356, 64999)}, nil},
		{"withdrawal in range", route.Update{Prefix: netip.MustParsePrefix("10.200.0.0/16"), Withdraw: true},
			[]route.Tag{tag("p", "r1", "BIG", route.MatchCovered)}},
		{"withdrawal outside ranges", route.Update{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Withdraw: true}, nil},
		{"stale tags are replaced", route.Update{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Attrs: path(1),
			Tags: []route.Tag{tag("old", "", "", route.MatchEqual)}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.u
			s.Tag(&u)
			if !sameTags(u.Tags, tt.want) {
				t.Errorf("tags %v, want %v", u.Tags, tt.want)
			}
		})
	}
}

func TestNilSet(t *testing.T) {
	var s *Set
	u := route.Update{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Tags: []route.Tag{{Provider: "x"}}}
	s.Tag(&u)
	if s.Match(u.Prefix) != nil || u.Tags != nil || s.Len() != 0 || s.Summary() != nil {
		t.Error("nil set matched something")
	}
}

func TestSummary(t *testing.T) {
	s := NewSet([]Entry{
		entry("10.0.0.0/16", "p", "r1", "A"),
		entry("10.0.0.0/16", "p", "r1", "B"),   // same prefix, other service: counted once
		entry("10.0.1.0/24", "p", "r1", "A"),   // inside the /16: no extra space
		entry("10.9.0.0/24", "p", "r1", "A"),   // disjoint
		entry("2001:db8::/47", "p", "r1", "A"), // 2 /48s
		entry("2001:db8:ff::/64", "p", "r1", "A"),
		entry("192.0.2.0/24", "q", "", ""),
	}, nil)
	want := []GroupSummary{
		{Provider: "p", Region: "r1", Services: 2, V4Ranges: 3, V6Ranges: 2, V4Addresses: 65536 + 256, V6Slash48s: 2 + 1.0/65536},
		{Provider: "q", Region: "", Services: 1, V4Ranges: 1, V4Addresses: 256},
	}
	if got := s.Summary(); !slices.Equal(got, want) {
		t.Errorf("summary\n got %+v\nwant %+v", got, want)
	}
	s = NewSet([]Entry{
		entry("10.0.0.0/16", "p", "r1", "A"),
		entry("10.0.0.0/24", "p", "r2", "A"), // inside r1's range: counted once for p
		entry("10.1.0.0/24", "p", "", "B"),
	}, nil)
	wantP := []GroupSummary{{Provider: "p", Services: 2, V4Ranges: 3, V4Addresses: 65536 + 256}}
	if got := s.ProviderSummary(); !slices.Equal(got, wantP) {
		t.Errorf("provider summary\n got %+v\nwant %+v", got, wantP)
	}
}

// TestSharedFilesMatchThemselves loads every provider's real file and
// checks that each published prefix matches itself with its own tags, and
// that AWS's AMAZON+EC2 double listings merge.
func TestSharedFilesMatchThemselves(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "cloud")
	specs := []string{
		filepath.Join(dir, "aws-ip-ranges.2021-12-15.json"),
		filepath.Join(dir, "aws-ip-ranges.2025-07-24.json"),
		filepath.Join(dir, "gcp-cloud.2025-07-24.json"),
		filepath.Join(dir, "azure-servicetags.2025-07.json"),
		filepath.Join(dir, "oracle-cloud.2025-07-21.json"),
		"cloudflare=" + filepath.Join(dir, "cloudflare-ips-v4.txt"),
		"cloudflare=" + filepath.Join(dir, "cloudflare-ips-v6.txt"),
	}
	for _, spec := range specs {
		t.Run(filepath.Base(spec), func(t *testing.T) {
			l, err := Fetch(context.Background(), spec, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := Build([]*Loaded{l}, nil)
			for _, e := range l.Entries {
				got := s.Match(e.Prefix)
				want := e.Tag
				want.Match = route.MatchEqual
				if !slices.Contains(got, want) && !(want.Region == "" && slices.ContainsFunc(got, func(t route.Tag) bool {
					return t.Match == route.MatchEqual && t.Service == want.Service && t.Region != ""
				})) {
					t.Fatalf("%v: %v lacks %v", e.Prefix, got, want)
				}
			}
		})
	}
	t.Run("aws 2021 us-west-2", func(t *testing.T) {
		s, err := Load(context.Background(), specs[:1], Options{})
		if err != nil {
			t.Fatal(err)
		}
		// 35.80.0.0/12 is listed as AMAZON and EC2 in us-west-2.
		got := s.Match(netip.MustParsePrefix("35.80.0.0/12"))
		for _, svc := range []string{"AMAZON", "EC2"} {
			want := route.Tag{Provider: "aws", Region: "us-west-2", Service: svc, BorderGroup: "us-west-2", Match: route.MatchEqual}
			if !slices.Contains(got, want) {
				t.Errorf("35.80.0.0/12: %v lacks %v", got, want)
			}
		}
		// A /24 inside is covered by both.
		if got := s.Match(netip.MustParsePrefix("35.80.1.0/24")); len(got) < 2 || got[0].Match != route.MatchCovered {
			t.Errorf("35.80.1.0/24: %v", got)
		}
	})
}

// naiveMatch is the definition Match must agree with: every range p
// equals, is inside or covers, one tag per identity by the closest
// relation (equal, covered, covering).
func naiveMatch(entries []Entry, p netip.Prefix) []route.Tag {
	byPrefix := map[netip.Prefix][]route.Tag{}
	for _, e := range entries {
		if !slices.Contains(byPrefix[e.Prefix], e.Tag) {
			byPrefix[e.Prefix] = append(byPrefix[e.Prefix], e.Tag)
		}
	}
	best := map[route.Tag]route.MatchKind{}
	rank := map[route.MatchKind]int{route.MatchEqual: 3, route.MatchCovered: 2, route.MatchCovering: 1}
	for r, tags := range byPrefix {
		var m route.MatchKind
		switch {
		case r == p:
			m = route.MatchEqual
		case r.Bits() < p.Bits() && r.Contains(p.Addr()):
			m = route.MatchCovered
		case p.Bits() < r.Bits() && p.Contains(r.Addr()):
			m = route.MatchCovering
		default:
			continue
		}
		for _, t := range dropShadowed(tags) {
			if rank[m] > rank[best[t]] {
				best[t] = m
			}
		}
	}
	var out []route.Tag
	for t, m := range best {
		t.Match = m
		out = append(out, t)
	}
	return out
}

// TestMatchAgainstNaive compares Match with naiveMatch on random nested
// sets, IPv4 and IPv6, including repeated queries (the cache).
func TestMatchAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	randPrefix := func(v6 bool) netip.Prefix {
		// A small space (10.0.0.0/12, 2001:db8::/44) makes nesting common.
		if v6 {
			var b [16]byte
			copy(b[:], netip.MustParseAddr("2001:db8::").AsSlice())
			b[5] = byte(rng.IntN(16))
			b[6] = byte(rng.IntN(256))
			return netip.PrefixFrom(netip.AddrFrom16(b), 40+rng.IntN(25)).Masked()
		}
		a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(16)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		return netip.PrefixFrom(a, 8+rng.IntN(25)).Masked()
	}
	providers, regions, services := []string{"p", "q"}, []string{"", "r1", "r2"}, []string{"", "A", "B"}
	for round := range 20 {
		var entries []Entry
		for range 1 + rng.IntN(200) {
			entries = append(entries, Entry{Prefix: randPrefix(rng.IntN(4) == 0), Tag: route.Tag{
				Provider: providers[rng.IntN(2)], Region: regions[rng.IntN(3)], Service: services[rng.IntN(3)]}})
		}
		s := NewSet(entries, nil)
		for range 300 {
			var p netip.Prefix
			if rng.IntN(3) == 0 {
				p = entries[rng.IntN(len(entries))].Prefix
				p = netip.PrefixFrom(p.Addr(), min(max(p.Bits()+rng.IntN(9)-4, 0), p.Addr().BitLen())).Masked()
			} else {
				p = randPrefix(rng.IntN(4) == 0)
			}
			want := naiveMatch(entries, p)
			for range 2 {
				if got := s.Match(p); !sameTags(got, want) {
					t.Fatalf("round %d: Match(%v):\n got %v\nwant %v", round, p, got, want)
				}
			}
		}
	}
}

// FuzzMatch builds a set from fuzzed IPv4 ranges (5 bytes each: address,
// length, and the low bits of the length byte's neighbour as the tag) and
// checks every query against naiveMatch.
func FuzzMatch(f *testing.F) {
	f.Add([]byte{10, 0, 0, 0, 8, 10, 1, 0, 0, 16, 10, 1, 2, 0, 24}, []byte{10, 1, 0, 0, 15})
	f.Add([]byte{0, 0, 0, 0, 0, 192, 0, 2, 0, 24}, []byte{192, 0, 0, 0, 8, 192, 0, 2, 128, 25})
	f.Fuzz(func(t *testing.T, ranges, queries []byte) {
		prefix := func(b []byte) netip.Prefix {
			return netip.PrefixFrom(netip.AddrFrom4([4]byte(b[:4])), int(b[4]%33)).Masked()
		}
		var entries []Entry
		for i := 0; i+5 <= len(ranges) && len(entries) < 64; i += 5 {
			entries = append(entries, Entry{Prefix: prefix(ranges[i:]), Tag: route.Tag{
				Provider: string('a' + rune(ranges[i+4]>>6)), Region: string('r' + rune(ranges[i+3]&1))}})
		}
		s := NewSet(entries, nil)
		for i := 0; i+5 <= len(queries); i += 5 {
			p := prefix(queries[i:])
			if got, want := s.Match(p), naiveMatch(entries, p); !sameTags(got, want) {
				t.Fatalf("Match(%v):\n got %v\nwant %v", p, got, want)
			}
		}
	})
}
