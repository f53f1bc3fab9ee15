package route

import (
	"strconv"
	"strings"
)

// SegmentType is an AS_PATH segment type (RFC 4271, RFC 5065).
type SegmentType uint8

// AS_PATH segment types.
const (
	ASSet            SegmentType = 1
	ASSequence       SegmentType = 2
	ASConfedSequence SegmentType = 3
	ASConfedSet      SegmentType = 4
)

// Segment is one AS_PATH segment.
type Segment struct {
	Type SegmentType
	ASNs []uint32
}

// ASPath is an AS_PATH with 4-byte ASNs (AS4_PATH already merged).
type ASPath []Segment

// Sequence returns the path as a flat list of ASNs from the AS_SEQUENCE
// segments only, in order (peer first, origin last). Sets and confederation
// segments are left out: they do not say which AS is adjacent to which.
func (p ASPath) Sequence() []uint32 {
	n := 0
	for _, s := range p {
		if s.Type == ASSequence {
			n += len(s.ASNs)
		}
	}
	out := make([]uint32, 0, n)
	for _, s := range p {
		if s.Type == ASSequence {
			out = append(out, s.ASNs...)
		}
	}
	return out
}

// Len is the AS path length as used in best-path selection: each sequence
// ASN counts one, each AS_SET counts one, confederation segments count zero.
func (p ASPath) Len() int {
	n := 0
	for _, s := range p {
		switch s.Type {
		case ASSequence:
			n += len(s.ASNs)
		case ASSet:
			n++
		}
	}
	return n
}

// Origin returns the origin AS: the last ASN of the path when the path ends
// in an AS_SEQUENCE, or the only member of a final one-element AS_SET.
// ok is false when the path is empty or the origin is ambiguous.
func (p ASPath) Origin() (asn uint32, ok bool) {
	if len(p) == 0 {
		return 0, false
	}
	last := p[len(p)-1]
	switch {
	case len(last.ASNs) == 0:
		return 0, false
	case last.Type == ASSequence:
		return last.ASNs[len(last.ASNs)-1], true
	case last.Type == ASSet && len(last.ASNs) == 1:
		return last.ASNs[0], true
	}
	return 0, false
}

// Upstream returns the AS adjacent to the origin (the origin's upstream as
// seen on this path), skipping the origin's own prepends. ok is false when
// the path has no such AS: the origin is the peer itself, or the origin is
// ambiguous.
func (p ASPath) Upstream() (asn uint32, ok bool) {
	origin, ok := p.Origin()
	if !ok {
		return 0, false
	}
	seq := p.Sequence()
	for i := len(seq) - 1; i >= 0; i-- {
		if seq[i] != origin {
			return seq[i], true
		}
	}
	return 0, false
}

// OriginPrepends is how many times the origin AS repeats itself at the end
// of the path beyond the first occurrence (0 = no prepending).
func (p ASPath) OriginPrepends() int {
	origin, ok := p.Origin()
	if !ok {
		return 0
	}
	seq := p.Sequence()
	n := 0
	for i := len(seq) - 1; i >= 0 && seq[i] == origin; i-- {
		n++
	}
	if n == 0 {
		return 0
	}
	return n - 1
}

// Prepends is the total number of ASNs in sequences that repeat the ASN
// right before them (any AS's prepending, not just the origin's).
func (p ASPath) Prepends() int {
	seq := p.Sequence()
	n := 0
	for i := 1; i < len(seq); i++ {
		if seq[i] == seq[i-1] {
			n++
		}
	}
	return n
}

// Equal reports whether two paths are identical segment by segment.
func (p ASPath) Equal(q ASPath) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i].Type != q[i].Type || len(p[i].ASNs) != len(q[i].ASNs) {
			return false
		}
		for j := range p[i].ASNs {
			if p[i].ASNs[j] != q[i].ASNs[j] {
				return false
			}
		}
	}
	return true
}

// String formats the path the way bgpdump does: sequences as space
// separated ASNs, sets as {a,b}, confederation sequences as (a b) and
// confederation sets as [a,b].
func (p ASPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch s.Type {
		case ASSet:
			writeASNs(&b, s.ASNs, "{", ",", "}")
		case ASConfedSequence:
			writeASNs(&b, s.ASNs, "(", " ", ")")
		case ASConfedSet:
			writeASNs(&b, s.ASNs, "[", ",", "]")
		default:
			writeASNs(&b, s.ASNs, "", " ", "")
		}
	}
	return b.String()
}

func writeASNs(b *strings.Builder, asns []uint32, open, sep, closing string) {
	b.WriteString(open)
	for i, a := range asns {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(strconv.FormatUint(uint64(a), 10))
	}
	b.WriteString(closing)
}
