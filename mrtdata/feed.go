package mrtdata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"routewatch/route"
)

// notMRTAfter is how many leading records may fail to decode before an
// input is judged not to be MRT at all.
const notMRTAfter = 16

// feedBatch bounds the updates of one route.Batch the Feed sends.
const feedBatch = 1024

// NoRIBNote is the note a Feed gives when its stream starts with update
// messages rather than a table dump.
const NoRIBNote = "the input starts with update messages, not a RIB: " +
	"the first update of each route only sets its state, so changes are seen from each route's second update on " +
	"(give the RIB dump that precedes the updates first, e.g. a RIS bview or RouteViews rib file)"

// ErrNotMRT marks an input that is empty or whose leading records do not
// decode: it is not an MRT archive.
var ErrNotMRT = errors.New("not an MRT file")

// OrderError reports an input that starts before the previous input ends:
// the inputs of one stream must be given oldest first. Replaying them
// anyway would date the later input's state changes by the earlier one.
type OrderError struct {
	Prev    string    // the input before
	PrevEnd time.Time // its last update (for a table dump: its dump time)
	Input   string
	Start   time.Time // the input's first record
}

func (e *OrderError) Error() string {
	return fmt.Sprintf("mrtdata: inputs out of time order: %s starts at %s, before %s ends (%s); give the inputs oldest first",
		e.Input, e.Start.UTC().Format(time.RFC3339), e.Prev, e.PrevEnd.UTC().Format(time.RFC3339))
}

// FeedStats counts what a Feed read over all its inputs.
type FeedStats struct {
	Stats
	Inputs  int   // inputs opened
	Local   int64 // BGP4MP *_LOCAL records skipped by Run
	Corrupt int64 // records that did not decode (also in Errors["corrupt"])
	// Last is the time of the latest record Run passed on.
	Last time.Time
}

// Feed reads MRT inputs (files, http(s) URLs, "-" for stdin) in order as
// one time-ordered stream. It is the one MRT read loop: Walk hands out
// records (mrt dump), Run sends route.Batch to the pipeline like every
// other source (replay, serve's startup replay).
//
// Run skips BGP4MP *_LOCAL records (what the recorder itself sent), notes
// a stream that starts without a RIB and refuses an input that starts
// before the previous one ends (an *OrderError naming both). Every input
// counts corrupt records, reported with file, record and offset; an empty
// input, or one whose first records all fail, is ErrNotMRT.
type Feed struct {
	Inputs []string
	// Stdin is read for the input "-" (nil: os.Stdin).
	Stdin io.Reader
	// Open opens one input (nil: Open, with Stdin for "-"); the CLI
	// wraps it to show progress.
	Open func(ctx context.Context, name string) (io.ReadCloser, error)
	// KeepGoing reports a failed input to InputFailed and goes on with
	// the next one (serve's warm-up); otherwise the first failure ends
	// Walk and Run.
	KeepGoing   bool
	InputFailed func(name string, err error)
	// Corrupt sees every corrupt record (nil: counted only).
	Corrupt func(*RecordError)
	// Note receives advice for the operator, e.g. NoRIBNote (nil: none).
	Note func(string)
	// Reuse (may be nil) gives back batches the consumer is done with
	// (pipeline.Deps.Recycle); Run refills their slices.
	Reuse <-chan route.Batch
	// Sort merges the inputs by record time (a Merger over all of them,
	// opened at once) instead of reading them one after the other and
	// refusing one that starts before the previous one ends (`replay
	// --sort`). Records of equal time come in input order.
	Sort bool

	stats FeedStats
	order orderCheck
	// sawRecord: the no-RIB decision was made.
	sawRecord bool
}

// Stats returns what was read so far; call it after Walk or Run returned.
func (f *Feed) Stats() FeedStats { return f.stats }

// Walk reads every input in order and calls fn for each decoded record,
// *_LOCAL ones included. rec and its slices are valid until fn returns.
// An error from fn ends the input like a read error.
func (f *Feed) Walk(ctx context.Context, fn func(input string, rec *Record) error) error {
	if f.stats.Skipped == nil {
		f.stats.Skipped, f.stats.Errors = map[string]int64{}, map[string]int64{}
	}
	if f.Sort {
		return f.walkSorted(ctx, fn)
	}
	for _, name := range f.Inputs {
		err := f.input(ctx, name, fn)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("mrtdata: %s: %w", name, ctx.Err())
		}
		if !f.KeepGoing {
			return err
		}
		if f.InputFailed != nil {
			f.InputFailed(name, err)
		}
	}
	return nil
}

func (f *Feed) open(ctx context.Context, name string) (io.ReadCloser, error) {
	if f.Open != nil {
		return f.Open(ctx, name)
	}
	if name == "-" {
		in := f.Stdin
		if in == nil {
			in = os.Stdin
		}
		rc, err := Decompress(io.NopCloser(in))
		if err != nil {
			return nil, fmt.Errorf("mrtdata: open stdin: %w", err)
		}
		return rc, nil
	}
	return Open(ctx, name)
}

// input is the read loop of one input.
func (f *Feed) input(ctx context.Context, name string, fn func(string, *Record) error) error {
	rc, err := f.open(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	f.stats.Inputs++
	r := NewReader(rc, name)
	defer func() { f.add(r.Stats()) }()
	good := 0
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return fmt.Errorf("mrtdata: %s: %w", name, ctx.Err())
		}
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var re *RecordError
		switch {
		case errors.As(err, &re):
			f.stats.Corrupt++
			if f.Corrupt != nil {
				f.Corrupt(re)
			}
			if good == 0 && rec.Index+1 >= notMRTAfter {
				return fmt.Errorf("mrtdata: %s: %w (no valid record among the first %d)", name, ErrNotMRT, rec.Index+1)
			}
			continue
		case err != nil && good == 0:
			return fmt.Errorf("%w (%w)", err, ErrNotMRT)
		case err != nil:
			return err
		}
		good++
		if err := fn(name, &rec); err != nil {
			return err
		}
	}
	switch {
	case good > 0:
		return nil
	case r.Stats().Records == 0:
		return fmt.Errorf("mrtdata: %s: %w (empty input)", name, ErrNotMRT)
	default:
		return fmt.Errorf("mrtdata: %s: %w (no valid record)", name, ErrNotMRT)
	}
}

func (f *Feed) add(s Stats) {
	f.stats.Records += s.Records
	f.stats.Routes += s.Routes
	f.stats.States += s.States
	f.stats.Bytes += s.Bytes
	for k, v := range s.Skipped {
		f.stats.Skipped[k] += v
	}
	for k, v := range s.Errors {
		f.stats.Errors[k] += v
	}
}

// Run sends the inputs' routes and peer state changes to out in record
// order, in batches (a record's state changes end its batch, so they never
// overtake updates), and returns when every input was read. It does not
// close out.
func (f *Feed) Run(ctx context.Context, out chan<- route.Batch) error {
	var b route.Batch
	send := func() error {
		if b.Empty() {
			return nil
		}
		select {
		case out <- b:
			b = route.Batch{}
			select {
			case old := <-f.Reuse:
				b = route.Batch{Updates: old.Updates[:0], States: old.States[:0]}
			default:
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := f.Walk(ctx, func(input string, rec *Record) error {
		if !f.Sort {
			if err := f.order.see(input, rec); err != nil {
				return err
			}
		}
		if rec.Local {
			f.stats.Local++
			return nil // what the recorder sent, not what it learned
		}
		if rec.Time.After(f.stats.Last) {
			f.stats.Last = rec.Time
		}
		if len(rec.Updates) > 0 && !f.sawRecord {
			f.sawRecord = true
			if !rec.Updates[0].TableDump && f.Note != nil {
				f.Note(NoRIBNote)
			}
		}
		// The reader reuses its slices between records: copy.
		b.Updates = append(b.Updates, rec.Updates...)
		b.States = append(b.States, rec.States...)
		if len(rec.States) > 0 || len(b.Updates) >= feedBatch {
			return send()
		}
		return nil
	})
	if serr := send(); err == nil {
		err = serr
	}
	return err
}

// orderCheck finds an input that starts before the previous one ended.
type orderCheck struct {
	cur, prev       string
	curEnd, prevEnd time.Time
}

func (o *orderCheck) see(input string, rec *Record) error {
	if input != o.cur {
		if o.curEnd.After(o.prevEnd) {
			o.prev, o.prevEnd = o.cur, o.curEnd
		}
		o.cur, o.curEnd = input, time.Time{}
		if !o.prevEnd.IsZero() && rec.Time.Before(o.prevEnd) {
			return &OrderError{Prev: o.prev, PrevEnd: o.prevEnd, Input: input, Start: rec.Time}
		}
	}
	// A table dump is a snapshot as of its first record, although
	// writing it takes a while; updates end at their last record.
	if rec.Type == TypeTableDump || rec.Type == TypeTableDumpV2 {
		if o.curEnd.IsZero() {
			o.curEnd = rec.Time
		}
	} else if rec.Time.After(o.curEnd) {
		o.curEnd = rec.Time
	}
	return nil
}
