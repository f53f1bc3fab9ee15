package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

// ApplyPeerStates implements Store. Session changes are rare, so each is
// an optimistic transaction around the same logic Memory uses.
func (r *Redis) ApplyPeerStates(ctx context.Context, states []route.PeerState) (err error) {
	defer r.observe("apply_peer_states", time.Now(), &err)
	for _, s := range states {
		if !s.Peer.Addr.IsValid() {
			return fmt.Errorf("store: apply peer states: %w peer address", ErrInvalid)
		}
	}
	for _, s := range states {
		v := vantageOf(s.Peer)
		key := r.k.peer(v)
		for attempt := 0; ; attempt++ {
			err := r.c.Watch(ctx, func(tx *redis.Tx) error {
				m, err := tx.HGetAll(ctx, key).Result()
				if err != nil {
					return err
				}
				p := peerFromFields(v, m)
				if !p.applyState(s) && len(m) > 0 {
					return nil
				}
				_, err = tx.TxPipelined(ctx, func(pp redis.Pipeliner) error {
					pp.HSet(ctx, key, p.fields())
					// Readers cache peer statuses under this token; a new
					// random one (not a counter, which restarts after data
					// loss) invalidates every cached status.
					pp.Set(ctx, r.k.peersVer(), newToken(), 0)
					pp.Publish(ctx, r.k.inv(), peersNotice)
					pp.SAdd(ctx, r.k.peers(), v.id())
					pp.LPush(ctx, r.k.sessions(v), EncodeBatch(Batch{States: []route.PeerState{s}}))
					pp.LTrim(ctx, r.k.sessions(v), 0, SessionHistoryLen-1)
					return nil
				})
				return err
			}, key)
			r.inv.note(peersNotice) // read our own writes (see ApplyUpdates)
			if errors.Is(err, redis.TxFailedErr) && attempt < 20 {
				continue
			}
			if err != nil {
				return fmt.Errorf("store: apply peer states: %w", err)
			}
			break
		}
	}
	return nil
}

// SessionHistory implements Store.
func (r *Redis) SessionHistory(ctx context.Context, p route.Peer, limit int) (_ []route.PeerState, err error) {
	defer r.observe("session_history", time.Now(), &err)
	vals, err := r.c.LRange(ctx, r.k.sessions(vantageOf(p)), 0, int64(clampLimit(limit))-1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: session history: %w", err)
	}
	out := make([]route.PeerState, 0, len(vals))
	for _, v := range vals {
		b, err := DecodeBatch([]byte(v))
		if err != nil || len(b.States) != 1 {
			return nil, fmt.Errorf("store: session history: %w", ErrCorrupt)
		}
		out = append(out, b.States[0])
	}
	return out, nil
}

// peerStatuses reads the staleness inputs of the given peers. ver is the
// peers' version token read together with the routes (see peerStatusCache):
// when it matches the cache, no round trip is needed. It returns the token
// the statuses are at least as new as ("" when unknown).
func (r *Redis) peerStatuses(ctx context.Context, addrs map[vantage]bool, ver string) (map[vantage]peerStatus, string, error) {
	if len(addrs) == 0 {
		return nil, ver, nil
	}
	out, missing := r.ps.lookup(ver, addrs)
	if len(missing) == 0 {
		return out, ver, nil
	}
	fresh := len(missing) == len(addrs) // nothing came from the cache
	// The token is re-read before the statuses on the same slot, so they
	// are at least as new as it; a store without a token (nothing changed
	// sessions since it was created) gets one here.
	seen := r.inv.stamp(netip.Prefix{})
	pipe := r.c.Pipeline()
	pipe.SetNX(ctx, r.k.peersVer(), newToken(), 0)
	verCmd := pipe.Get(ctx, r.k.peersVer())
	cmds := make(map[vantage]*redis.SliceCmd, len(missing))
	for _, a := range missing {
		cmds[a] = pipe.HMGet(ctx, r.k.peer(a), "known", "state", "epoch")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", err
	}
	got := make(map[vantage]peerStatus, len(cmds))
	for a, c := range cmds {
		v := c.Val()
		s := func(i int) string { x, _ := v[i].(string); return x }
		st, _ := strconv.Atoi(s(1))
		ep, _ := strconv.ParseUint(s(2), 10, 64)
		ps := peerStatus{Known: s(0) == "1", State: route.SessionState(st), Epoch: ep}
		got[a] = ps
		out[a] = ps
	}
	now := verCmd.Val()
	r.ps.store(now, got, seen)
	if !fresh && now != ver {
		// Statuses cached under ver may predate now: the answer is only
		// as current as its oldest part.
		return out, "", nil
	}
	return out, now, nil
}

// peerStatusCache keeps the peers' session statuses between reads. Every
// session change replaces the {peers}:ver token in the same transaction,
// and readers fetch the token in the pipeline that reads the routes, so a
// cached status is used only while the token it was read under is still
// current: exact, and a route lookup is one round trip instead of two.
// A status fetched after the token may be newer than the token; it is
// cached under the old token and thrown away at the next change, which is
// conservative.
type peerStatusCache struct {
	// RW: every lookup reads it, only a new token or statuses write.
	mu  sync.RWMutex
	ver string
	st  map[vantage]peerStatus
	// seen: what a read that found ver current saw (invalidations).
	seen stamp
}

// observe records that ver was current when a read stamped st asked.
func (c *peerStatusCache) observe(ver string, st stamp) {
	if ver == "" {
		return
	}
	// Most reads see what the last one saw: skip the write lock then. A
	// seen up to a second older only ends the trust (trustMax) earlier.
	c.mu.RLock()
	same := ver == c.ver && c.seen.live == st.live && c.seen.epoch == st.epoch && c.seen.peers == st.peers &&
		st.at.Sub(c.seen.at) < time.Second
	c.mu.RUnlock()
	if same {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ver == c.ver {
		c.seen = st
	}
}

// token returns the cached token while no session-change notice may have
// replaced it since it was last seen current.
func (c *peerStatusCache) token(inv *invalidations) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ver == "" || !inv.peersCurrent(c.seen) {
		return "", false
	}
	return c.ver, true
}

// peerStatusCacheMax bounds the cache; beyond it the cache restarts.
const peerStatusCacheMax = 1 << 16

// lookup returns the cached statuses of addrs under ver and the addresses
// it does not hold (all of them when ver is not the cached token). With
// none missing, the map is the cache's own (never written again: store
// replaces it): read only.
func (c *peerStatusCache) lookup(ver string, addrs map[vantage]bool) (map[vantage]peerStatus, []vantage) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	hit := ver != "" && ver == c.ver
	if hit && len(addrs) <= len(c.st) {
		all := true
		for a := range addrs {
			if _, ok := c.st[a]; !ok {
				all = false
				break
			}
		}
		if all {
			return c.st, nil
		}
	}
	out := make(map[vantage]peerStatus, len(addrs))
	var missing []vantage
	for a := range addrs {
		if st, ok := c.st[a]; ok && hit {
			out[a] = st
			continue
		}
		missing = append(missing, a)
	}
	return out, missing
}

func (c *peerStatusCache) store(ver string, got map[vantage]peerStatus, seen stamp) {
	if ver == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Copy on write: lookup hands the map out.
	st := make(map[vantage]peerStatus, len(c.st)+len(got))
	if ver == c.ver && len(c.st)+len(got) <= peerStatusCacheMax {
		maps.Copy(st, c.st)
	}
	maps.Copy(st, got)
	c.ver, c.st, c.seen = ver, st, seen
}

// Peers implements Store.
func (r *Redis) Peers(ctx context.Context) (_ []PeerInfo, err error) {
	defer r.observe("peers", time.Now(), &err)
	recs, err := r.allPeers(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: peers: %w", err)
	}
	out := make([]PeerInfo, 0, len(recs))
	for _, p := range recs {
		out = append(out, p.info())
	}
	sortPeers(out)
	return out, nil
}
func (r *Redis) allPeers(ctx context.Context) (map[vantage]peerRec, error) {
	addrs, err := r.c.SMembers(ctx, r.k.peers()).Result()
	if err != nil {
		return nil, err
	}
	pipe := r.c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(addrs))
	counts := make([]*redis.IntCmd, len(addrs))
	vs := make([]vantage, len(addrs))
	for i, a := range addrs {
		v, err := parseVantageID(a)
		if err != nil {
			return nil, err
		}
		vs[i] = v
		cmds[i] = pipe.HGetAll(ctx, r.k.peer(v))
		counts[i] = pipe.SCard(ctx, r.k.peerPaths(v))
	}
	if len(addrs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	out := make(map[vantage]peerRec, len(addrs))
	for i, c := range cmds {
		p := peerFromFields(vs[i], c.Val())
		p.Prefixes = int(counts[i].Val())
		out[vs[i]] = p
	}
	return out, nil
}
