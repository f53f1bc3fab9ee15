package store

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"routewatch/route"
)

func TestPlanPath(t *testing.T) {
	tests := []struct {
		name                              string
		withdraw, held, sameAttrs, sameEp bool
		want                              pathAction
		changed                           bool
		delta                             int64
	}{
		{name: "announce new path", want: addPath, changed: true, delta: 1},
		{name: "announce other attributes", held: true, want: replacePath, changed: true},
		{name: "re-announce same session", held: true, sameAttrs: true, sameEp: true, want: keepPath},
		{name: "re-announce new session", held: true, sameAttrs: true, want: confirmPath},
		{name: "other attributes new session", held: true, want: replacePath, changed: true},
		{name: "withdraw held", withdraw: true, held: true, want: removePath, changed: true, delta: -1},
		{name: "withdraw absent", withdraw: true, want: keepPath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planPath(tc.withdraw, tc.held, tc.sameAttrs, tc.sameEp)
			if got != tc.want || got.changed() != tc.changed || got.delta() != tc.delta {
				t.Errorf("planPath = %d (changed %v delta %d), want %d (%v %d)", got, got.changed(), got.delta(),
					tc.want, tc.changed, tc.delta)
			}
		})
	}
}

func TestRetag(t *testing.T) {
	b := []route.Tag{{Provider: "aws", Region: "b"}}
	if retag(awsW2, nil) || retag(awsW2, awsW2) || !retag(nil, awsW2) || !retag(awsW2, b) {
		t.Error("retag: an update without tags keeps them, other tags replace them")
	}
}

func TestPlanIndexes(t *testing.T) {
	p1, p2 := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")
	aws := encodeTags(awsW2)
	gcp := encodeTags([]route.Tag{{Provider: "gcp", Region: "x"}})
	ups := []route.Update{
		ann(1, peerA, "192.0.2.0/24", awsW2, 3333, 16509),
		ann(2, peerA, "192.0.2.0/24", nil, 3333, 16509), // unchanged
		ann(3, peerB, "198.51.100.0/24", nil, 2914, 16509),
		wd(4, peerA, "192.0.2.0/24"),
	}
	ups[3].Source = "bgp" // the newest source wins
	res := []applyResult{
		{changed: true, delta: 1, n: 1, tagsChanged: true, oldTags: gcp, tags: aws},
		{n: 1, tags: aws},
		{changed: true, delta: 1, n: 1, tags: ""},
		{changed: true, delta: -1, n: 0, tags: aws},
	}
	pl := planIndexes(ups, res, true)
	awsG, gcpG := route.Group{Provider: "aws", Region: "us-west-2"}, route.Group{Provider: "gcp", Region: "x"}
	if pl.changed != 3 {
		t.Errorf("changed = %d, want 3", pl.changed)
	}
	if !pl.members[awsG][p1] || pl.members[gcpG][p1] || len(pl.members) != 2 {
		t.Errorf("members = %v: p1 moves from gcp to aws", pl.members)
	}
	if pl.paths[p1] != 0 || pl.paths[p2] != 1 {
		t.Errorf("paths = %v", pl.paths)
	}
	if _, ok := pl.asns[2914][prefixKey(p2)]; !ok || len(pl.asns[16509]) != 2 {
		t.Errorf("asns = %v", pl.asns)
	}
	pa := pl.peers[vantageOf(peerA)]
	if pa.asn != peerA.ASN || pa.source != "bgp" || !pa.last.Equal(at(4)) || pa.paths[pathRef{p1, 0}] {
		t.Errorf("peer A = %+v: withdrawn path absent, last = newest update", pa)
	}
	if gc := pl.groups[awsG]; gc == nil || gc.buckets[minuteOf(at(1))] != 2 || !gc.last.Equal(at(4)) {
		t.Errorf("aws changes = %+v, want 2 (unchanged update not counted)", gc)
	}
	if pl.groups[gcpG] != nil {
		t.Error("untagged prefix counted for a group")
	}
	if none := planIndexes(ups, res, false); len(none.asns) != 0 || len(none.paths) != 0 || len(none.peers[vantageOf(peerA)].paths) != 0 {
		t.Error("withIndexes false still plans the prefix, ASN and path sets")
	}
	if none := planIndexes(ups, res, false); none.changed != 3 || !none.members[awsG][p1] || none.peers[vantageOf(peerA)].source != "bgp" {
		t.Error("withIndexes false must still plan groups and peers")
	}
}

// TestApplyScriptFollowsPlanPath runs every planPath case through the Lua
// script on Redis and checks its reply and the stored path against the
// planner: the script is the atomic executor of the same rule.
func TestApplyScriptFollowsPlanPath(t *testing.T) {
	ctx := context.Background()
	r := newTestRedis(t, RedisConfig{})
	pfx := netip.MustParsePrefix("192.0.2.0/24")
	field := routeField(routeKey{peerA, 0})
	a1, a2 := string(encodeAttrs(path(3333, 16509))), string(encodeAttrs(path(2914, 16509)))
	run := func(op, epoch, tm, attrs string) applyResult {
		cmds, err := r.evalAll(ctx, []evalCall{{s: applyScript, keys: []string{r.k.routes(pfx), r.k.hist(pfx)},
			args: []any{field, op, epoch, tm, attrs, "", "100", "1000000000000000", newToken(), pfx.String(), r.k.inv()}}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := parseApplyReply(cmds[0])
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	stored := func() (string, bool) {
		v, err := r.c.HGet(ctx, r.k.routes(pfx), field).Result()
		return v, err == nil
	}
	tests := []struct {
		name     string
		setup    func()
		withdraw bool
		attrs    string
		held     bool
		sameA    bool
		sameE    bool
	}{
		{name: "announce new path", attrs: a1},
		{name: "announce other attributes", setup: func() { run("A", "1", "1", a1) }, attrs: a2, held: true},
		{name: "re-announce same session", setup: func() { run("A", "1", "1", a1) }, attrs: a1, held: true, sameA: true, sameE: true},
		{name: "re-announce new session", setup: func() { run("A", "0", "1", a1) }, attrs: a1, held: true, sameA: true},
		{name: "withdraw held", setup: func() { run("A", "1", "1", a1) }, withdraw: true, held: true},
		{name: "withdraw absent", withdraw: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.c.Del(ctx, r.k.routes(pfx), r.k.hist(pfx))
			if tc.setup != nil {
				tc.setup()
			}
			hist0 := r.c.LLen(ctx, r.k.hist(pfx)).Val()
			want := planPath(tc.withdraw, tc.held, tc.sameA, tc.sameE)
			op := "A"
			if tc.withdraw {
				op = "W"
			}
			got := run(op, "1", "5", tc.attrs)
			if got.changed != want.changed() || got.delta != want.delta() {
				t.Errorf("script: changed %v delta %d; planPath %d: changed %v delta %d",
					got.changed, got.delta, want, want.changed(), want.delta())
			}
			v, ok := stored()
			switch want {
			case removePath, keepPath:
				if want == removePath && ok {
					t.Errorf("path still stored: %q", v)
				}
			case addPath, replacePath:
				if !ok || !strings.HasPrefix(v, "5 1\n") {
					t.Errorf("stored %q, want since 5, epoch 1", v)
				}
			case confirmPath:
				if !ok || !strings.HasPrefix(v, "1 1\n") {
					t.Errorf("stored %q, want since kept (1), epoch 1", v)
				}
			}
			if n := r.c.LLen(ctx, r.k.hist(pfx)).Val() - hist0; (n == 1) != want.changed() {
				t.Errorf("history grew by %d; a change adds one entry", n)
			}
		})
	}
}
