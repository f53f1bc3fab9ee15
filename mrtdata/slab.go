package mrtdata

import "routewatch/route"

// slab hands out attribute storage in chunks: one allocation serves many
// routes, which keeps the garbage collector out of the hot path (a RIB of
// millions of entries would otherwise cost several allocations each).
// Chunks are never reused, so the *route.Attrs handed out stay valid for as
// long as anyone holds them; a held route keeps at most its chunk alive.
type slab struct {
	attrs []route.Attrs
	segs  []route.Segment
	asns  []uint32
	comms []route.Community
}

const (
	slabAttrs = 128
	slabSegs  = 256
	slabASNs  = 2048
	slabComms = 1024
)

func (s *slab) newAttrs() *route.Attrs {
	if len(s.attrs) == 0 {
		s.attrs = make([]route.Attrs, slabAttrs)
	}
	a := &s.attrs[0]
	s.attrs = s.attrs[1:]
	return a
}

func (s *slab) segments(n int) []route.Segment {
	if n > slabSegs/4 {
		return make([]route.Segment, 0, n)
	}
	if len(s.segs) < n {
		s.segs = make([]route.Segment, slabSegs)
	}
	r := s.segs[:0:n]
	s.segs = s.segs[n:]
	return r
}

func (s *slab) uint32s(n int) []uint32 {
	if n > slabASNs/8 {
		return make([]uint32, n)
	}
	if len(s.asns) < n {
		s.asns = make([]uint32, slabASNs)
	}
	r := s.asns[:n:n]
	s.asns = s.asns[n:]
	return r
}

func (s *slab) communities(n int) []route.Community {
	if n > slabComms/8 {
		return make([]route.Community, n)
	}
	if len(s.comms) < n {
		s.comms = make([]route.Community, slabComms)
	}
	r := s.comms[:n:n]
	s.comms = s.comms[n:]
	return r
}
