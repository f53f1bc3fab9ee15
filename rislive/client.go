package rislive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"routewatch/route"
)

// Bootstrapper loads the state RIS Live cannot send (it has no table):
// a RIB and the updates after it, from the archives, up to about now.
// Bootstrap sends it on out in time order, with Peer.Collector set to the
// RRC (so its routes are the same vantage points as the live ones), and
// returns the time up to which the state is complete. The client marks
// every bootstrap update TableDump: a re-sync, never a change.
type Bootstrapper interface {
	Bootstrap(ctx context.Context, out chan<- route.Batch) (until time.Time, err error)
}

// Client is the RIS Live source: one websocket, subscriptions derived from
// the watched ranges, decoded messages out as route.Batch.
type Client struct {
	cfg    Config
	ranges Ranges
	boot   Bootstrapper
	logger *slog.Logger
	m      *metrics
	ignore ignoreSet
	hosts  map[string]bool
	rs     *resync

	lastMsg atomic.Int64 // unix nanos of the last ris_message, 0 before
	seq     atomic.Uint64
}

// New returns a client. rg gives the watched ranges (nil: beacons and
// peer states only); boot may be nil (no bootstrap: the state is what the
// live stream brings).
func New(cfg Config, rg Ranges, boot Bootstrapper, logger *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rislive: config: %w", err)
	}
	cfg = cfg.withDefaults()
	ig, _ := parseIgnore(cfg.IgnorePeers)
	c := &Client{cfg: cfg, ranges: rg, boot: boot, logger: logger.With("source", "rislive"), ignore: ig, rs: newResync()}
	if len(cfg.Hosts) > 0 {
		c.hosts = make(map[string]bool, len(cfg.Hosts))
		for _, h := range cfg.Hosts {
			c.hosts[CollectorName(h)] = true
		}
	}
	c.m = newMetrics(reg, func() float64 { return sinceSeconds(c.lastMsg.Load(), c.cfg.Now()) })
	return c, nil
}

// sessionEnd says why a connection ended; reason labels the metric.
type sessionEnd struct {
	reason string
	err    error
}

func (e *sessionEnd) Error() string { return "rislive: " + e.reason + ": " + e.err.Error() }
func (e *sessionEnd) Unwrap() error { return e.err }

func ended(reason string, err error) error { return &sessionEnd{reason: reason, err: err} }

// Run connects, subscribes and streams until ctx ends, reconnecting with
// exponential backoff and jitter. It returns nil when ctx ends.
func (c *Client) Run(ctx context.Context, out chan<- route.Batch) error {
	attempt := 0
	for {
		received, err := c.session(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		reason := "read"
		var se *sessionEnd
		if errors.As(err, &se) {
			reason = se.reason
		}
		c.m.reconnects.WithLabelValues(reason).Inc()
		if received {
			attempt = 0
		}
		wait := backoff(attempt, c.cfg.BackoffMin, c.cfg.BackoffMax, jitter())
		attempt++
		c.logger.Warn("RIS Live connection ended; reconnecting", "url", redact(c.cfg.URL), "reason", reason, "err", err, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

type item struct {
	seq uint64
	m   Message
}

// session runs one connection; received reports whether any ris_message
// arrived (the backoff starts over then).
func (c *Client) session(ctx context.Context, out chan<- route.Batch) (received bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, resp, err := websocket.Dial(dctx, c.cfg.URL, &websocket.DialOptions{
		HTTPHeader: http.Header{"User-Agent": []string{"routewatch"}},
	})
	cancel()
	if err != nil {
		return false, ended("dial", err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	defer conn.CloseNow()
	conn.SetReadLimit(c.cfg.ReadLimit)

	cold := c.lastMsg.Load() == 0
	connected := c.cfg.Now()
	subs := c.subscriptions()
	if err := c.send(ctx, conn, "ris_subscribe", subs); err != nil {
		return false, err
	}
	c.m.subscriptions.Set(float64(len(subs)))
	c.logger.Info("RIS Live connected", "url", redact(c.cfg.URL), "subscriptions", len(subs))
	if !cold {
		// Whatever happened while we were away is unknown: each route's
		// next update is a re-sync.
		c.rs.startGap(c.seq.Load(), connected, c.cfg.GapResync)
	}

	var lastPong atomic.Int64
	var got atomic.Bool
	queue := make(chan item, c.cfg.QueueSize)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.read(gctx, conn, queue, &lastPong, &got) })
	g.Go(func() error { return c.emit(gctx, queue, out) })
	g.Go(func() error {
		return c.keep(gctx, conn, subs, &lastPong, watchdog{pingInterval: c.cfg.PingInterval, silence: c.cfg.SilenceTimeout, connected: connected})
	})
	err = g.Wait()
	conn.Close(websocket.StatusNormalClosure, "")
	return got.Load(), err
}

type clientMessage struct {
	Type string `json:"type"`
	Data any    `json:"data,omitempty"`
}

func (c *Client) send(ctx context.Context, conn *websocket.Conn, typ string, subs []Subscription) error {
	for _, s := range subs {
		if err := c.write(ctx, conn, clientMessage{Type: typ, Data: s}); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) write(ctx context.Context, conn *websocket.Conn, m clientMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return ended("write", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.Write(wctx, websocket.MessageText, b); err != nil {
		return ended("write", err)
	}
	return nil
}

func (c *Client) subscriptions() []Subscription {
	var ps []netip.Prefix
	var asns []uint32
	if c.ranges != nil {
		ps, asns = c.ranges.Watched()
	}
	return Subscriptions(ps, asns, c.cfg.Hosts)
}

// read is the websocket reader. It never blocks on the pipeline: a full
// queue drops the message, counts it and marks its routes unverified.
func (c *Client) read(ctx context.Context, conn *websocket.Conn, queue chan<- item, lastPong *atomic.Int64, got *atomic.Bool) error {
	dec := NewDecoder()
	for n := 0; ; n++ {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return ended("read", err)
		}
		now := c.cfg.Now()
		m, err := dec.Decode(data)
		if err != nil {
			c.invalid(n, len(data), err)
			continue
		}
		switch m.Kind {
		case KindPong:
			lastPong.Store(now.UnixNano())
			c.m.messages.WithLabelValues(string(KindPong)).Inc()
			continue
		case KindError:
			c.m.messages.WithLabelValues(string(KindError)).Inc()
			c.logger.Warn("RIS Live error message", "message", m.Error, "index", n)
			continue
		case KindMessage:
		default:
			c.m.messages.WithLabelValues(string(m.Kind)).Inc()
			continue
		}
		c.m.messages.WithLabelValues(m.Type).Inc()
		c.m.lag.Observe(max(now.Sub(m.Time).Seconds(), 0))
		c.lastMsg.Store(now.UnixNano())
		got.Store(true)
		if (c.hosts != nil && !c.hosts[m.Host]) || c.ignore.ignores(m.Peer.Addr, m.Peer.ASN) {
			continue
		}
		if len(m.Updates) == 0 && m.State == nil {
			continue
		}
		seq := c.seq.Add(1)
		select {
		case queue <- item{seq: seq, m: m}:
		default:
			c.m.dropped.Inc()
			c.rs.dropped(seq, &m, now, c.cfg.GapResync)
		}
	}
}

// invalid counts and reports an undecodable message: the first ones of a
// connection, then every 1000th.
func (c *Client) invalid(index, size int, err error) {
	reason := ReasonJSON
	var de *DecodeError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	c.m.messages.WithLabelValues("invalid").Inc()
	c.m.invalid.WithLabelValues(reason).Inc()
	if index < 10 || index%1000 == 0 {
		c.logger.Warn("RIS Live message skipped", "url", redact(c.cfg.URL), "index", index, "bytes", size, "reason", reason, "err", err)
	}
}

// emit moves queued messages to the pipeline, after the bootstrap, in
// batches; a state change closes its batch so that it follows its updates.
func (c *Client) emit(ctx context.Context, queue <-chan item, out chan<- route.Batch) error {
	if c.boot != nil {
		if err := c.bootstrap(ctx, out); err != nil {
			return err
		}
	}
	for {
		var it item
		select {
		case <-ctx.Done():
			return nil
		case it = <-queue:
		}
		var b route.Batch
	fill:
		for {
			c.m.synced.Add(float64(c.rs.apply(it.seq, it.m.Updates, c.cfg.Now())))
			b.Updates = append(b.Updates, it.m.Updates...)
			if it.m.State != nil {
				b.States = append(b.States, *it.m.State)
				break
			}
			if len(b.Updates) >= c.cfg.BatchSize {
				break
			}
			select {
			case it = <-queue:
			default:
				break fill
			}
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
}

// bootstrap runs the Bootstrapper, marking what it sends as re-syncs. A
// failed bootstrap is logged and counted: the live stream goes on.
func (c *Client) bootstrap(ctx context.Context, out chan<- route.Batch) error {
	mid := make(chan route.Batch, 16)
	var until time.Time
	var berr error
	go func() {
		defer close(mid)
		until, berr = c.boot.Bootstrap(ctx, mid)
	}()
	n := 0
	for b := range mid {
		for i := range b.Updates {
			b.Updates[i].TableDump = true
		}
		n += len(b.Updates)
		select {
		case out <- b:
		case <-ctx.Done():
			for range mid {
			}
			return nil
		}
	}
	if berr != nil {
		if ctx.Err() != nil {
			return nil
		}
		c.m.bootstraps.WithLabelValues("error").Inc()
		c.logger.Error("RIS Live bootstrap from the archives failed; the live stream goes on without a table", "err", berr, "updates", n)
		return nil
	}
	c.m.bootstraps.WithLabelValues("ok").Inc()
	c.rs.endGap(until)
	c.logger.Info("RIS Live bootstrap done", "updates", n, "until", until.UTC().Format(time.RFC3339))
	return nil
}

// keep pings, watches liveness and follows ranges refreshes.
func (c *Client) keep(ctx context.Context, conn *websocket.Conn, subs []Subscription, lastPong *atomic.Int64, wd watchdog) error {
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	check := time.NewTicker(c.cfg.RangesCheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			now := c.cfg.Now()
			if err := wd.check(now, unixTime(lastPong.Load()), unixTime(c.lastMsg.Load())); err != nil {
				reason := "no_pong"
				if errors.Is(err, errSilence) {
					reason = "silence"
					c.logger.Error("RIS Live feed dead: no message within silence_timeout", "silence_timeout", c.cfg.SilenceTimeout)
				}
				return ended(reason, err)
			}
			if err := c.write(ctx, conn, clientMessage{Type: "ping"}); err != nil {
				return err
			}
		case <-check.C:
			next := c.subscriptions()
			if slices.Equal(next, subs) {
				continue
			}
			if err := c.resubscribe(ctx, conn, subs, next); err != nil {
				return err
			}
			subs = next
		}
	}
}

// resubscribe moves from the old subscriptions to the new ones: the
// removed are unsubscribed, the added subscribed.
func (c *Client) resubscribe(ctx context.Context, conn *websocket.Conn, old, next []Subscription) error {
	var gone, added []Subscription
	for _, s := range old {
		if !slices.Contains(next, s) {
			gone = append(gone, s)
		}
	}
	for _, s := range next {
		if !slices.Contains(old, s) {
			added = append(added, s)
		}
	}
	if err := c.send(ctx, conn, "ris_unsubscribe", gone); err != nil {
		return err
	}
	if err := c.send(ctx, conn, "ris_subscribe", added); err != nil {
		return err
	}
	c.m.subscriptions.Set(float64(len(next)))
	c.logger.Info("RIS Live subscriptions follow the ranges", "added", len(added), "removed", len(gone), "subscriptions", len(next))
	return nil
}

func unixTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
