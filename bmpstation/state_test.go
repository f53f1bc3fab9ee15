package bmpstation

import (
	"testing"
	"time"

	"routewatch/route"
)

// originWatcher watches routes originated by one AS (like a provider's
// origin-ASN watch list).
type originWatcher uint32

func (w originWatcher) Watched(u *route.Update) bool {
	o, ok := u.Attrs.ASPath.Origin()
	return ok && o == uint32(w)
}

// TestReannouncedOutsideWatch: a held route re-announced with attributes
// the watcher no longer keeps is handed on once (so the pipeline drops it)
// and forgotten; its later withdrawal is not handed on.
func TestReannouncedOutsideWatch(t *testing.T) {
	at := time.Unix(1700000000, 0)
	tr := newRouterTrack("edge@192.0.2.1")
	key := peerKey{addr: addr("192.0.2.2")}
	msg := func(wd bool, origin uint32) *message {
		u := route.Update{Time: at, Source: Source, Prefix: pfx("10.9.0.0/24"), Withdraw: wd}
		if !wd {
			u.Attrs = &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{65001, origin}}}}
		}
		return &message{typ: typeRouteMonitoring, peer: peerHeader{key: key, asn: 65001}, updates: []route.Update{u}}
	}
	w := originWatcher(16509)
	tr.peerUp(at, key, 65001, famV4, time.Minute)
	steps := []struct {
		name  string
		m     *message
		emits bool
		held  int
	}{
		{"watched origin: kept", msg(false, 16509), true, 1},
		{"origin changed away: handed on, forgotten", msg(false, 64500), true, 0},
		{"withdrawal of a forgotten route: dropped", msg(true, 0), false, 0},
		{"unwatched announcement: dropped", msg(false, 64500), false, 0},
	}
	for _, s := range steps {
		ups, _ := tr.apply(s.m, w, time.Minute, at)
		if (len(ups) > 0) != s.emits {
			t.Errorf("%s: emitted %d updates", s.name, len(ups))
		}
		held := 0
		for _, v := range tr.vantages {
			held += len(v.live)
		}
		if held != s.held {
			t.Errorf("%s: holds %d routes, want %d", s.name, held, s.held)
		}
	}
	if tr.unwatched != 1 || tr.unknownWd != 1 {
		t.Errorf("counts %+v", tr.counts)
	}
}
