package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Enqueue implements Store.
func (m *Memory) Enqueue(ctx context.Context, ds []Delivery) error {
	for _, d := range ds {
		if d.ID == "" {
			return fmt.Errorf("store: enqueue: %w: empty id", ErrInvalid)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		if _, ok := m.deliveries[d.ID]; ok {
			continue
		}
		if _, ok := m.finished[d.ID]; ok {
			continue
		}
		d.Payload = slices.Clone(d.Payload)
		m.deliveries[d.ID] = &memDelivery{d: d}
	}
	return nil
}
func (md *memDelivery) dueAt() time.Time {
	if md.leaseUntil.After(md.d.NextAttempt) {
		return md.leaseUntil
	}
	return md.d.NextAttempt
}

// Due implements Store.
func (m *Memory) Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	if limit <= 0 {
		return []Delivery{}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*memDelivery
	for _, md := range m.deliveries {
		if !md.dueAt().After(now) {
			due = append(due, md)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		a, b := due[i].dueAt(), due[j].dueAt()
		if !a.Equal(b) {
			return a.Before(b)
		}
		return due[i].d.ID < due[j].d.ID
	})
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]Delivery, len(due))
	for i, md := range due {
		md.leaseUntil = now.Add(lease)
		out[i] = md.d
		out[i].Payload = slices.Clone(md.d.Payload)
	}
	return out, nil
}

// Reschedule implements Store.
func (m *Memory) Reschedule(ctx context.Context, d Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	md := m.deliveries[d.ID]
	if md == nil {
		return ErrNotFound
	}
	md.d.Attempts = d.Attempts
	md.d.NextAttempt = d.NextAttempt
	md.d.LastError = d.LastError
	md.leaseUntil = time.Time{}
	return nil
}

// Finish implements Store.
func (m *Memory) Finish(ctx context.Context, id string, o Outcome, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.deliveries[id]; !ok {
		if _, done := m.finished[id]; done {
			return nil
		}
		return ErrNotFound
	}
	delete(m.deliveries, id)
	m.finished[id] = o
	m.finOrder = append(m.finOrder, id)
	if extra := len(m.finOrder) - m.ret.FinishedDeliveries; extra > 0 {
		for _, old := range m.finOrder[:extra] {
			delete(m.finished, old)
		}
		m.finOrder = slices.Delete(m.finOrder, 0, extra)
	}
	return nil
}
