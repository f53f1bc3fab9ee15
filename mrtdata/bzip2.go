package mrtdata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Parallel bzip2 decoding (RouteViews archives).
//
// A bzip2 stream is "BZh" + level, then blocks, each starting with the
// 48-bit magic 0x314159265359 and its 32-bit CRC, then the end-of-stream
// magic 0x177245385090 and the stream CRC; blocks are bit-aligned, but
// independent. The reader below splits the compressed input at the block
// magics (a scanner goroutine), decodes each block on one of GOMAXPROCS
// workers with the block decoder in bzblock.go (which checks the block
// CRC and reuses its tables), and hands the outputs to Read in order.
// Read checks the combined stream CRC at every
// end-of-stream marker; concatenated streams are read as one.
//
// The magic can occur by chance inside compressed data (about once per
// 2^48 bits): the two halves of such a falsely split block fail to decode,
// and Read then decodes them merged before giving up. A stream that ends
// without its end-of-stream marker yields what its complete blocks hold,
// then io.ErrUnexpectedEOF (the MRT reader reports a truncated archive).

const (
	bzBlockMagic = 0x314159265359
	bzEOSMagic   = 0x177245385090
	bzMask48     = 1<<48 - 1
	bzChunk      = 1 << 20
)

// bzBlock is one block on its way through the workers.
type bzBlock struct {
	bits  []byte // the block from its magic on, magic at bit 0
	nbits int64
	level byte
	crc   uint32 // the block CRC from its header
	// eos marks the end of a stream instead of a block: streamCRC is the
	// combined CRC it carries.
	eos       bool
	streamCRC uint32
	// last: the input ended inside this block (no marker after it).
	last bool
	err  error // a scanning error, reported when Read gets here

	done chan struct{}
	out  []byte
	derr error
}

type bzReader struct {
	results chan *bzBlock
	stop    chan struct{}
	once    sync.Once
	pool    *bufPool

	cur      *bzBlock
	pending  *bzBlock // looked ahead for a merge, not yet used
	off      int
	combined uint32
	err      error
}

// newBzip2Reader returns a parallel bzip2 decoder of r. Closing it stops
// the goroutines (closing r as well is the caller's business).
func newBzip2Reader(r io.Reader) io.ReadCloser {
	workers := max(runtime.GOMAXPROCS(0), 1)
	z := &bzReader{
		results: make(chan *bzBlock, 2*workers),
		stop:    make(chan struct{}),
		pool:    &bufPool{free: make(chan []byte, 3*workers+2)},
	}
	jobs := make(chan *bzBlock, workers)
	for range workers {
		go z.work(jobs)
	}
	go z.scan(r, jobs)
	return z
}

func (z *bzReader) Close() error {
	z.once.Do(func() { close(z.stop) })
	return nil
}

func (z *bzReader) work(jobs <-chan *bzBlock) {
	var dec bzDecoder
	for b := range jobs {
		b.out, b.derr = dec.decodeBlock(b.bits, b.nbits, b.level, z.pool.get())
		close(b.done)
	}
}

// bufPool keeps the output buffers of the blocks in flight for the
// reader's life (a sync.Pool loses them at every collection, and a
// streaming dump collects often).
type bufPool struct{ free chan []byte }

func (p *bufPool) get() []byte {
	select {
	case b := <-p.free:
		return b[:0]
	default:
		return make([]byte, 0, 1<<20)
	}
}

func (p *bufPool) put(b []byte) {
	select {
	case p.free <- b:
	default:
	}
}

// decodeBlock decompresses one block with a decoder of its own.
func decodeBlock(b *bzBlock, out []byte) ([]byte, error) {
	var d bzDecoder
	return d.decodeBlock(b.bits, b.nbits, b.level, out)
}

// bitWriter appends bit strings.
type bitWriter struct {
	buf   []byte
	nbits int64
}

// appendBits appends the first n bits of src (MSB first).
func (w *bitWriter) appendBits(src []byte, n int64) {
	sh := uint(w.nbits % 8)
	if sh == 0 {
		w.buf = append(w.buf[:w.nbits/8], src[:(n+7)/8]...)
	} else {
		w.buf = w.buf[:(w.nbits+7)/8]
		last := len(w.buf) - 1
		full := (n + 7) / 8
		for i := int64(0); i < full; i++ {
			c := src[i]
			w.buf[last] |= c >> sh
			w.buf = append(w.buf, c<<(8-sh))
			last++
		}
	}
	w.nbits += n
	w.buf = w.buf[:(w.nbits+7)/8]
	if r := uint(w.nbits % 8); r != 0 {
		w.buf[len(w.buf)-1] &= 0xff << (8 - r)
	}
}

// extractBits copies bits [from, from+n) of buf into a new aligned slice.
func extractBits(buf []byte, from, n int64) []byte {
	out := make([]byte, (n+7)/8)
	start := from / 8
	sh := uint(from % 8)
	for i := range out {
		j := start + int64(i)
		c := buf[j] << sh
		if sh != 0 && j+1 < int64(len(buf)) {
			c |= buf[j+1] >> (8 - sh)
		}
		out[i] = c
	}
	if r := uint(n % 8); r != 0 {
		out[len(out)-1] &= 0xff << (8 - r)
	}
	return out
}

// bits48 returns the 48 bits of buf at bit offset p (p+48 <= len*8).
func bits48(buf []byte, p int64) uint64 {
	var w [8]byte
	copy(w[:], buf[p/8:min(p/8+8, int64(len(buf)))])
	return binary.BigEndian.Uint64(w[:]) >> (16 - uint(p%8)) & bzMask48
}

// findMagic returns the first bit position >= from where a block or
// end-of-stream magic lies wholly inside buf, or -1.
func findMagic(buf []byte, from int64) int64 {
	limit := int64(len(buf))*8 - 48
	for i := from / 8; i*8 <= limit; i++ {
		var w uint64
		if i+8 <= int64(len(buf)) {
			w = binary.BigEndian.Uint64(buf[i:])
		} else {
			var t [8]byte
			copy(t[:], buf[i:])
			w = binary.BigEndian.Uint64(t[:])
		}
		for s := int64(0); s < 8; s++ {
			p := i*8 + s
			if p < from || p > limit {
				continue
			}
			v := w >> (16 - s) & bzMask48
			if v == bzBlockMagic || v == bzEOSMagic {
				return p
			}
		}
	}
	return -1
}

// bzScanner splits the input at the magics.
type bzScanner struct {
	z    *bzReader
	r    io.Reader
	jobs chan<- *bzBlock
	buf  []byte
	eof  bool
	pos  int64 // bit position in buf
}

// scan splits the input into blocks and feeds the workers and Read.
func (z *bzReader) scan(r io.Reader, jobs chan<- *bzBlock) {
	defer close(jobs)
	defer close(z.results)
	s := bzScanner{z: z, r: r, jobs: jobs}
	for {
		level, ok := s.header()
		if !ok || !s.blocks(level) {
			return
		}
	}
}

// send hands b to a worker (blocks to decode) and to Read, in order;
// false when the reader is closed.
func (s *bzScanner) send(b *bzBlock) bool {
	if b.done == nil {
		b.done = make(chan struct{})
		if b.eos || b.err != nil {
			close(b.done)
		} else {
			select {
			case s.jobs <- b:
			case <-s.z.stop:
				return false
			}
		}
	}
	select {
	case s.z.results <- b:
		return true
	case <-s.z.stop:
		return false
	}
}

func (s *bzScanner) fail(err error) { s.send(&bzBlock{err: err}) }

// more reads another chunk; io.EOF when there is none.
func (s *bzScanner) more() error {
	if s.eof {
		return io.EOF
	}
	n := len(s.buf)
	s.buf = append(s.buf, make([]byte, bzChunk)...)
	m, err := io.ReadFull(s.r, s.buf[n:])
	s.buf = s.buf[:n+m]
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		s.eof = true
		if m == 0 {
			return io.EOF
		}
		return nil
	}
	return err
}

// header reads a stream header (byte aligned); ok false at the end of
// the input or after an error was sent.
func (s *bzScanner) header() (level byte, ok bool) {
	for int64(len(s.buf)) < s.pos/8+4 {
		if err := s.more(); err == io.EOF {
			if rest := s.buf[s.pos/8:]; len(rest) == 0 || allZero(rest) {
				return 0, false // clean end (zero padding tolerated)
			}
			s.fail(errors.New("bzip2: data after the end of the stream"))
			return 0, false
		} else if err != nil {
			s.fail(err)
			return 0, false
		}
	}
	h := s.buf[s.pos/8:]
	if h[0] != 'B' || h[1] != 'Z' || h[2] != 'h' || h[3] < '1' || h[3] > '9' {
		if !allZero(h) || !s.eof {
			s.fail(errors.New("bzip2: bad stream header"))
		}
		return 0, false
	}
	s.pos += 32
	return h[3], true
}

// blocks sends the blocks of a stream and its end marker; false to stop.
func (s *bzScanner) blocks(level byte) bool {
	for {
		// At pos: a magic, block or end of stream.
		for int64(len(s.buf))*8 < s.pos+48+32 {
			if err := s.more(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				s.fail(err)
				return false
			}
		}
		m := bits48(s.buf, s.pos)
		crc := uint32(bits48(s.buf, s.pos+32) & 0xffffffff)
		if m == bzEOSMagic {
			if !s.send(&bzBlock{eos: true, streamCRC: crc}) {
				return false
			}
			s.pos = (s.pos + 80 + 7) / 8 * 8
			return true
		}
		if m != bzBlockMagic {
			s.fail(errors.New("bzip2: block magic expected"))
			return false
		}
		b, ok := s.block(level, crc)
		if !ok || !s.send(b) || b.last {
			return false
		}
	}
}

// block cuts the block at pos up to the next magic (or the end of the
// input) and moves pos there.
func (s *bzScanner) block(level byte, crc uint32) (*bzBlock, bool) {
	next := int64(-1)
	searched := s.pos + 48
	for {
		next = findMagic(s.buf, searched)
		if next >= 0 {
			break
		}
		searched = max(int64(len(s.buf))*8-47, s.pos+48)
		if err := s.more(); err != nil {
			if err != io.EOF {
				s.fail(err)
				return nil, false
			}
			break
		}
	}
	b := &bzBlock{level: level, crc: crc}
	if next < 0 {
		// The input ends inside this block.
		b.last = true
		next = int64(len(s.buf)) * 8
	}
	b.bits, b.nbits = extractBits(s.buf, s.pos, next-s.pos), next-s.pos
	s.pos = next
	// Drop what is consumed, keeping buf small.
	if cut := s.pos / 8; cut > 4*bzChunk {
		s.buf = append(s.buf[:0:0], s.buf[cut:]...)
		s.pos -= cut * 8
	}
	return b, true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// next returns the next block in order, waiting for its decoding.
func (z *bzReader) next() (*bzBlock, bool) {
	if b := z.pending; b != nil {
		z.pending = nil
		return b, true
	}
	var b *bzBlock
	var ok bool
	select {
	case b, ok = <-z.results:
	case <-z.stop:
		return nil, false
	}
	if !ok {
		return nil, false
	}
	<-b.done
	return b, true
}

func (z *bzReader) Read(p []byte) (int, error) {
	for {
		if z.cur != nil && z.off < len(z.cur.out) {
			n := copy(p, z.cur.out[z.off:])
			z.off += n
			return n, nil
		}
		if z.err != nil {
			return 0, z.err
		}
		if z.cur != nil {
			z.pool.put(z.cur.out)
			z.cur = nil
		}
		b, ok := z.next()
		if !ok {
			// The scanner ended after an end-of-stream marker.
			z.err = io.EOF
			continue
		}
		switch {
		case b.err != nil:
			z.err = b.err
			continue
		case b.eos:
			if b.streamCRC != z.combined {
				z.err = fmt.Errorf("bzip2: stream checksum mismatch (%08x, want %08x)", z.combined, b.streamCRC)
			}
			z.combined = 0
			continue
		}
		if b.derr != nil {
			b = z.retryMerged(b)
		}
		if b.derr != nil {
			if b.last {
				z.err = io.ErrUnexpectedEOF
			} else {
				z.err = fmt.Errorf("bzip2: %w", b.derr)
			}
			continue
		}
		z.combined = (z.combined<<1 | z.combined>>31) ^ b.crc
		z.cur, z.off = b, 0
		if b.last {
			// The block is complete but the stream's end is missing:
			// its data first, then the error.
			z.err = io.ErrUnexpectedEOF
		}
	}
}

// retryMerged decodes a failed block together with the following one(s),
// for a block split at a chance occurrence of the magic in its data.
func (z *bzReader) retryMerged(b *bzBlock) *bzBlock {
	merged := b
	for range 2 {
		nb, ok := z.next()
		if !ok || nb.eos || nb.err != nil {
			z.pending = nb
			return b
		}
		var w bitWriter
		w.appendBits(merged.bits, merged.nbits)
		w.appendBits(nb.bits, nb.nbits)
		m := &bzBlock{bits: w.buf, nbits: w.nbits, level: b.level, crc: b.crc, last: nb.last}
		if m.out, m.derr = decodeBlock(m, nb.out[:0]); m.derr == nil {
			z.pool.put(b.out)
			return m
		}
		merged = m
	}
	return b
}
