package rislive

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestSubscriptions(t *testing.T) {
	t.Run("few and wide", func(t *testing.T) {
		var ps []netip.Prefix
		for i := range 2000 { // AWS-sized: thousands of ranges in a few /8s
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(3 + i%40), byte(i / 40), byte(i), 0}), 24))
		}
		ps = append(ps, netip.MustParsePrefix("2600:1f00::/24"), netip.MustParsePrefix("2600:1f01::/32"), netip.MustParsePrefix("2a05:d000::/25"))
		subs := Subscriptions(ps, []uint32{16509, 14618, 16509}, nil)
		prefixSubs, paths, states := 0, 0, 0
		for _, s := range subs {
			switch {
			case s.Prefix != "":
				prefixSubs++
				if !s.MoreSpecific || s.Type != TypeUpdate {
					t.Errorf("prefix subscription %+v without moreSpecific", s)
				}
			case s.Path != "":
				paths++
			case s.Type == TypePeerState:
				states++
			}
		}
		if prefixSubs > 2*maxPrefixSubs+len(beacons) || paths != 2 || states != 1 {
			t.Errorf("%d prefix, %d path, %d state subscriptions", prefixSubs, paths, states)
		}
		// Every watched range stays covered.
		for _, p := range ps {
			if !covered(subs, p) {
				t.Errorf("%s not covered by %v", p, subs)
			}
		}
		for _, b := range []string{"84.205.64.0/24", "84.205.83.0/24", "2001:7fb:fe00::/48", "2001:7fb:fe13::/48"} {
			if !covered(subs, netip.MustParsePrefix(b)) {
				t.Errorf("beacon %s not subscribed", b)
			}
		}
	})
	t.Run("small sets stay exact", func(t *testing.T) {
		subs := Subscriptions([]netip.Prefix{netip.MustParsePrefix("52.94.0.0/22"), netip.MustParsePrefix("52.94.1.0/24")}, nil, nil)
		if subs[0].Prefix != "52.94.0.0/22" || len(subs) != 1+len(beacons)+1 {
			t.Errorf("subscriptions %+v", subs)
		}
	})
	t.Run("per host", func(t *testing.T) {
		subs := Subscriptions(nil, []uint32{16509}, []string{"rrc00", "rrc21"})
		if len(subs) != 2*(len(beacons)+2) || subs[0].Host != "rrc00" || subs[len(subs)-1].Host != "rrc21" {
			t.Errorf("subscriptions %+v", subs)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		a := Subscriptions([]netip.Prefix{netip.MustParsePrefix("13.32.0.0/15"), netip.MustParsePrefix("3.5.0.0/19")}, []uint32{2, 1}, nil)
		b := Subscriptions([]netip.Prefix{netip.MustParsePrefix("3.5.0.0/19"), netip.MustParsePrefix("13.32.0.0/15")}, []uint32{1, 2}, nil)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%v != %v", a, b)
		}
	})
}

func covered(subs []Subscription, p netip.Prefix) bool {
	for _, s := range subs {
		if s.Prefix == "" {
			continue
		}
		sp := netip.MustParsePrefix(s.Prefix)
		if sp.Bits() <= p.Bits() && sp.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func TestWatchdog(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	w := watchdog{pingInterval: 30 * time.Second, silence: 30 * time.Minute, connected: t0}
	for _, tt := range []struct {
		name               string
		now, pong, lastMsg time.Time
		want               error
	}{
		{"fresh connection", t0.Add(time.Second), time.Time{}, time.Time{}, nil},
		{"pong within three intervals", t0.Add(10 * time.Minute), t0.Add(10*time.Minute - 89*time.Second), t0.Add(10 * time.Minute), nil},
		{"no pong for three intervals", t0.Add(10 * time.Minute), t0.Add(10*time.Minute - 91*time.Second), t0.Add(10 * time.Minute), errNoPong},
		{"never a pong", t0.Add(91 * time.Second), time.Time{}, t0.Add(90 * time.Second), errNoPong},
		{"silent feed", t0.Add(31 * time.Minute), t0.Add(31 * time.Minute), t0.Add(10 * time.Second), errSilence},
		{"silence counts from connect", t0.Add(29 * time.Minute), t0.Add(29 * time.Minute), t0.Add(-time.Hour), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.check(tt.now, tt.pong, tt.lastMsg); got != tt.want {
				t.Errorf("check = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		n        int
		r        float64
		min, max time.Duration
	}{
		{0, 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{0, 0.999, 500 * time.Millisecond, time.Second},
		{3, 0.5, 4 * time.Second, 8 * time.Second},
		{20, 0.999, time.Minute, 2 * time.Minute},
		{1000, 0, time.Minute, time.Minute},
	} {
		t.Run(fmt.Sprintf("attempt %d jitter %.1f", tt.n, tt.r), func(t *testing.T) {
			d := backoff(tt.n, time.Second, 2*time.Minute, tt.r)
			if d < tt.min || d > tt.max {
				t.Errorf("backoff = %v, want in [%v, %v]", d, tt.min, tt.max)
			}
		})
	}
}

func TestIgnorePeers(t *testing.T) {
	s, err := parseIgnore([]string{"192.0.2.1", "2001:db8::1", "3333", "as174"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.ignores(netip.MustParseAddr("192.0.2.1"), 1) || !s.ignores(netip.MustParseAddr("2001:db8::1"), 1) ||
		!s.ignores(netip.MustParseAddr("198.51.100.1"), 3333) || !s.ignores(netip.MustParseAddr("198.51.100.1"), 174) ||
		s.ignores(netip.MustParseAddr("198.51.100.1"), 1) {
		t.Error("ignore set wrong")
	}
	if _, err := parseIgnore([]string{"rrc00"}); err == nil || err.Error() != `ris_live.ignore_peers[0]: "rrc00" is neither an address nor an ASN` {
		t.Errorf("error %v", err)
	}
}

func TestAggregateKeepsLonelyPrefixesNarrow(t *testing.T) {
	ps := []netip.Prefix{
		netip.MustParsePrefix("52.94.0.0/24"), netip.MustParsePrefix("52.94.1.0/24"), netip.MustParsePrefix("52.94.3.0/24"),
		netip.MustParsePrefix("99.77.0.0/20"),
	}
	got := aggregate(ps, 2, minBits4)
	want := []netip.Prefix{netip.MustParsePrefix("52.94.0.0/22"), netip.MustParsePrefix("99.77.0.0/20")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("aggregate = %v, want %v", got, want)
	}
}
