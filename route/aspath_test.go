package route

import "testing"

func seq(asns ...uint32) Segment { return Segment{Type: ASSequence, ASNs: asns} }
func set(asns ...uint32) Segment { return Segment{Type: ASSet, ASNs: asns} }

func TestASPathHelpers(t *testing.T) {
	tests := []struct {
		name           string
		path           ASPath
		origin         uint32
		originOK       bool
		upstream       uint32
		upstreamOK     bool
		originPrepends int
		prepends       int
		length         int
		str            string
	}{
		{name: "empty", path: nil, str: ""},
		{name: "direct", path: ASPath{seq(16509)}, origin: 16509, originOK: true, length: 1, str: "16509"},
		{name: "transit", path: ASPath{seq(3333, 3356, 16509)}, origin: 16509, originOK: true, upstream: 3356, upstreamOK: true, length: 3, str: "3333 3356 16509"},
		{name: "origin prepends", path: ASPath{seq(3333, 2914, 16509, 16509, 16509)}, origin: 16509, originOK: true, upstream: 2914, upstreamOK: true, originPrepends: 2, prepends: 2, length: 5, str: "3333 2914 16509 16509 16509"},
		{name: "transit prepends", path: ASPath{seq(3333, 3333, 2914, 16509)}, origin: 16509, originOK: true, upstream: 2914, upstreamOK: true, prepends: 1, length: 4, str: "3333 3333 2914 16509"},
		{name: "final set one", path: ASPath{seq(1, 2), set(3)}, origin: 3, originOK: true, upstream: 2, upstreamOK: true, length: 3, str: "1 2 {3}"},
		{name: "final set many", path: ASPath{seq(1, 2), set(3, 4)}, length: 3, str: "1 2 {3,4}"},
		{name: "confed", path: ASPath{{Type: ASConfedSequence, ASNs: []uint32{65001, 65002}}, seq(1, 2)}, origin: 2, originOK: true, upstream: 1, upstreamOK: true, length: 2, str: "(65001 65002) 1 2"},
		{name: "confed set", path: ASPath{{Type: ASConfedSet, ASNs: []uint32{65001, 65002}}, seq(7)}, origin: 7, originOK: true, length: 1, str: "[65001,65002] 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, ok := tt.path.Origin()
			if o != tt.origin || ok != tt.originOK {
				t.Errorf("Origin = %d,%v want %d,%v", o, ok, tt.origin, tt.originOK)
			}
			u, ok := tt.path.Upstream()
			if u != tt.upstream || ok != tt.upstreamOK {
				t.Errorf("Upstream = %d,%v want %d,%v", u, ok, tt.upstream, tt.upstreamOK)
			}
			if got := tt.path.OriginPrepends(); got != tt.originPrepends {
				t.Errorf("OriginPrepends = %d want %d", got, tt.originPrepends)
			}
			if got := tt.path.Prepends(); got != tt.prepends {
				t.Errorf("Prepends = %d want %d", got, tt.prepends)
			}
			if got := tt.path.Len(); got != tt.length {
				t.Errorf("Len = %d want %d", got, tt.length)
			}
			if got := tt.path.String(); got != tt.str {
				t.Errorf("String = %q want %q", got, tt.str)
			}
			if !tt.path.Equal(tt.path) {
				t.Errorf("path not equal to itself")
			}
		})
	}
}

func TestPeerStateDirection(t *testing.T) {
	tests := []struct {
		name     string
		old, new SessionState
		down, up bool
	}{
		{"established to idle", StateEstablished, StateIdle, true, false},
		{"openconfirm to established", StateOpenConfirm, StateEstablished, false, true},
		{"active to connect", StateActive, StateConnect, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PeerState{Old: tt.old, New: tt.new}
			if p.Down() != tt.down || p.Up() != tt.up {
				t.Errorf("Down=%v Up=%v want %v %v", p.Down(), p.Up(), tt.down, tt.up)
			}
		})
	}
}
