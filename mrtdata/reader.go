package mrtdata

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"routewatch/route"
)

// MaxRecordLen caps the length field of one MRT record. Real records stay
// far below (RIB records of a few hundred KiB exist); anything larger is
// taken as a corrupt header.
const MaxRecordLen = 16 << 20

// ErrTruncated marks an archive that ends inside a record header or body.
// It is final: the reader cannot go on.
var ErrTruncated = errors.New("truncated archive")

// ErrCorrupt marks a record whose body does not decode. The reader can go
// on with the next record.
var ErrCorrupt = errors.New("corrupt record")

// RecordError reports a record that did not decode, with its place in the
// archive. It wraps ErrCorrupt; the Reader goes on with the next record.
type RecordError struct {
	File   string
	Index  int64 // 0-based record number
	Offset int64 // byte offset of the record header in the decompressed stream
	Kind   string
	Reason string
	Err    error // ErrCorrupt
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("mrtdata: %s: record %d at offset %d: %s: %s", e.File, e.Index, e.Offset, e.Kind, e.Reason)
}

func (e *RecordError) Unwrap() error { return e.Err }

// TruncatedError reports where an archive stops being readable: it ends
// inside a record ("truncated"), or a record header claims an impossible
// length ("framing"). It wraps ErrTruncated and is final. It is a type of
// its own so that callers treating *RecordError as "skip and go on" cannot
// loop on it.
type TruncatedError struct {
	File   string
	Index  int64
	Offset int64
	Kind   string
	Reason string
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("mrtdata: %s: record %d at offset %d: %s: %s", e.File, e.Index, e.Offset, e.Kind, e.Reason)
}

func (e *TruncatedError) Unwrap() error { return ErrTruncated }

// Record is one decoded MRT record. Updates and States point into buffers
// the Reader reuses: they are valid until the next call to Next (copy the
// route.Update values you keep; their *Attrs are never reused).
type Record struct {
	Index   int64
	Offset  int64
	Time    time.Time
	Type    uint16
	Subtype uint16
	// Local is set for BGP4MP *_LOCAL messages: routes the collector sent
	// to the peer rather than received from it.
	Local   bool
	Updates []route.Update
	States  []route.PeerState

	// Details the bgpdump formatter needs beyond route.Update.
	usec    uint32 // BGP4MP_ET microseconds
	addPath bool
	// signed[i] is set when Updates[i] came from MP_REACH_NLRI for IPv4,
	// which bgpdump prints with signed local-pref / MED.
	signed []bool
}

// Stats counts what a Reader has seen so far.
type Stats struct {
	Records int64
	Routes  int64 // route.Updates produced
	States  int64 // route.PeerStates produced
	Bytes   int64 // decompressed bytes consumed
	// Skipped counts records of types that carry no routes, by kind
	// (e.g. "BGP4MP/KEEPALIVE", "TABLE_DUMP_V2/RIB_GENERIC", "type 48"),
	// and MP_REACH/MP_UNREACH blocks of other address families
	// ("MP_NLRI/other AFI-SAFI").
	Skipped map[string]int64
	// Errors counts defects by kind: "corrupt" and "truncated" records,
	// "framing" (impossible record length), and defects that do not cost
	// the record: "truncated_nlri" (a prefix cut short by its field; the
	// ones before it are kept, as bgpdump does), "missing_attributes".
	Errors map[string]int64
}

// Reader decodes MRT records from a decompressed stream.
type Reader struct {
	br    *bufio.Reader
	name  string
	off   int64
	index int64
	body  []byte
	hdr   [16]byte
	done  error
	stats Stats
	dec   decoder
	rec   Record
}

// NewReader returns a Reader that frames and decodes records from r; name
// is used in errors and route.Update.Source.
func NewReader(r io.Reader, name string) *Reader {
	if rc, ok := r.(*readCloser); ok {
		r = rc.Reader // Open's reader is buffered already
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	rd := &Reader{br: br, name: name}
	rd.stats.Skipped = map[string]int64{}
	rd.stats.Errors = map[string]int64{}
	rd.dec.source = name
	rd.dec.warn = rd.stats.Errors
	rd.dec.skip = rd.stats.Skipped
	return rd
}

// Stats returns a copy of the counters.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.Skipped = make(map[string]int64, len(r.stats.Skipped))
	for k, v := range r.stats.Skipped {
		s.Skipped[k] = v
	}
	s.Errors = make(map[string]int64, len(r.stats.Errors))
	for k, v := range r.stats.Errors {
		s.Errors[k] = v
	}
	return s
}

func (r *Reader) fail(kind, reason string) *TruncatedError {
	r.stats.Errors[kind]++
	return &TruncatedError{File: r.name, Index: r.index, Offset: r.off, Kind: kind, Reason: reason}
}

// Next returns the next record. At a clean end it returns io.EOF. A
// *RecordError (wrapping ErrCorrupt) reports a record that did not decode;
// Next can be called again. A *TruncatedError (wrapping ErrTruncated) is
// final, as is any other error (e.g. a corrupt gzip stream); Next then
// keeps returning it.
func (r *Reader) Next() (Record, error) {
	if r.done != nil {
		return Record{}, r.done
	}
	n, err := io.ReadFull(r.br, r.hdr[:12])
	if err != nil {
		if err == io.EOF {
			r.done = io.EOF
			return Record{}, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			r.done = r.fail("truncated", fmt.Sprintf("archive ends inside a record header (%d of 12 bytes)", n))
			return Record{}, r.done
		}
		r.done = fmt.Errorf("mrtdata: read %s: %w", r.name, err)
		return Record{}, r.done
	}
	ts := binary.BigEndian.Uint32(r.hdr[0:])
	typ := binary.BigEndian.Uint16(r.hdr[4:])
	sub := binary.BigEndian.Uint16(r.hdr[6:])
	length := binary.BigEndian.Uint32(r.hdr[8:])
	if length > MaxRecordLen {
		// A length this large means the framing is lost: stop here.
		hint := "corrupt header"
		if r.index == 0 {
			hint = "not an MRT archive?"
		}
		r.done = r.fail("framing", fmt.Sprintf("record length %d exceeds the %d byte limit (%s)", length, MaxRecordLen, hint))
		return Record{}, r.done
	}
	if cap(r.body) < int(length) {
		r.body = make([]byte, length, max(int(length), 64<<10))
	}
	body := r.body[:length]
	if m, err := io.ReadFull(r.br, body); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			r.done = r.fail("truncated", fmt.Sprintf("archive ends inside a record body (%d of %d bytes; type %d subtype %d)", m, length, typ, sub))
			return Record{}, r.done
		}
		r.done = fmt.Errorf("mrtdata: read %s: %w", r.name, err)
		return Record{}, r.done
	}
	rec := &r.rec
	*rec = Record{
		Index: r.index, Offset: r.off, Type: typ, Subtype: sub,
		Time:    time.Unix(int64(ts), 0).UTC(),
		Updates: rec.Updates[:0], States: rec.States[:0], signed: rec.signed[:0],
	}
	r.index++
	r.off += 12 + int64(length)
	r.stats.Records++
	r.stats.Bytes += 12 + int64(length)

	derr := r.decode(rec, body)
	if derr != nil {
		rec.Updates, rec.States, rec.signed = rec.Updates[:0], rec.States[:0], rec.signed[:0]
		var se skipError
		if errors.As(derr, &se) {
			r.stats.Skipped[string(se)]++
			return *rec, nil
		}
		r.stats.Errors["corrupt"]++
		return *rec, &RecordError{File: r.name, Index: rec.Index, Offset: rec.Offset, Kind: "corrupt", Reason: derr.Error(), Err: ErrCorrupt}
	}
	r.stats.Routes += int64(len(rec.Updates))
	r.stats.States += int64(len(rec.States))
	return *rec, nil
}

// skipError is returned by the decoder for records that are well formed
// but carry nothing routewatch uses; its value is the Stats.Skipped key.
type skipError string

func (e skipError) Error() string { return "skipped " + string(e) }

// decode runs the record decoder and turns a panic into an error, so a
// decoder bug on hostile input costs one record, not the process.
func (r *Reader) decode(rec *Record, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return r.dec.record(rec, body)
}
