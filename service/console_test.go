package service

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"routewatch/route"
)

// TestPrintEvent: each change is printed once (console line, no log line
// beside it), repeated updates only when the line changes, and a
// peer_down names its peer.
func TestPrintEvent(t *testing.T) {
	var console, logs bytes.Buffer
	s := &Service{console: &console, logger: slog.New(slog.NewTextHandler(&logs, nil)), printed: map[string]string{}}
	start := time.Date(2021, 12, 15, 15, 0, 0, 0, time.UTC)
	ev := route.Event{ID: "e1", Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2", Start: start, Prefixes: 30, Peers: 5}
	end := start.Add(time.Hour)
	resolved := ev
	resolved.End = &end
	peer := route.Event{ID: "e2", Kind: route.KindPeerDown, Start: start, Prefixes: 900, Peers: 1,
		AffectedPeers: []route.Peer{{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 64500}}}
	grown := ev
	grown.Prefixes = 40
	steps := []struct {
		name string
		c    route.EventChange
		want string // "" : nothing printed
	}{
		{"opened", route.EventChange{Change: route.EventOpened, Event: ev}, "opened   path_shift  aws/us-west-2 start=2021-12-15T15:00:00Z prefixes=30 peers=5"},
		{"same update", route.EventChange{Change: route.EventUpdated, Event: ev}, ""},
		{"grown", route.EventChange{Change: route.EventUpdated, Event: grown}, "updated  path_shift  aws/us-west-2 start=2021-12-15T15:00:00Z prefixes=40"},
		{"same again", route.EventChange{Change: route.EventUpdated, Event: grown}, ""},
		{"resolved", route.EventChange{Change: route.EventResolved, Event: resolved}, "resolved path_shift  aws/us-west-2"},
		{"peer_down", route.EventChange{Change: route.EventOpened, Event: peer}, "opened   peer_down   peer 192.0.2.1 AS64500 start="},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			console.Reset()
			s.printEvent(st.c)
			got := console.String()
			if st.want == "" && got != "" || st.want != "" && (!strings.HasPrefix(got, st.want) || strings.Count(got, "\n") != 1) {
				t.Errorf("printed %q, want %q", got, st.want)
			}
		})
	}
	if logs.Len() != 0 {
		t.Errorf("event changes were logged beside the console:\n%s", logs.String())
	}
	if len(s.printed) != 1 {
		t.Errorf("%d events remembered, want the open peer_down only", len(s.printed))
	}
}
