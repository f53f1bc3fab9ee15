package mrtdata

import (
	"container/heap"
	"errors"
	"io"
)

// RecordStream is a time-ordered stream of records: a *Reader, a chain of
// files read one after the other, or a Merger itself. Next follows the
// Reader's contract: io.EOF at a clean end; an error wrapping ErrCorrupt
// for a record that did not decode (the stream goes on); any other error
// is final. The record is valid until the next call to Next.
type RecordStream interface {
	Next() (Record, error)
}

// Merger merges record streams by record time (a k-way merge on a heap),
// for replaying several collectors' archives as one stream. Records of
// equal time come in stream order (the order given to NewMerger), so a
// merge is deterministic. Each stream must be time-ordered itself; the
// merge does not reorder within a stream.
//
// Only one record per stream is held at a time: a stream is advanced when
// the record it produced last has been handed out and Next is called
// again, so the Reader's buffer reuse stays safe.
type Merger struct {
	streams []RecordStream
	heads   mergeHeap
	// pending is the stream whose record was returned last: it is
	// advanced by the next call to Next.
	pending int
	primed  int // streams [0, primed) have had their first record read
}

// NewMerger returns a Merger over streams.
func NewMerger(streams ...RecordStream) *Merger {
	return &Merger{streams: streams, pending: -1,
		heads: mergeHeap{idx: make([]int, 0, len(streams)), slots: make([]mergeHead, len(streams))}}
}

// MergeError is a stream's error as the Merger reports it: Stream is the
// index of the stream (as given to NewMerger). It unwraps to the
// stream's error, so errors.Is(err, ErrCorrupt) and errors.As with
// *RecordError / *TruncatedError work through it.
type MergeError struct {
	Stream int
	Err    error
}

func (e *MergeError) Error() string { return e.Err.Error() }
func (e *MergeError) Unwrap() error { return e.Err }

type mergeHead struct {
	rec Record
	err error // a corrupt record's error, returned with it
}

// mergeHeap orders stream indices by their head record; the records stay
// in per-stream slots, so heap moves copy ints, not records.
type mergeHeap struct {
	idx   []int
	slots []mergeHead
}

func (h *mergeHeap) Len() int { return len(h.idx) }
func (h *mergeHeap) Less(i, j int) bool {
	a, b := h.idx[i], h.idx[j]
	ta, tb := h.slots[a].rec.Time, h.slots[b].rec.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a < b
}
func (h *mergeHeap) Swap(i, j int) { h.idx[i], h.idx[j] = h.idx[j], h.idx[i] }
func (h *mergeHeap) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *mergeHeap) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}

// advance reads the next record of stream i into the heap. A final error
// ends the stream and is returned (wrapped in a *MergeError); io.EOF ends
// it silently.
func (m *Merger) advance(i int) error {
	rec, err := m.streams[i].Next()
	switch {
	case err == nil || errors.Is(err, ErrCorrupt):
		m.heads.slots[i] = mergeHead{rec: rec, err: err}
		heap.Push(&m.heads, i)
		return nil
	case err == io.EOF:
		return nil
	default:
		return &MergeError{Stream: i, Err: err}
	}
}

// Next returns the earliest record among the streams' next records and
// the index of its stream. A corrupt record comes with its error (a
// *MergeError wrapping ErrCorrupt), in its place in time. A stream's final
// error (truncated archive, failed download) is returned as a *MergeError
// as soon as the stream hits it, with stream set and a zero Record; that
// stream ends there and the others go on: call Next again. io.EOF when
// every stream has ended.
func (m *Merger) Next() (Record, int, error) {
	// Streams are primed one by one so that a final error of one of
	// them can be returned without losing the others.
	for m.primed < len(m.streams) {
		i := m.primed
		m.primed++
		if err := m.advance(i); err != nil {
			return Record{}, i, err
		}
	}
	if m.pending >= 0 {
		i := m.pending
		m.pending = -1
		if err := m.advance(i); err != nil {
			return Record{}, i, err
		}
	}
	if m.heads.Len() == 0 {
		return Record{}, -1, io.EOF
	}
	i := heap.Pop(&m.heads).(int)
	m.pending = i
	h := &m.heads.slots[i]
	if h.err != nil {
		return h.rec, i, &MergeError{Stream: i, Err: h.err}
	}
	return h.rec, i, nil
}
