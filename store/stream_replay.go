package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

type entryIDKey struct{}

// StreamEntryID returns the ID of the update stream entry a Handler is
// called for ("" outside a consumer's call).
func StreamEntryID(ctx context.Context) string {
	id, _ := ctx.Value(entryIDKey{}).(string)
	return id
}

func withEntryID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, entryIDKey{}, id)
}

// CompareStreamIDs orders two stream entry IDs ("ms-seq") as Redis does:
// -1, 0 or +1. "" and malformed IDs order as 0-0.
func CompareStreamIDs(a, b string) int {
	am, as := splitStreamID(a)
	bm, bs := splitStreamID(b)
	switch {
	case am != bm:
		return cmpU64(am, bm)
	default:
		return cmpU64(as, bs)
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func splitStreamID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, err := strconv.ParseUint(m, 10, 64)
	if err != nil {
		return 0, 0
	}
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

// Delivered returns the ID of the last entry the consumer group was
// given ("" when the group or the stream does not exist yet).
func (c *Consumer) Delivered(ctx context.Context) (string, error) {
	groups, err := c.r.c.XInfoGroups(ctx, c.stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return "", nil
		}
		return "", fmt.Errorf("store: stream groups: %w", err)
	}
	for _, g := range groups {
		if g.Name == c.cfg.Group {
			if g.LastDeliveredID == "0-0" {
				return "", nil
			}
			return g.LastDeliveredID, nil
		}
	}
	return "", nil
}

// ReplayResult says what Replay re-read.
type ReplayResult struct {
	// Entries handed to the handler, up to and including Last.
	Entries int
	Last    string
	// Gap: the stream no longer holds the start entry: it was trimmed up
	// to it, and entries after it may be gone too (never re-read).
	Gap bool
}

// Replay re-reads, in order, the entries after `after` (exclusive) up to
// `upto` (inclusive; the group's Delivered ID at start): entries the group
// already gave out — most of them acknowledged — that the caller's state
// does not reflect (it was restored from a checkpoint taken at `after`).
// Nothing is acknowledged here; the handler must skip what it already
// applied when the group delivers such an entry again (its own pending
// entries, or a dead consumer's, claimed). A failing handler is retried
// (Retry) until it succeeds or ctx ends, as are Redis errors.
func (c *Consumer) Replay(ctx context.Context, after, upto string, h Handler) (ReplayResult, error) {
	res := ReplayResult{Last: after}
	if upto == "" || CompareStreamIDs(upto, after) <= 0 {
		return res, nil
	}
	// Trimming removes the oldest entries first: while the checkpoint's
	// own entry is still there, so is everything after it.
	if held, err := c.r.c.XRangeN(ctx, c.stream, after, after, 1).Result(); err == nil && len(held) == 0 {
		res.Gap = true
		c.log.Warn("store: the update stream no longer holds the checkpoint's entry: entries after it may have been trimmed (raise store.redis.stream_max_len)",
			"checkpoint", after)
	}
	for ctx.Err() == nil {
		msgs, err := c.r.c.XRangeN(ctx, c.stream, "("+res.Last, upto, c.cfg.Count).Result()
		if err != nil {
			c.log.Warn("store: stream replay", "err", err)
			if !c.pause(ctx) {
				break
			}
			continue
		}
		for _, m := range msgs {
			if !c.replayOne(ctx, h, m) {
				return res, ctx.Err()
			}
			res.Entries++
			res.Last = m.ID
		}
		if int64(len(msgs)) < c.cfg.Count || res.Last == upto {
			return res, nil
		}
	}
	return res, ctx.Err()
}

// replayOne hands one entry to h until it succeeds (false: ctx ended).
func (c *Consumer) replayOne(ctx context.Context, h Handler, m redis.XMessage) bool {
	raw, _ := m.Values["b"].(string)
	b, err := DecodeBatch([]byte(raw))
	if err != nil {
		c.log.Error("store: replay: skipping corrupt stream entry", "id", m.ID, "err", err)
		return true
	}
	for {
		err := h(withEntryID(ctx, m.ID), b)
		if err == nil || errors.Is(err, ErrInvalid) {
			return true
		}
		c.log.Warn("store: replay: handler failed; retrying", "id", m.ID, "err", err)
		if !c.pause(ctx) {
			return false
		}
	}
}

// pause waits Retry; false when ctx ended first.
func (c *Consumer) pause(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(c.cfg.Retry):
		return true
	}
}
