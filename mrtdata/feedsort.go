package mrtdata

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// sortedInput is one input of a sorted Walk.
type sortedInput struct {
	name   string
	r      *Reader
	good   int  // records handed out
	failed bool // ended by an error: its later records are dropped
}

// walkSorted is Walk for Feed.Sort: every input opened at once, their
// records merged by time. An input's failure ends the walk (or, with
// KeepGoing, that input only), as in the sequential Walk.
func (f *Feed) walkSorted(ctx context.Context, fn func(input string, rec *Record) error) error {
	var ins []*sortedInput
	defer func() {
		for _, in := range ins {
			f.add(in.r.Stats())
		}
	}()
	fail := func(name string, err error) error {
		if !f.KeepGoing {
			return err
		}
		if f.InputFailed != nil {
			f.InputFailed(name, err)
		}
		return nil
	}
	var streams []RecordStream
	for _, name := range f.Inputs {
		rc, err := f.open(ctx, name)
		if err != nil {
			if ferr := fail(name, err); ferr != nil {
				return ferr
			}
			continue
		}
		defer rc.Close()
		f.stats.Inputs++
		in := &sortedInput{name: name, r: NewReader(rc, name)}
		ins = append(ins, in)
		streams = append(streams, in.r)
	}
	m := NewMerger(streams...)
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return fmt.Errorf("mrtdata: sorted inputs: %w", ctx.Err())
		}
		rec, i, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if err := f.sortedError(ins[i], rec, err, fail); err != nil {
				return err
			}
			continue
		}
		in := ins[i]
		if in.failed {
			continue
		}
		in.good++
		if err := fn(in.name, &rec); err != nil {
			return err
		}
	}
	for _, in := range ins {
		if in.good > 0 || in.failed {
			continue
		}
		err := fmt.Errorf("mrtdata: %s: %w (no valid record)", in.name, ErrNotMRT)
		if in.r.Stats().Records == 0 {
			err = fmt.Errorf("mrtdata: %s: %w (empty input)", in.name, ErrNotMRT)
		}
		if ferr := fail(in.name, err); ferr != nil {
			return ferr
		}
	}
	return nil
}

// sortedError handles an input's error from the Merger: a corrupt record
// is counted (and may prove the input is not MRT), any other error ends
// the input.
func (f *Feed) sortedError(in *sortedInput, rec Record, err error, fail func(string, error) error) error {
	if in.failed {
		return nil
	}
	var re *RecordError
	if errors.As(err, &re) {
		f.stats.Corrupt++
		if f.Corrupt != nil {
			f.Corrupt(re)
		}
		if in.good > 0 || rec.Index+1 < notMRTAfter {
			return nil
		}
		err = fmt.Errorf("mrtdata: %s: %w (no valid record among the first %d)", in.name, ErrNotMRT, rec.Index+1)
	} else {
		var me *MergeError
		if errors.As(err, &me) {
			err = me.Err
		}
		if in.good == 0 {
			err = fmt.Errorf("%w (%w)", err, ErrNotMRT)
		}
	}
	in.failed = true
	return fail(in.name, err)
}
