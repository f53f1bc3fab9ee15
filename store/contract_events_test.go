package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"routewatch/route"
)

// contractEvents: events.
func contractEvents(t *testing.T, s Store) {
	ctx := context.Background()
	end := func(sec int) *time.Time { e := at(sec); return &e }
	evs := []route.Event{
		{ID: "e1", Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2", Start: at(10), End: end(50)},
		{ID: "e2", Kind: route.KindWithdrawal, Provider: "aws", Region: "us-east-1", Start: at(20)},
		{ID: "e3", Kind: route.KindPeerDown, Start: at(20), AffectedPeers: []route.Peer{peerA}},
		{ID: "e0", Kind: route.KindPathShift, Provider: "gcp", Region: "us-east1", Start: at(20), End: end(40),
			SamplePrefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Transitions: []route.Transition{{FromUpstream: 1, ToUpstream: 2, Prefixes: 3}}},
		{ID: "e4", Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2", Start: at(30)},
	}
	if err := s.PutEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	ids := func(f EventFilter) []string {
		var out []string
		for {
			es, next, err := s.Events(ctx, f)
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			for _, e := range es {
				out = append(out, e.ID)
			}
			if next == "" {
				return out
			}
			f.Page.Cursor = next
		}
	}
	tests := []struct {
		name string
		f    EventFilter
		want []string
	}{
		{"all", EventFilter{}, []string{"e1", "e0", "e2", "e3", "e4"}},
		{"paged", EventFilter{Page: Page{Limit: 2}}, []string{"e1", "e0", "e2", "e3", "e4"}},
		{"provider", EventFilter{Provider: "aws"}, []string{"e1", "e2", "e4"}},
		{"provider region", EventFilter{Provider: "aws", Region: "us-west-2", Page: Page{Limit: 1}}, []string{"e1", "e4"}},
		{"region", EventFilter{Region: "us-east1"}, []string{"e0"}},
		{"kind", EventFilter{Kind: route.KindPathShift}, []string{"e1", "e0", "e4"}},
		{"open", EventFilter{Status: StatusOpen}, []string{"e2", "e3", "e4"}},
		{"resolved", EventFilter{Status: StatusResolved}, []string{"e1", "e0"}},
		{"time", EventFilter{From: at(20), To: at(30)}, []string{"e0", "e2", "e3"}},
		{"time paged", EventFilter{From: at(20), To: at(30), Page: Page{Limit: 1}}, []string{"e0", "e2", "e3"}},
		{"kind status paged", EventFilter{Kind: route.KindPathShift, Status: StatusOpen, Page: Page{Limit: 1}}, []string{"e4"}},
		{"from", EventFilter{From: at(25)}, []string{"e4"}},
		{"to", EventFilter{To: at(20)}, []string{"e1"}},
		{"region paged", EventFilter{Region: "us-west-2", Page: Page{Limit: 1}}, []string{"e1", "e4"}},
		{"none", EventFilter{Provider: "oracle"}, nil},
	}
	for _, tt := range tests {
		if got := ids(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v want %v", tt.name, got, tt.want)
		}
	}
	e0, err := s.Event(ctx, "e0")
	if err != nil || e0.End == nil || !e0.End.Equal(at(40)) || len(e0.SamplePrefixes) != 1 || len(e0.Transitions) != 1 || !e0.Start.Equal(at(20)) {
		t.Errorf("Event(e0) = %+v %v", e0, err)
	}
	if _, err := s.Event(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing event: %v", err)
	}
	// Resolving replaces in place and moves between status indexes.
	e4 := evs[4]
	e4.End = end(60)
	e4.Prefixes = 9
	if err := s.PutEvents(ctx, []route.Event{e4}); err != nil {
		t.Fatal(err)
	}
	if got := ids(EventFilter{Status: StatusOpen}); !slices.Equal(got, []string{"e2", "e3"}) {
		t.Errorf("open after resolve: %v", got)
	}
	// A fourth resolved event evicts the oldest resolved one (cap 3).
	e2 := evs[1]
	e2.End = end(70)
	if err := s.PutEvents(ctx, []route.Event{e2}); err != nil {
		t.Fatal(err)
	}
	if got := ids(EventFilter{}); !slices.Equal(got, []string{"e0", "e2", "e3", "e4"}) {
		t.Errorf("after cap: %v", got)
	}
	// Replacing an event with another start moves it in the order.
	e3 := evs[2]
	e3.Start = at(5)
	if err := s.PutEvents(ctx, []route.Event{e3}); err != nil {
		t.Fatal(err)
	}
	if got := ids(EventFilter{Page: Page{Limit: 1}}); !slices.Equal(got, []string{"e3", "e0", "e2", "e4"}) {
		t.Errorf("after moving e3: %v", got)
	}
	if got := ids(EventFilter{Kind: route.KindPeerDown, From: at(1), To: at(6)}); !slices.Equal(got, []string{"e3"}) {
		t.Errorf("moved e3 by kind and time: %v", got)
	}
	for _, bad := range []string{"%%%", encodeCursor("e1", "nonsense"), encodeCursor("h1", "1")} {
		if _, _, err := s.Events(ctx, EventFilter{Page: Page{Cursor: bad}}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}

// contractOutbox: outbox.
func contractOutbox(t *testing.T, s Store) {
	ctx := context.Background()
	d := func(id string, sec int) Delivery {
		return Delivery{ID: id, Sink: "slack", EventID: "e1", Payload: []byte(`{"x":1}`), Created: at(0), NextAttempt: at(sec)}
	}
	if err := s.Enqueue(ctx, []Delivery{d("a", 10), d("b", 5), d("c", 100)}); err != nil {
		t.Fatal(err)
	}
	dup := d("a", 0)
	dup.Payload = []byte("changed")
	if err := s.Enqueue(ctx, []Delivery{dup}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Due(ctx, at(50), time.Minute, 10)
	if err != nil || len(got) != 2 || got[0].ID != "b" || got[1].ID != "a" || string(got[1].Payload) != `{"x":1}` {
		t.Fatalf("due = %+v %v", got, err)
	}
	if !got[1].NextAttempt.Equal(at(10)) || got[1].Sink != "slack" || !got[1].Created.Equal(at(0)) {
		t.Errorf("delivery = %+v", got[1])
	}
	// Leased: a second worker gets nothing until the lease ends.
	if again, _ := s.Due(ctx, at(51), time.Minute, 10); len(again) != 0 {
		t.Errorf("leased deliveries handed out twice: %+v", again)
	}
	// After the lease: ordered by when each became due again.
	if again, _ := s.Due(ctx, at(111), time.Minute, 10); len(again) != 3 || again[0].ID != "c" || again[1].ID != "a" || again[2].ID != "b" {
		t.Errorf("after lease expiry: %+v", again)
	}
	a := got[1]
	a.Attempts, a.NextAttempt, a.LastError = 1, at(200), "HTTP 500"
	if err := s.Reschedule(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, "b", Delivered, at(120)); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, []Delivery{d("b", 0)}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Due(ctx, at(300), time.Minute, 10)
	if len(got) != 2 || got[0].ID != "c" || got[1].ID != "a" || got[1].Attempts != 1 || got[1].LastError != "HTTP 500" {
		t.Errorf("due after reschedule/finish = %+v", got)
	}
	if err := s.Reschedule(ctx, d("zz", 1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("reschedule unknown: %v", err)
	}
	if err := s.Finish(ctx, "zz", GaveUp, at(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("finish unknown: %v", err)
	}
}

// contractOutboxLeaseIsExclusiveUnderConcurrency: outbox lease is exclusive under concurrency.
func contractOutboxLeaseIsExclusiveUnderConcurrency(t *testing.T, s Store) {
	ctx := context.Background()
	var ds []Delivery
	for i := 0; i < 50; i++ {
		ds = append(ds, Delivery{ID: fmt.Sprintf("d%02d", i), Sink: "x", NextAttempt: at(0)})
	}
	if err := s.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for {
				got, err := s.Due(ctx, at(1), time.Hour, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 50 {
		t.Errorf("saw %d deliveries want 50", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s handed out %d times", id, n)
		}
	}
}

// contractCheckpoints: a checkpoint reads back as put (binary data, the
// caller's time), a later put replaces it, names are separate.
func contractCheckpoints(t *testing.T, s Store) {
	ctx := context.Background()
	if _, _, err := s.Checkpoint(ctx, "analyzer"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing checkpoint: %v, want ErrNotFound", err)
	}
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	big[5] = '\n'
	if err := s.PutCheckpoint(ctx, "analyzer", []byte("v1"), at(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCheckpoint(ctx, "analyzer", big, at(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCheckpoint(ctx, "other", nil, at(3)); err != nil {
		t.Fatal(err)
	}
	data, when, err := s.Checkpoint(ctx, "analyzer")
	if err != nil || !bytes.Equal(data, big) || !when.Equal(at(2)) {
		t.Errorf("checkpoint = %d bytes at %v, %v; want the second put", len(data), when, err)
	}
	data, when, err = s.Checkpoint(ctx, "other")
	if err != nil || len(data) != 0 || !when.Equal(at(3)) {
		t.Errorf("other = %q %v %v", data, when, err)
	}
	if err := s.PutCheckpoint(ctx, "", nil, at(1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v, want ErrInvalid", err)
	}
}
