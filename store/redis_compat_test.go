package store

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// v1State is a session change as format version 1 wrote it into a
// session history list (peer: address and ASN only).
func v1State(s route.PeerState) []byte {
	e := &enc{b: []byte(batchMagicV1)}
	e.uv(0)
	e.uv(1)
	e.time(s.Time)
	e.str(s.Source)
	e.addr(s.Peer.Addr)
	e.uv(uint64(s.Peer.ASN))
	e.u8(uint8(s.Old))
	e.u8(uint8(s.New))
	e.boolean(s.EndOfRIB)
	e.str(s.Reason)
	return e.b
}

// TestRedisReadsVersion1Data: Redis data survives upgrades. Keys, route
// fields and session entries written before vantage points (literal
// version 1 layout below) read as before; a plain peer's new writes land
// on the same fields (no duplicate path), and a vantage point at the same
// address is a path of its own.
func TestRedisReadsVersion1Data(t *testing.T) {
	ctx := context.Background()
	s := newTestRedis(t, RedisConfig{SummaryTTL: -1})
	raw := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	defer raw.Close()
	pre := s.cfg.KeyPrefix
	pfx := "192.0.2.0/24"
	up := state(0, peerA, route.StateOpenConfirm, route.StateEstablished)
	pipe := raw.TxPipeline()
	pipe.HSet(ctx, pre+":{p:"+pfx+"}:r", "198.51.100.1 3333 0", nanos(at(1))+" 1\n"+string(encodeAttrs(path(3333, 16509))),
		"\x00n", "1", "\x00tags", encodeTags(awsW2))
	pipe.ZAdd(ctx, pre+":{i}:pfx4", redis.Z{Member: prefixKey(netip.MustParsePrefix(pfx))})
	pipe.SAdd(ctx, pre+":{g}:all", groupName(awsW2[0].Group()))
	pipe.SAdd(ctx, pre+":{g}:m:"+groupName(awsW2[0].Group()), pfx)
	pipe.SAdd(ctx, pre+":{peers}:all", "198.51.100.1")
	pipe.HSet(ctx, pre+":{peers}:p:198.51.100.1", "addr", "198.51.100.1", "asn", "3333", "src", "test", "known", "1",
		"state", strconv.Itoa(int(route.StateEstablished)), "since", nanos(at(0)), "flaps", "0", "epoch", "1", "seen", "2>6", "last", nanos(at(1)))
	pipe.SAdd(ctx, pre+":{peers}:n:198.51.100.1", pfx+" 0")
	pipe.LPush(ctx, pre+":{peers}:h:198.51.100.1", v1State(up))
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	got := routesByPeer(t, s, pfx)
	if r, ok := got[peerA]; len(got) != 1 || !ok || r.Stale || !r.Since.Equal(at(1)) {
		t.Fatalf("version 1 routes = %+v", got)
	}
	ps := peersByKey(t, s)
	if p := ps[peerA]; len(ps) != 1 || p.State != route.StateEstablished || p.Prefixes != 1 {
		t.Errorf("version 1 peers = %+v", ps)
	}
	if sh, err := s.SessionHistory(ctx, peerA, 0); err != nil || len(sh) != 1 || sh[0] != up {
		t.Errorf("version 1 session history = %+v %v", sh, err)
	}
	mustApply(t, s, ann(2, peerA, pfx, awsW2, 3333, 174, 16509), ann(2, peerARRC00, pfx, awsW2, 3333, 16509))
	got = routesByPeer(t, s, pfx)
	if len(got) != 2 || len(got[peerA].Attrs.ASPath[0].ASNs) != 3 || got[peerARRC00].Stale {
		t.Errorf("after new writes: routes = %+v", got)
	}
	fields, err := raw.HKeys(ctx, pre+":{p:"+pfx+"}:r").Result()
	var paths []string
	for _, f := range fields {
		if !strings.HasPrefix(f, "\x00") {
			paths = append(paths, f)
		}
	}
	if err != nil || len(paths) != 2 {
		t.Errorf("path fields = %q %v, want the version 1 field rewritten and rrc00's", paths, err)
	}
	var old *route.Attrs
	for _, h := range history(t, s, pfx) {
		if h.Peer == peerA {
			old = h.Old
		}
	}
	if old == nil || len(old.ASPath[0].ASNs) != 2 {
		t.Errorf("the plain peer's change does not replace the version 1 path: old = %+v", old)
	}
	mustStates(t, s, state(3, peerA, route.StateEstablished, route.StateIdle))
	if sh, err := s.SessionHistory(ctx, peerA, 0); err != nil || len(sh) != 2 || sh[1] != up || sh[0].New != route.StateIdle {
		t.Errorf("mixed-version session history = %+v %v", sh, err)
	}
	if got := routesByPeer(t, s, pfx); !got[peerA].Stale || got[peerARRC00].Stale {
		t.Errorf("after the plain session went down: routes = %+v", got)
	}
}
