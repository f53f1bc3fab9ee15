package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

func ms(t time.Time) int64 { return t.UnixMilli() }

// Enqueue implements Store.
func (r *Redis) Enqueue(ctx context.Context, ds []Delivery) (err error) {
	defer r.observe("enqueue", time.Now(), &err)
	calls := make([]evalCall, 0, len(ds))
	for _, d := range ds {
		if d.ID == "" {
			return fmt.Errorf("store: enqueue: %w: empty id", ErrInvalid)
		}
		js, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("store: enqueue: %w", err)
		}
		calls = append(calls, evalCall{s: enqueueScript, keys: []string{r.k.obData(), r.k.obDue(), r.k.obFinished()},
			args: []any{d.ID, js, ms(d.NextAttempt)}})
	}
	if _, err := r.evalAll(ctx, calls); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	return nil
}

// Due implements Store: one script picks and leases atomically, so two
// workers never get the same delivery while the lease lasts.
func (r *Redis) Due(ctx context.Context, now time.Time, lease time.Duration, limit int) (_ []Delivery, err error) {
	defer r.observe("due", time.Now(), &err)
	if limit <= 0 {
		return []Delivery{}, nil
	}
	cmds, err := r.evalAll(ctx, []evalCall{{s: dueScript, keys: []string{r.k.obData(), r.k.obDue()},
		args: []any{ms(now), ms(now.Add(lease)), limit}}})
	if err != nil {
		return nil, fmt.Errorf("store: due: %w", err)
	}
	vals, err := cmds[0].StringSlice()
	if err != nil {
		return nil, fmt.Errorf("store: due: %w", err)
	}
	out := make([]Delivery, 0, len(vals))
	for _, v := range vals {
		var d Delivery
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return nil, fmt.Errorf("store: due: %w: %v", ErrCorrupt, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Reschedule implements Store.
func (r *Redis) Reschedule(ctx context.Context, d Delivery) (err error) {
	defer r.observe("reschedule", time.Now(), &err)
	cur, err := r.c.HGet(ctx, r.k.obData(), d.ID).Bytes()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: reschedule: %w", err)
	}
	var stored Delivery
	if err := json.Unmarshal(cur, &stored); err != nil {
		return fmt.Errorf("store: reschedule: %w: %v", ErrCorrupt, err)
	}
	stored.Attempts, stored.NextAttempt, stored.LastError = d.Attempts, d.NextAttempt, d.LastError
	js, _ := json.Marshal(stored)
	cmds, err := r.evalAll(ctx, []evalCall{{s: rescheduleScript, keys: []string{r.k.obData(), r.k.obDue()},
		args: []any{d.ID, js, ms(d.NextAttempt)}}})
	if err != nil {
		return fmt.Errorf("store: reschedule: %w", err)
	}
	if n, _ := cmds[0].Int(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Finish implements Store.
func (r *Redis) Finish(ctx context.Context, id string, o Outcome, at time.Time) (err error) {
	defer r.observe("finish", time.Now(), &err)
	cmds, err := r.evalAll(ctx, []evalCall{{s: finishScript,
		keys: []string{r.k.obData(), r.k.obDue(), r.k.obFinished(), r.k.obOutcome()},
		args: []any{id, string(o), ms(at), r.cfg.FinishedDeliveries}}})
	if err != nil {
		return fmt.Errorf("store: finish: %w", err)
	}
	if n, _ := cmds[0].Int(); n == 0 {
		return ErrNotFound
	}
	return nil
}
