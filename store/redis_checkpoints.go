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

// PutCheckpoint implements Checkpoints: one field of the {ck} hash, so
// every checkpoint lives on one cluster slot and a put is one atomic HSET.
func (r *Redis) PutCheckpoint(ctx context.Context, name string, data []byte, at time.Time) (err error) {
	defer r.observe("put_checkpoint", time.Now(), &err)
	if name == "" {
		return fmt.Errorf("store: put checkpoint: %w: empty name", ErrInvalid)
	}
	v := make([]byte, 0, 21+len(data))
	v = strconv.AppendInt(v, at.UnixNano(), 10)
	v = append(v, '\n')
	v = append(v, data...)
	if err := r.c.HSet(ctx, r.k.checkpoints(), name, v).Err(); err != nil {
		return fmt.Errorf("store: put checkpoint: %w", err)
	}
	return nil
}

// Checkpoint implements Checkpoints.
func (r *Redis) Checkpoint(ctx context.Context, name string) (_ []byte, _ time.Time, err error) {
	defer r.observe("checkpoint", time.Now(), &err)
	v, err := r.c.HGet(ctx, r.k.checkpoints(), name).Result()
	if errors.Is(err, redis.Nil) {
		return nil, time.Time{}, ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: checkpoint: %w", err)
	}
	ts, data, ok := strings.Cut(v, "\n")
	n, perr := strconv.ParseInt(ts, 10, 64)
	if !ok || perr != nil {
		return nil, time.Time{}, fmt.Errorf("store: checkpoint %q: %w: header", name, ErrCorrupt)
	}
	return []byte(data), time.Unix(0, n).UTC(), nil
}
