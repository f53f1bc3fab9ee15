package mrtdata

import (
	"bytes"
	"hash/maphash"

	"routewatch/route"
)

// ribCache remembers the decoded attributes of recent RIB entries by their
// raw bytes. RIB dumps repeat attribute sets heavily (the shared 2002 RIS
// dump: 115,521 entries, 20,934 distinct sets) and neighbouring prefixes
// share paths, so a small direct-mapped table saves most decodes and
// allocations. Cached *route.Attrs are shared read-only between updates,
// as route.Update allows.
type ribCache struct {
	seed  maphash.Seed
	slots [256]ribSlot
}

type ribSlot struct {
	asLen int
	key   []byte
	val   *route.Attrs
}

func (c *ribCache) slot(raw []byte, asLen int) *ribSlot {
	if c.seed == (maphash.Seed{}) {
		c.seed = maphash.MakeSeed()
	}
	h := maphash.Bytes(c.seed, raw) ^ uint64(asLen)
	return &c.slots[h%uint64(len(c.slots))]
}

// get returns the cached attributes for raw, or nil.
func (c *ribCache) get(raw []byte, asLen int) (*ribSlot, *route.Attrs) {
	s := c.slot(raw, asLen)
	if s.val != nil && s.asLen == asLen && bytes.Equal(s.key, raw) {
		return s, s.val
	}
	return s, nil
}

func (s *ribSlot) put(raw []byte, asLen int, a *route.Attrs) {
	s.asLen, s.key, s.val = asLen, append(s.key[:0], raw...), a
}

// suffixCache is the formatter's direct-mapped cache of rendered attribute
// parts by *route.Attrs (which the decoder shares between entries).
type suffixCache struct {
	seed  maphash.Seed
	slots [512]suffixSlot
}

type suffixSlot struct {
	attrs  *route.Attrs
	signed bool
	buf    []byte
}

func (c *suffixCache) get(a *route.Attrs, signed bool) []byte {
	if c.seed == (maphash.Seed{}) {
		c.seed = maphash.MakeSeed()
	}
	s := &c.slots[maphash.Comparable(c.seed, a)%uint64(len(c.slots))]
	if s.attrs != a || s.signed != signed || s.attrs == nil {
		s.buf = appendAttrsSuffix(s.buf[:0], a, signed)
		s.attrs, s.signed = a, signed
	}
	return s.buf
}
