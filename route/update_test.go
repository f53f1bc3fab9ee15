package route

import (
	"net/netip"
	"testing"
)

func TestAttrsEqual(t *testing.T) {
	base := func() *Attrs {
		return &Attrs{
			ASPath: ASPath{seq(3356, 16509)}, NextHop: netip.MustParseAddr("192.0.2.1"),
			MED: 10, HasMED: true, Communities: []Community{3356<<16 | 100},
			LargeCommunities: []LargeCommunity{{16509, 1, 2}},
			Aggregator:       &Aggregator{ASN: 16509, Addr: netip.MustParseAddr("192.0.2.2")},
		}
	}
	tests := []struct {
		name   string
		change func(a *Attrs)
		equal  bool
	}{
		{"identical", func(*Attrs) {}, true},
		{"path", func(a *Attrs) { a.ASPath = ASPath{seq(2914, 16509)} }, false},
		{"prepend", func(a *Attrs) { a.ASPath = ASPath{seq(3356, 16509, 16509)} }, false},
		{"next hop", func(a *Attrs) { a.NextHop = netip.MustParseAddr("192.0.2.9") }, false},
		{"med value", func(a *Attrs) { a.MED = 20 }, false},
		{"med presence", func(a *Attrs) { a.HasMED = false }, false},
		{"local pref", func(a *Attrs) { a.HasLocalPref, a.LocalPref = true, 100 }, false},
		{"community", func(a *Attrs) { a.Communities = nil }, false},
		{"large community", func(a *Attrs) { a.LargeCommunities[0].Local2 = 3 }, false},
		{"aggregator", func(a *Attrs) { a.Aggregator = nil }, false},
		{"origin", func(a *Attrs) { a.Origin = OriginIncomplete }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base(), base()
			tt.change(b)
			if got := a.Equal(b); got != tt.equal {
				t.Errorf("Equal = %v, want %v", got, tt.equal)
			}
			if got := b.Equal(a); got != tt.equal {
				t.Errorf("Equal is not symmetric")
			}
		})
	}
	var nilAttrs *Attrs
	if !nilAttrs.Equal(nil) || nilAttrs.Equal(base()) || base().Equal(nil) {
		t.Error("nil handling")
	}
}

func TestUpdateKey(t *testing.T) {
	u := Update{Peer: Peer{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 64500},
		Prefix: netip.MustParsePrefix("192.0.2.0/24"), PathID: 7}
	if k := u.Key(); k.Peer != u.Peer || k.Prefix != u.Prefix || k.PathID != 7 {
		t.Errorf("Key = %+v", k)
	}
}
