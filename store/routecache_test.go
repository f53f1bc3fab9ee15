package store

import (
	"net/netip"
	"testing"
)

func TestRouteCache(t *testing.T) {
	pfx := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
	}
	tests := []struct {
		name     string
		size     int
		adds     int
		wantNil  bool
		wantMax  int // Len bound
		wantLast bool
	}{
		{name: "off", size: -1, wantNil: true},
		{name: "holds what fits", size: 1024, adds: 100, wantMax: 100, wantLast: true},
		{name: "bounded", size: 64, adds: 1000, wantMax: 64, wantLast: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRouteCache(tt.size)
			if (c == nil) != tt.wantNil {
				t.Fatalf("cache nil = %v, want %v", c == nil, tt.wantNil)
			}
			if c == nil {
				return
			}
			for i := range tt.adds {
				c.Add(pfx(i), &routeEntry{sp: &storedPrefix{ver: pfx(i).String()}})
			}
			if n := c.Len(); n > tt.wantMax || n == 0 {
				t.Errorf("Len = %d, want 1..%d", n, tt.wantMax)
			}
			e, ok := c.Get(pfx(tt.adds - 1))
			if ok != tt.wantLast || (ok && e.sp.ver != pfx(tt.adds-1).String()) {
				t.Errorf("Get(last) = %v, %v", e, ok)
			}
			if _, ok := c.Get(netip.MustParsePrefix("2001:db8::/32")); ok {
				t.Error("Get of a prefix never added succeeded")
			}
		})
	}
}
