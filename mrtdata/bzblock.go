package mrtdata

import (
	"encoding/binary"
	"errors"
)

// A bzip2 block decoder of our own (the format as libbz2 writes it).
// Against github.com/dsnet/compress/bzip2, which it replaced, it decodes a
// block straight from the scanner's bits (no one-block stream around it),
// decodes Huffman codes with a 10-bit lookup table, and inverts the BWT
// as libbz2 does: the byte and the next position share one uint32, so
// following the chain costs one random memory access per byte, not two
// (that chase was 70 % of the decoding).

const (
	bzMaxGroups    = 6
	bzMaxAlpha     = 258
	bzMaxCodeLen   = 20
	bzMaxSelectors = 18002 // libbz2 ignores selectors beyond this
	bzGroupSize    = 50
	bzFastBits     = 10
)

var errBzCorrupt = errors.New("corrupt block")

// bzBits reads a block's bits MSB first. Past the end it reads zeros;
// over records how far past the block's bits the reader went.
type bzBits struct {
	data  []byte
	pos   int    // next byte of data to load
	acc   uint64 // unread bits at the top
	n     uint   // number of valid bits in acc
	nbits int64  // the block's length in bits
	used  int64  // bits consumed
}

func (r *bzBits) fill() {
	if r.pos+8 <= len(r.data) && r.n <= 56 {
		// Load as many whole bytes as fit.
		w := binary.BigEndian.Uint64(r.data[r.pos:])
		k := (64 - r.n) / 8
		r.acc |= w >> r.n &^ (1<<(64-r.n-8*k) - 1)
		r.pos += int(k)
		r.n += 8 * k
		return
	}
	for r.n <= 56 {
		var c byte
		if r.pos < len(r.data) {
			c = r.data[r.pos]
		}
		r.pos++
		r.acc |= uint64(c) << (56 - r.n)
		r.n += 8
	}
}

// peek returns the next k bits (k <= 32) without consuming them.
func (r *bzBits) peek(k uint) uint32 {
	if r.n < k {
		r.fill()
	}
	return uint32(r.acc >> (64 - k))
}

func (r *bzBits) skip(k uint) {
	r.acc <<= k
	r.n -= k
	r.used += int64(k)
}

func (r *bzBits) bits(k uint) uint32 {
	v := r.peek(k)
	r.skip(k)
	return v
}

func (r *bzBits) over() bool { return r.used > r.nbits }

// bzHuffman is one coding table.
type bzHuffman struct {
	fast  [1 << bzFastBits]uint16 // sym<<5 | len, 0: a longer code
	first [bzMaxCodeLen + 1]uint32
	count [bzMaxCodeLen + 1]uint32
	start [bzMaxCodeLen + 1]uint16 // index in syms of the first code of a length
	syms  [bzMaxAlpha]uint16
	maxL  uint
}

// build makes canonical codes from lengths (bzip2's order: by length,
// then symbol).
func (h *bzHuffman) build(lens []uint8) error {
	h.count = [bzMaxCodeLen + 1]uint32{}
	for _, l := range lens {
		h.count[l]++
	}
	var code uint32
	var idx uint16
	h.maxL = 0
	for l := 1; l <= bzMaxCodeLen; l++ {
		h.first[l], h.start[l] = code, idx
		code += h.count[l]
		if code > 1<<l {
			return errBzCorrupt // oversubscribed
		}
		idx += uint16(h.count[l])
		if h.count[l] > 0 {
			h.maxL = uint(l)
		}
		code <<= 1
	}
	var next [bzMaxCodeLen + 1]uint16
	copy(next[:], h.start[:])
	for s, l := range lens {
		h.syms[next[l]] = uint16(s)
		next[l]++
	}
	h.fast = [1 << bzFastBits]uint16{}
	for l := uint(1); l <= bzFastBits; l++ {
		for i := uint32(0); i < h.count[l]; i++ {
			c := h.first[l] + i
			e := h.syms[uint32(h.start[l])+i]<<5 | uint16(l)
			lo := c << (bzFastBits - l)
			for j := lo; j < lo+1<<(bzFastBits-l); j++ {
				h.fast[j] = e
			}
		}
	}
	return nil
}

// decode reads one symbol.
func (h *bzHuffman) decode(r *bzBits) (uint16, error) {
	if e := h.fast[r.peek(bzFastBits)]; e != 0 {
		r.skip(uint(e & 31))
		return e >> 5, nil
	}
	for l := uint(bzFastBits + 1); l <= h.maxL; l++ {
		c := r.peek(l)
		if d := c - h.first[l]; d < h.count[l] {
			r.skip(l)
			return h.syms[uint32(h.start[l])+d], nil
		}
	}
	return 0, errBzCorrupt
}

// bzDecoder decodes blocks, reusing its tables.
type bzDecoder struct {
	tt        []uint32 // the BWT output, then the forward chain
	lf        []uint32 // the backward chain
	pre       []byte
	tables    [bzMaxGroups]bzHuffman
	selectors []uint8
	crcTab    *[8][256]uint32
}

// decodeBlock decodes the block in bits (its magic at bit 0, nbits long)
// of a stream of the given level ('1'..'9'), appending the data to out.
func (d *bzDecoder) decodeBlock(bits []byte, nbits int64, level byte, out []byte) ([]byte, error) {
	r := bzBits{data: bits, nbits: nbits}
	r.bits(24) // the magic
	r.bits(24)
	crc := r.bits(32)
	if r.bits(1) != 0 {
		return out, errors.New("randomised blocks are not supported")
	}
	origPtr := r.bits(24)
	var alpha [256]byte
	nInUse, err := readSymbolMap(&r, &alpha)
	if err != nil {
		return out, err
	}
	nGroups, err := d.readTables(&r, nInUse+2)
	if err != nil {
		return out, err
	}
	n, err := d.readSymbols(&r, nGroups, nInUse, &alpha, int(level-'0')*100000)
	if err != nil {
		return out, err
	}
	if r.over() || int(origPtr) >= max(n, 1) {
		return out, errBzCorrupt
	}
	start := len(out)
	out = d.unBWT(n, origPtr, out)
	if d.crcTab == nil {
		d.crcTab = bzCRCTable()
	}
	if n > 0 && bzCRC(d.crcTab, out[start:]) != crc {
		return out[:start], errors.New("block checksum mismatch")
	}
	return out, nil
}

// readSymbolMap reads the bitmap of the bytes used in the block.
func readSymbolMap(r *bzBits, alpha *[256]byte) (int, error) {
	used := r.bits(16)
	n := 0
	for i := range 16 {
		if used&(0x8000>>i) == 0 {
			continue
		}
		m := r.bits(16)
		for j := range 16 {
			if m&(0x8000>>j) != 0 {
				alpha[n] = byte(i*16 + j)
				n++
			}
		}
	}
	if n == 0 {
		return 0, errBzCorrupt
	}
	return n, nil
}

// readTables reads the selectors and the code lengths of the tables.
func (d *bzDecoder) readTables(r *bzBits, alphaSize int) (int, error) {
	nGroups := int(r.bits(3))
	nSel := int(r.bits(15))
	if nGroups < 2 || nGroups > bzMaxGroups || nSel < 1 {
		return 0, errBzCorrupt
	}
	mtf := [bzMaxGroups]uint8{0, 1, 2, 3, 4, 5}
	d.selectors = d.selectors[:0]
	for i := range nSel {
		j := 0
		for r.bits(1) == 1 {
			if j++; j >= nGroups {
				return 0, errBzCorrupt
			}
		}
		v := mtf[j]
		copy(mtf[1:j+1], mtf[:j])
		mtf[0] = v
		if i < bzMaxSelectors {
			d.selectors = append(d.selectors, v)
		}
	}
	var lens [bzMaxAlpha]uint8
	for g := range nGroups {
		l := int(r.bits(5))
		for s := range alphaSize {
			for {
				if l < 1 || l > bzMaxCodeLen {
					return 0, errBzCorrupt
				}
				if r.bits(1) == 0 {
					break
				}
				l += 1 - 2*int(r.bits(1))
			}
			lens[s] = uint8(l)
		}
		if err := d.tables[g].build(lens[:alphaSize]); err != nil {
			return 0, err
		}
		if r.over() {
			return 0, errBzCorrupt
		}
	}
	return nGroups, nil
}

// readSymbols decodes the Huffman, RUNA/RUNB and move-to-front stages
// into d.tt (the byte in the low 8 bits) and returns the count.
func (d *bzDecoder) readSymbols(r *bzBits, nGroups, nInUse int, alpha *[256]byte, maxLen int) (int, error) {
	if cap(d.tt) < maxLen {
		d.tt = make([]uint32, maxLen)
	}
	tt := d.tt[:maxLen]
	mtf := *alpha
	eob := uint16(nInUse + 1)
	n, run, runBit := 0, 0, 0
	for sel := 0; ; sel++ {
		if sel >= len(d.selectors) || r.over() {
			return 0, errBzCorrupt
		}
		h := &d.tables[d.selectors[sel]]
		for range bzGroupSize {
			s, err := h.decode(r)
			if err != nil {
				return 0, err
			}
			if s <= 1 { // RUNA, RUNB
				if runBit > 21 {
					return 0, errBzCorrupt
				}
				run += int(s+1) << runBit
				runBit++
				continue
			}
			if run > 0 {
				if run > maxLen-n {
					return 0, errBzCorrupt
				}
				v := uint32(mtf[0])
				for i := n; i < n+run; i++ {
					tt[i] = v
				}
				n += run
				run, runBit = 0, 0
			}
			if s == eob {
				return n, nil
			}
			if n >= maxLen {
				return 0, errBzCorrupt
			}
			k := int(s - 1)
			v := mtf[k]
			copy(mtf[1:k+1], mtf[:k])
			mtf[0] = v
			tt[n] = uint32(v)
			n++
		}
	}
}

// unBWT inverts the transform of d.tt[:n] and undoes the initial
// run-length encoding, appending to out. It follows the chain from both
// ends at once, forward through tt and backward through lf (the inverse
// permutation, with the byte in the low 8 bits as well): two independent
// memory accesses in flight instead of one.
func (d *bzDecoder) unBWT(n int, origPtr uint32, out []byte) []byte {
	if n == 0 {
		return out
	}
	tt := d.tt[:n]
	if cap(d.lf) < n {
		d.lf = make([]uint32, n)
	}
	lf := d.lf[:n]
	var c [256]uint32
	for _, v := range tt {
		c[v&0xff]++
	}
	var sum uint32
	for i, v := range c {
		c[i] = sum
		sum += v
	}
	for i, v := range tt {
		b := v & 0xff
		k := c[b]
		c[b]++
		tt[k] |= uint32(i) << 8
		lf[i] = k<<8 | b
	}
	if cap(d.pre) < n {
		d.pre = make([]byte, n)
	}
	pre := d.pre[:n]
	p, q := tt[origPtr]>>8, origPtr
	h := n / 2
	for i := range h {
		v, w := tt[p], lf[q]
		pre[i], pre[n-1-i] = byte(v), byte(w)
		p, q = v>>8, w>>8
	}
	if n%2 != 0 {
		pre[h] = byte(tt[p])
	}
	return unRLE1(pre, out)
}

// unRLE1 expands the runs of four equal bytes and a count.
func unRLE1(pre, out []byte) []byte {
	i := 0
	for i < len(pre) {
		// Copy up to the next run of four.
		j := i
		for j+3 < len(pre) && !(pre[j] == pre[j+1] && pre[j] == pre[j+2] && pre[j] == pre[j+3]) {
			j++
		}
		if j+3 >= len(pre) {
			return append(out, pre[i:]...)
		}
		out = append(out, pre[i:j+4]...)
		i = j + 4
		if i < len(pre) {
			for k := byte(0); k < pre[i]; k++ {
				out = append(out, pre[j])
			}
			i++
		}
	}
	return out
}

// bzCRCTable returns the tables of bzip2's CRC-32 (MSB first, not
// reflected) for slicing by 8: t[0] is the byte-wise table, t[k] advances
// a byte's contribution by k more bytes.
func bzCRCTable() *[8][256]uint32 {
	var t [8][256]uint32
	for i := range t[0] {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			v := t[k-1][i]
			t[k][i] = v<<8 ^ t[0][v>>24]
		}
	}
	return &t
}

// bzCRC is bzip2's CRC-32 of b, eight bytes at a time.
func bzCRC(t *[8][256]uint32, b []byte) uint32 {
	c := ^uint32(0)
	for len(b) >= 8 {
		c ^= binary.BigEndian.Uint32(b)
		c = t[7][c>>24] ^ t[6][c>>16&0xff] ^ t[5][c>>8&0xff] ^ t[4][c&0xff] ^
			t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, x := range b {
		c = c<<8 ^ t[0][byte(c>>24)^x]
	}
	return ^c
}
