package rislive

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"routewatch/route"
)

func decodeOne(t *testing.T, s string) Message {
	t.Helper()
	m, err := NewDecoder().Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return m
}

func TestDecodeUpdate(t *testing.T) {
	m := decodeOne(t, `{"type":"ris_message","data":{"timestamp":1639581243.25,"peer":"192.0.2.7","peer_asn":"3333",
		"id":"1639581243.25-192.0.2.7-1","host":"rrc00","type":"UPDATE","path":[3333,3356,16509],
		"community":[[3356,2],[16509,100]],"origin":"incomplete","med":10,"aggregator":"16509:10.0.0.1",
		"announcements":[{"next_hop":"192.0.2.7","prefixes":["52.94.0.0/22","52.95.0.0/16"]}],
		"withdrawals":["3.5.0.0/19"]}}`)
	if m.Kind != KindMessage || m.Type != TypeUpdate || m.Host != "rrc00" {
		t.Fatalf("message %+v", m)
	}
	wantPeer := route.Peer{Addr: netip.MustParseAddr("192.0.2.7"), ASN: 3333, Collector: "rrc00"}
	if m.Peer != wantPeer {
		t.Errorf("peer %+v, want %+v (peer_asn is a JSON string)", m.Peer, wantPeer)
	}
	if want := time.Unix(1639581243, 250e6).UTC(); !m.Time.Equal(want) {
		t.Errorf("time %v, want %v", m.Time, want)
	}
	if len(m.Updates) != 3 {
		t.Fatalf("%d updates, want 3", len(m.Updates))
	}
	w := m.Updates[0]
	if !w.Withdraw || w.Prefix != netip.MustParsePrefix("3.5.0.0/19") || w.Attrs != nil || w.Source != "rislive:rrc00" {
		t.Errorf("withdrawal %+v", w)
	}
	a := m.Updates[1].Attrs
	if a == nil || a.Origin != route.OriginIncomplete || !a.HasMED || a.MED != 10 || a.NextHop != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("attrs %+v", a)
	}
	if a.ASPath.String() != "3333 3356 16509" {
		t.Errorf("path %q", a.ASPath.String())
	}
	if len(a.Communities) != 2 || a.Communities[0] != route.Community(3356<<16|2) {
		t.Errorf("communities %v", a.Communities)
	}
	if a.Aggregator == nil || a.Aggregator.ASN != 16509 || a.Aggregator.Addr != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("aggregator %+v", a.Aggregator)
	}
	if m.State != nil {
		t.Errorf("state %+v without eor", m.State)
	}
}

func TestDecodeQuirks(t *testing.T) {
	const head = `{"type":"ris_message","data":{"timestamp":1700000000,"peer":"2001:db8::7","peer_asn":"64500","host":"rrc21.ripe.net","type":"UPDATE",`
	tests := []struct {
		name  string
		data  string
		check func(t *testing.T, m Message)
	}{
		{"as set as nested array", `"path":[64500,174,[64601,64602]],"announcements":[{"next_hop":"2001:db8::7","prefixes":["2001:db8:1::/48"]}]}}`,
			func(t *testing.T, m Message) {
				p := m.Updates[0].Attrs.ASPath
				if len(p) != 2 || p[1].Type != route.ASSet || len(p[1].ASNs) != 2 || p.String() != "64500 174 {64601,64602}" {
					t.Errorf("path %v (%q)", p, p.String())
				}
			}},
		{"v6 global and link-local next hop count once", `"path":[64500,16509],"announcements":[
			{"next_hop":"2001:db8::7","prefixes":["2600:1f00::/24","2600:1f01::/32"]},
			{"next_hop":"fe80::7","prefixes":["2600:1f00::/24","2600:1f01::/32"]}]}}`,
			func(t *testing.T, m Message) {
				if len(m.Updates) != 2 {
					t.Fatalf("%d updates, want 2", len(m.Updates))
				}
				for _, u := range m.Updates {
					if u.Attrs.NextHop != netip.MustParseAddr("2001:db8::7") {
						t.Errorf("%s next hop %s, want the global one", u.Prefix, u.Attrs.NextHop)
					}
				}
			}},
		{"withdrawal with empty path", `"path":[],"withdrawals":["2600:1f00::/24"]}}`,
			func(t *testing.T, m Message) {
				if len(m.Updates) != 1 || !m.Updates[0].Withdraw || m.Updates[0].Attrs != nil {
					t.Errorf("updates %+v", m.Updates)
				}
			}},
		{"eor announcement is End-of-RIB", `"path":[],"announcements":[{"next_hop":"2001:db8::7","prefixes":["eor"]}]}}`,
			func(t *testing.T, m Message) {
				if len(m.Updates) != 0 || m.State == nil || !m.State.EndOfRIB || m.State.New != route.StateEstablished {
					t.Errorf("updates %+v state %+v", m.Updates, m.State)
				}
			}},
		{"eor withdrawal is End-of-RIB", `"withdrawals":["eor"]}}`,
			func(t *testing.T, m Message) {
				if len(m.Updates) != 0 || m.State == nil || !m.State.EndOfRIB {
					t.Errorf("updates %+v state %+v", m.Updates, m.State)
				}
			}},
		{"host with domain is the archive's collector name", `"withdrawals":["2600:1f00::/24"]}}`, func(t *testing.T, m Message) {
			if m.Host != "rrc21" || m.Peer.Collector != "rrc21" || m.Updates[0].Source != "rislive:rrc21" {
				t.Errorf("host %q collector %q source %q", m.Host, m.Peer.Collector, m.Updates[0].Source)
			}
		}},
		{"numeric peer_asn accepted", `"withdrawals":["2600:1f00::/24"]}}`, func(t *testing.T, m Message) {
			if m.Peer.ASN != 64500 {
				t.Errorf("asn %d", m.Peer.ASN)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, decodeOne(t, head+tt.data))
		})
	}
	m := decodeOne(t, strings.Replace(head, `"64500"`, `64500`, 1)+`"withdrawals":["2600:1f00::/24"]}}`)
	if m.Peer.ASN != 64500 {
		t.Errorf("numeric peer_asn: %d", m.Peer.ASN)
	}
}

func TestDecodePeerState(t *testing.T) {
	for _, tt := range []struct {
		state    string
		down, up bool
	}{{"down", true, false}, {"connected", false, true}} {
		t.Run(tt.state, func(t *testing.T) {
			m := decodeOne(t, `{"type":"ris_message","data":{"timestamp":1700000000.5,"peer":"192.0.2.7","peer_asn":"3333","host":"rrc00","type":"RIS_PEER_STATE","state":"`+tt.state+`"}}`)
			if m.State == nil || m.State.Down() != tt.down || m.State.Up() != tt.up || m.State.Peer.Collector != "rrc00" {
				t.Errorf("state %+v", m.State)
			}
		})
	}
}

func TestDecodeOtherKinds(t *testing.T) {
	for _, tt := range []struct {
		name, msg string
		kind      Kind
	}{
		{"pong", `{"type":"pong","data":null}`, KindPong},
		{"ris_error", `{"type":"ris_error","data":{"message":"Unknown subscription parameter"}}`, KindError},
		{"subscribe ok", `{"type":"ris_subscribe_ok","data":{"subscription":{"host":"rrc00"},"socketOptions":{}}}`, KindSubscribeOK},
		{"keepalive", `{"type":"ris_message","data":{"timestamp":1700000000,"peer":"192.0.2.7","peer_asn":"3333","host":"rrc00","type":"KEEPALIVE"}}`, KindMessage},
		{"open", `{"type":"ris_message","data":{"timestamp":1700000000,"peer":"192.0.2.7","peer_asn":"3333","host":"rrc00","type":"OPEN","direction":"sent","version":4,"asn":12654,"hold_time":180,"router_id":"193.0.4.28","capabilities":{}}}`, KindMessage},
		{"notification", `{"type":"ris_message","data":{"timestamp":1700000000,"peer":"192.0.2.7","peer_asn":"3333","host":"rrc00","type":"NOTIFICATION","notification":{"code":6,"subcode":2,"data":""}}}`, KindMessage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := decodeOne(t, tt.msg)
			if m.Kind != tt.kind || len(m.Updates) != 0 {
				t.Errorf("message %+v", m)
			}
			if tt.kind == KindError && m.Error != "Unknown subscription parameter" {
				t.Errorf("error text %q", m.Error)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	const ok = `{"type":"ris_message","data":{"timestamp":1700000000,"peer":"192.0.2.7","peer_asn":"3333","host":"rrc00","type":"UPDATE","path":[3333],"announcements":[{"next_hop":"192.0.2.7","prefixes":["192.0.2.0/24"]}]}}`
	for _, tt := range []struct{ name, msg, reason string }{
		{"garbage", `not json`, ReasonJSON},
		{"truncated", ok[:len(ok)/2], ReasonJSON},
		{"empty", ``, ReasonJSON},
		{"no type", `{"data":{}}`, ReasonType},
		{"unknown type", `{"type":"ris_gossip"}`, ReasonType},
		{"bad peer", strings.Replace(ok, `"192.0.2.7","peer_asn"`, `"nope","peer_asn"`, 1), ReasonField},
		{"bad peer_asn", strings.Replace(ok, `"3333"`, `"AS-X"`, 1), ReasonJSON},
		{"no host", strings.Replace(ok, `"host":"rrc00",`, ``, 1), ReasonField},
		{"bad prefix", strings.Replace(ok, `192.0.2.0/24`, `192.0.2.0/33`, 1), ReasonPrefix},
		{"bad next hop", strings.Replace(ok, `"next_hop":"192.0.2.7"`, `"next_hop":"x"`, 1), ReasonNextHop},
		{"bad origin", strings.Replace(ok, `"path"`, `"origin":"??","path"`, 1), ReasonField},
		{"bad community", strings.Replace(ok, `"path"`, `"community":[[70000,1]],"path"`, 1), ReasonField},
		{"bad peer state", strings.Replace(ok, `"UPDATE"`, `"RIS_PEER_STATE","state":"sleepy"`, 1), ReasonField},
		{"bad timestamp", strings.Replace(ok, `1700000000`, `-1`, 1), ReasonField},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder().Decode([]byte(tt.msg))
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason != tt.reason {
				t.Errorf("error %v, want reason %s", err, tt.reason)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // ASPath.String(), or "error"
	}{
		{`[]`, ``},
		{`null`, ``},
		{`[3333,174,16509]`, `3333 174 16509`},
		{`[ 3333 , [ 1 , 2 ] , 5 ]`, `3333 {1,2} 5`},
		{`[[1,2]]`, `{1,2}`},
		{`[4294967295]`, `4294967295`},
		{`[4294967296]`, `error`},
		{`[1,,2]`, `error`},
		{`[1,]`, `error`},
		{`[1 2]`, `error`},
		{`[[1,[2]]]`, `error`},
		{`[[1,2]`, `error`},
		{`[-1]`, `error`},
		{`["1"]`, `error`},
		{`{}`, `error`},
	} {
		t.Run(tt.in, func(t *testing.T) {
			p, err := parsePath([]byte(tt.in))
			got := p.String()
			if err != nil {
				got = "error"
			}
			if got != tt.want {
				t.Errorf("parsePath(%s) = %q (%v), want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
