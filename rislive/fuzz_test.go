package rislive

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// FuzzDecode checks properties, not just survival: a failure is always a
// *DecodeError with a known reason; a success is well-formed (masked
// prefixes, collector and source from the host, attributes exactly on
// announcements, no prefix announced twice) and survives a round trip
// through the RIS Live encoding unchanged.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/messages/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	reasons := map[string]bool{ReasonJSON: true, ReasonType: true, ReasonField: true, ReasonPrefix: true, ReasonNextHop: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := NewDecoder().Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !reasons[de.Reason] {
				t.Fatalf("error %v is not a DecodeError with a known reason", err)
			}
			return
		}
		if m.Kind != KindMessage {
			return
		}
		checkWellFormed(t, m)
		if m.Type != TypeUpdate && m.Type != TypePeerState {
			return
		}
		again, err := NewDecoder().Decode(encodeRIS(m))
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if d := again.Time.Sub(m.Time); d > time.Millisecond || d < -time.Millisecond {
			t.Fatalf("time %v became %v", m.Time, again.Time)
		}
		align(&again, m)
		if !reflect.DeepEqual(again.Updates, m.Updates) || !reflect.DeepEqual(again.State, m.State) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
	})
}

func checkWellFormed(t *testing.T, m Message) {
	t.Helper()
	seen := map[string]bool{}
	for _, u := range m.Updates {
		if u.Prefix != u.Prefix.Masked() || !u.Prefix.IsValid() {
			t.Fatalf("prefix %v not masked", u.Prefix)
		}
		if u.Source != sourcePrefix+m.Host || u.Peer.Collector != m.Host || u.Peer != m.Peer {
			t.Fatalf("update %+v of host %q", u, m.Host)
		}
		if u.Withdraw != (u.Attrs == nil) {
			t.Fatalf("withdraw %v with attrs %v", u.Withdraw, u.Attrs)
		}
		if !u.Withdraw {
			if seen[u.Prefix.String()] {
				t.Fatalf("%s announced twice in one message", u.Prefix)
			}
			seen[u.Prefix.String()] = true
		}
	}
}

// align copies the fields a round trip may not reproduce bit for bit (the
// float timestamp) from want into got.
func align(got *Message, want Message) {
	got.Time = want.Time
	for i := range got.Updates {
		if i < len(want.Updates) {
			got.Updates[i].Time = want.Updates[i].Time
		}
	}
	if got.State != nil && want.State != nil {
		got.State.Time = want.State.Time
	}
}
