package store

import (
	"context"
	"slices"
	"sync"

	"routewatch/route"
)

// ChangeLogLen bounds the event change log: the oldest records are dropped
// beyond it (both backends; Redis trims approximately).
const ChangeLogLen = 10000

// ChangeRecord is one entry of the ordered event change log: an event
// change and its sequence number (1, 2, …, never reused by a store). The
// SSE stream uses Seq as its event id, so a client that reconnects with
// Last-Event-ID gets exactly what it missed while the log still holds it.
type ChangeRecord struct {
	Seq    uint64
	Change route.ChangeKind
	Event  route.Event
}

// changeLog is Memory's change log: a bounded slice ordered by Seq. Its
// zero value is ready to use.
type changeLog struct {
	mu   sync.Mutex
	seq  uint64
	recs []ChangeRecord
}

// AppendChanges appends event changes in order and returns their sequence
// numbers.
func (m *Memory) AppendChanges(ctx context.Context, chs []route.EventChange) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := &m.changes
	l.mu.Lock()
	defer l.mu.Unlock()
	seqs := make([]uint64, len(chs))
	for i, c := range chs {
		l.seq++
		seqs[i] = l.seq
		l.recs = append(l.recs, ChangeRecord{Seq: l.seq, Change: c.Change, Event: cloneEvent(c.Event)})
	}
	if n := len(l.recs); n > ChangeLogLen {
		l.recs = append(l.recs[:0], l.recs[n-ChangeLogLen:]...)
	}
	return seqs, nil
}

// ChangesAfter returns up to limit records with Seq > after, oldest first
// (limit <= 0: DefaultLimit; capped at MaxLimit). Records older than the
// log's bound are gone: the first record returned may then be later than
// after+1.
func (m *Memory) ChangesAfter(ctx context.Context, after uint64, limit int) ([]ChangeRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	l := &m.changes
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.recs, after+1, func(r ChangeRecord, s uint64) int {
		switch {
		case r.Seq < s:
			return -1
		case r.Seq > s:
			return 1
		}
		return 0
	})
	end := min(i+limit, len(l.recs))
	out := make([]ChangeRecord, 0, end-i)
	for _, r := range l.recs[i:end] {
		out = append(out, ChangeRecord{Seq: r.Seq, Change: r.Change, Event: cloneEvent(r.Event)})
	}
	return out, nil
}

// LastChange is the sequence number of the newest record (0: none yet).
func (m *Memory) LastChange(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l := &m.changes
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, nil
}
