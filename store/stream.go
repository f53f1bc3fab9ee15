package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Publish appends one batch to the update stream (XADD, trimmed
// approximately to StreamMaxLen batches). When it returns nil the batch is
// in Redis; consumers process it at least once.
func (r *Redis) Publish(ctx context.Context, b Batch) (err error) {
	defer r.observe("publish", time.Now(), &err)
	if err := r.c.XAdd(ctx, &redis.XAddArgs{
		Stream: r.k.stream(r.cfg.Stream),
		MaxLen: r.cfg.StreamMaxLen,
		Approx: true,
		Values: []any{"b", EncodeBatch(b)},
	}).Err(); err != nil {
		return fmt.Errorf("store: publish: %w", err)
	}
	r.m.published.Inc()
	return nil
}

// ConsumerConfig configures one member of a consumer group on the update
// stream. Several processes with the same Group share the work.
type ConsumerConfig struct {
	Group string `yaml:"group"`
	// Name must be stable across restarts of the same process so its
	// unacknowledged entries are re-read (default: hostname-pid).
	Name  string `yaml:"name"`
	Count int64  `yaml:"count"`
	// Block is how long one read waits for new entries.
	Block time.Duration `yaml:"block"`
	// ClaimIdle: entries pending longer than this at another consumer
	// are taken over (XAUTOCLAIM), so a dead consumer's work is redone.
	ClaimIdle time.Duration `yaml:"claim_idle"`
	// Retry is the pause after a failed handler or Redis error.
	Retry time.Duration `yaml:"retry"`
}

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	if c.Group == "" {
		c.Group = "analyzer"
	}
	if c.Name == "" {
		h, _ := os.Hostname()
		c.Name = h + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Count <= 0 {
		c.Count = 16
	}
	if c.Block <= 0 {
		c.Block = 2 * time.Second
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.Retry <= 0 {
		c.Retry = time.Second
	}
	return c
}

// Handler processes one batch. An error leaves the entry pending so it is
// delivered again; handlers must therefore be idempotent (Store is). An
// error wrapping ErrInvalid instead drops the entry (counted, logged).
// StreamEntryID(ctx) is the entry's ID.
type Handler func(ctx context.Context, b Batch) error

// Consumer reads the update stream as one member of a consumer group.
type Consumer struct {
	r      *Redis
	cfg    ConsumerConfig
	stream string
	log    *slog.Logger
}

// NewConsumer returns a consumer of r's update stream.
func (r *Redis) NewConsumer(cfg ConsumerConfig) *Consumer {
	cfg = cfg.withDefaults()
	return &Consumer{r: r, cfg: cfg, stream: r.k.stream(r.cfg.Stream),
		log: r.log.With("stream", r.cfg.Stream, "group", cfg.Group, "consumer", cfg.Name)}
}

// ApplyTo returns a Handler that writes batches into st (states first, so
// re-announcements after a session comes back land in the new session).
func ApplyTo(st Store) Handler {
	return func(ctx context.Context, b Batch) error {
		if len(b.States) > 0 {
			if err := st.ApplyPeerStates(ctx, b.States); err != nil {
				return err
			}
		}
		if len(b.Updates) > 0 {
			return st.ApplyUpdates(ctx, b.Updates)
		}
		return nil
	}
}

// Run consumes until ctx ends: first this consumer's own pending entries
// (left by a crash), then new ones, periodically claiming entries that
// dead consumers left pending. Redis errors are logged and retried; Run
// returns nil when ctx ends.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	for {
		err := c.ensureGroup(ctx)
		if err == nil {
			break
		}
		c.log.Warn("store: stream consumer", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.cfg.Retry):
		}
	}
	pending := true // re-read our own unacknowledged entries first
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		var err error
		switch {
		case pending:
			var n int
			n, err = c.readPending(ctx, h)
			if err == nil && n == 0 {
				pending = false
			}
		case time.Since(lastClaim) >= c.cfg.ClaimIdle/2:
			err = c.claim(ctx, h)
			if err == nil {
				lastClaim = time.Now()
			}
		default:
			err = c.readNew(ctx, h)
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if isNoGroup(err) {
			// Redis lost the group (came back empty): recreate it.
			_, _ = c.r.checkRun(ctx, true)
			if gerr := c.ensureGroup(ctx); gerr != nil {
				err = gerr
			} else {
				continue
			}
		}
		c.log.Warn("store: stream consumer", "err", err)
		pending = true // anything that failed is pending: retry it first
		select {
		case <-ctx.Done():
		case <-time.After(c.cfg.Retry):
		}
	}
	return nil
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

func (c *Consumer) ensureGroup(ctx context.Context) error {
	err := c.r.c.XGroupCreateMkStream(ctx, c.stream, c.cfg.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("store: create consumer group: %w", err)
	}
	return nil
}

func (c *Consumer) read(ctx context.Context, id string, block time.Duration) ([]redis.XMessage, error) {
	args := &redis.XReadGroupArgs{Group: c.cfg.Group, Consumer: c.cfg.Name,
		Streams: []string{c.stream, id}, Count: c.cfg.Count, Block: block}
	if block == 0 {
		args.Block = -1 // no BLOCK argument: return at once
	}
	res, err := c.r.c.XReadGroup(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if isNoGroup(err) {
		if gerr := c.ensureGroup(ctx); gerr != nil {
			return nil, gerr
		}
		res, err = c.r.c.XReadGroup(ctx, args).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, nil
	}
	return res[0].Messages, nil
}

func (c *Consumer) readPending(ctx context.Context, h Handler) (int, error) {
	msgs, err := c.read(ctx, "0", 0)
	if err != nil {
		return 0, err
	}
	return len(msgs), c.handle(ctx, h, msgs)
}

func (c *Consumer) readNew(ctx context.Context, h Handler) error {
	block := min(c.cfg.Block, c.cfg.ClaimIdle/2)
	msgs, err := c.read(ctx, ">", block)
	if err != nil {
		return err
	}
	return c.handle(ctx, h, msgs)
}

// claim takes over entries idle at other (presumably dead) consumers.
func (c *Consumer) claim(ctx context.Context, h Handler) error {
	start := "0-0"
	for {
		msgs, next, err := c.r.c.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: c.stream, Group: c.cfg.Group,
			Consumer: c.cfg.Name, MinIdle: c.cfg.ClaimIdle, Start: start, Count: c.cfg.Count}).Result()
		if err != nil {
			if isNoGroup(err) {
				return c.ensureGroup(ctx)
			}
			return err
		}
		if len(msgs) > 0 {
			c.r.m.claimed.Add(float64(len(msgs)))
			c.log.Info("store: claimed stream entries from an idle consumer", "entries", len(msgs))
		}
		if err := c.handle(ctx, h, msgs); err != nil {
			return err
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
}

func (c *Consumer) handle(ctx context.Context, h Handler, msgs []redis.XMessage) error {
	for _, m := range msgs {
		raw, _ := m.Values["b"].(string)
		b, err := DecodeBatch([]byte(raw))
		if err != nil {
			// Never decodable: acknowledge so it does not block the group.
			c.r.m.consumed.WithLabelValues("corrupt").Inc()
			c.log.Error("store: dropping corrupt stream entry", "id", m.ID, "err", err)
		} else if err := h(withEntryID(ctx, m.ID), b); errors.Is(err, ErrInvalid) {
			// Would fail the same way forever: acknowledge and count.
			c.r.m.consumed.WithLabelValues("invalid").Inc()
			c.log.Error("store: dropping invalid stream entry", "id", m.ID, "err", err)
		} else if err != nil {
			c.r.m.consumed.WithLabelValues("error").Inc()
			return fmt.Errorf("store: handle stream entry %s: %w", m.ID, err)
		} else {
			c.r.m.consumed.WithLabelValues("ok").Inc()
		}
		if err := c.r.c.XAck(ctx, c.stream, c.cfg.Group, m.ID).Err(); err != nil {
			return fmt.Errorf("store: ack stream entry %s: %w", m.ID, err)
		}
	}
	return nil
}
