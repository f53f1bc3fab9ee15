package analyzer

import (
	"encoding/binary"
	"net/netip"
)

// prefixMap holds the watched prefixes under pointer-free keys: cheaper
// to hash than netip.Prefix and not scanned by the garbage collector. IPv4
// prefixes, the bulk of a table, take an 8-byte key: half the map memory
// and cache misses of one shared 24-byte key.
type prefixMap struct {
	v4   map[uint64]*pfxState
	v6   map[key6]*pfxState
	high int // len high-water mark since the maps were last rebuilt
}

type key6 struct {
	hi, lo uint64
	bits   int // prefix length, -1 when invalid
}

func newPrefixMap() prefixMap {
	return prefixMap{v4: make(map[uint64]*pfxState), v6: make(map[key6]*pfxState)}
}

func key4(p netip.Prefix) (uint64, bool) {
	a := p.Addr()
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return uint64(binary.BigEndian.Uint32(b[:]))<<8 | uint64(p.Bits()), true
}

func keyOf6(p netip.Prefix) key6 {
	b := p.Addr().As16()
	return key6{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:]), bits: p.Bits()}
}

func (m *prefixMap) len() int { return len(m.v4) + len(m.v6) }

func (m *prefixMap) get(p netip.Prefix) *pfxState {
	if k, ok := key4(p); ok {
		return m.v4[k]
	}
	return m.v6[keyOf6(p)]
}

func (m *prefixMap) put(pf *pfxState) {
	if k, ok := key4(pf.prefix); ok {
		m.v4[k] = pf
	} else {
		m.v6[keyOf6(pf.prefix)] = pf
	}
	m.high = max(m.high, m.len())
}

func (m *prefixMap) del(p netip.Prefix) {
	if k, ok := key4(p); ok {
		delete(m.v4, k)
	} else {
		delete(m.v6, keyOf6(p))
	}
}

// shrink rebuilds the maps after most prefixes went away: Go maps do not
// give memory back by themselves.
func (m *prefixMap) shrink() {
	if m.high <= 4096 || m.len() >= m.high/8 {
		return
	}
	v4 := make(map[uint64]*pfxState, len(m.v4))
	for k, pf := range m.v4 {
		v4[k] = pf
	}
	v6 := make(map[key6]*pfxState, len(m.v6))
	for k, pf := range m.v6 {
		v6[k] = pf
	}
	m.v4, m.v6, m.high = v4, v6, m.len()
}
