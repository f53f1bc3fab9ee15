package store

import (
	"context"
	"errors"
	"hash/maphash"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Change notices let a Redis reader answer an exact route lookup from its
// route cache without a round trip. Writers publish, atomically with each
// change (inside applyScript and the session transaction), the changed
// prefix or "peers" on the {inv} channel; every Redis store subscribes in
// Run. A cached read is trusted while no notice may have touched it since
// it was read:
//
//   - a notice bumps a counter of the prefix's bucket (or the peers
//     counter); a read remembers the counter it saw before asking Redis,
//     so a notice racing with the read voids it;
//   - while the subscription is not confirmed, or after it broke, nothing
//     is trusted: the epoch changes on every (re)subscription, voiding
//     everything read before;
//   - a process bumps the counters of its own writes before they return,
//     so it reads its own writes;
//   - nothing is trusted longer than trustMax, in case a notice is lost in
//     a way the subscription cannot see (between Redis Cluster nodes).
//
// Another process's write can therefore be missed only for the time its
// notice travels (or, on a silent network failure, until the ping below
// fails or trustMax passes).

const (
	invBuckets = 1 << 16
	// peersNotice is the notice of a session change, eventsNotice of an
	// event put.
	peersNotice  = "peers"
	eventsNotice = "events"
	// trustMax bounds how long a read is trusted without asking Redis: the
	// one loss a subscription cannot see is a notice dropped between
	// Redis Cluster nodes.
	trustMax = 30 * time.Second
	// invPing is how often an idle subscription is checked.
	invPing = 2 * time.Second
)

type invalidations struct {
	live    atomic.Bool
	epoch   atomic.Uint64
	peers   atomic.Uint64
	events  atomic.Uint64
	buckets [invBuckets]atomic.Uint32
	seed    maphash.Seed
	now     func() time.Time
}

// stamp is what a read saw before it asked Redis.
type stamp struct {
	epoch  uint64
	bucket uint32
	peers  uint64
	events uint64
	at     time.Time
	live   bool
}

func newInvalidations() *invalidations {
	return &invalidations{seed: maphash.MakeSeed(), now: time.Now}
}

func (v *invalidations) bucket(p string) *atomic.Uint32 {
	return &v.buckets[maphash.String(v.seed, p)%invBuckets]
}

// stamp is taken before reading p (and the peers' token) from Redis.
func (v *invalidations) stamp(p netip.Prefix) stamp {
	// live before epoch: a subscription confirmed in between bumps the
	// epoch, so the stamp is void rather than wrongly trusted.
	live := v.live.Load()
	return stamp{live: live, epoch: v.epoch.Load(), bucket: v.bucket(p.String()).Load(), peers: v.peers.Load(),
		events: v.events.Load(), at: v.now()}
}

// prefixCurrent reports whether what was read under s for p is still
// current.
func (v *invalidations) prefixCurrent(p netip.Prefix, s stamp) bool {
	return v.current(s) && v.bucket(p.String()).Load() == s.bucket
}

// peersCurrent reports whether the session statuses read under s are
// still current.
func (v *invalidations) peersCurrent(s stamp) bool {
	return v.current(s) && v.peers.Load() == s.peers
}

// eventsCurrent reports whether events read under s are still current.
func (v *invalidations) eventsCurrent(s stamp) bool {
	return v.current(s) && v.events.Load() == s.events
}

func (v *invalidations) current(s stamp) bool {
	return s.live && v.live.Load() && v.epoch.Load() == s.epoch && v.now().Sub(s.at) < trustMax
}

// note applies one notice.
func (v *invalidations) note(payload string) {
	switch payload {
	case peersNotice:
		v.peers.Add(1)
		return
	case eventsNotice:
		v.events.Add(1)
		return
	}
	v.bucket(payload).Add(1)
}

// setLive records a confirmed (true) or broken (false) subscription.
func (v *invalidations) setLive(live bool) {
	v.live.Store(live)
	v.epoch.Add(1)
}

// runInvalidations keeps the subscription to the notices until ctx ends,
// subscribing again after any failure.
func (r *Redis) runInvalidations(ctx context.Context) error {
	defer r.inv.setLive(false)
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		wasLive := false
		err := r.subscribeNotices(ctx, &wasLive)
		r.inv.setLive(false)
		if ctx.Err() != nil {
			return nil
		}
		if wasLive {
			// Log the loss once, not every retry while Redis is away.
			r.log.Warn("store: redis change notices interrupted; lookups ask Redis until resubscribed", "err", err)
			backoff = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

// subscribeNotices runs one subscription until it fails. A subscription
// that neither delivers nor answers a ping within two ping intervals is
// treated as broken (a silent network failure gives no error).
func (r *Redis) subscribeNotices(ctx context.Context, wasLive *bool) error {
	ps := r.c.Subscribe(ctx, r.k.inv())
	// Closing unblocks a receive at once when ctx ends.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	defer ps.Close()
	seen, pinged := time.Now(), time.Now()
	for {
		msg, err := ps.ReceiveTimeout(ctx, invPing/2)
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.inv.setLive(true)
				*wasLive = true
			}
		case *redis.Message:
			r.inv.note(m.Payload)
		}
		if err == nil {
			seen = time.Now()
			continue
		}
		var ne net.Error
		if ctx.Err() != nil || !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		if time.Since(seen) > 2*invPing {
			return errors.New("no answer to ping")
		}
		if time.Since(pinged) >= invPing {
			pinged = time.Now()
			if err := ps.Ping(ctx); err != nil {
				return err
			}
		}
	}
}
