package alert

import (
	"context"
	"fmt"
	"testing"
	"time"

	"routewatch/route"
)

// TestOneMessagePerIncident: 40 events of one transit-side incident give a
// chat sink one opening message (all groups in it) and one resolution
// message; a standalone event still gets its own; the generic webhook gets
// every event.
func TestOneMessagePerIncident(t *testing.T) {
	clock := newFakeClock()
	ob := newOutbox()
	cfg := Config{AllowPrivateTargets: true, Sinks: []SinkConfig{
		{Name: "chat", Type: Slack, URL: "http://127.0.0.1:1/a", Updates: true},
		{Name: "hook", Type: Generic, URL: "http://127.0.0.1:1/b", Secret: testSecret},
	}}
	a := newTestAlerter(t, cfg, ob, clock)
	var evs []route.Event
	for i := range 40 {
		e := fixtureEvent(i, route.KindPathShift)
		e.Region = fmt.Sprintf("r%02d", i)
		e.Incident = "inc-3356"
		e.Cause = route.Cause{Side: route.SideTransit, ASN: 3356, Reason: "AS3356 left the paths"}
		evs = append(evs, e)
	}
	alone := fixtureEvent(99, route.KindPathShift)
	var opened []route.EventChange
	for _, e := range evs[:30] {
		opened = append(opened, change(route.EventOpened, e))
	}
	opened = append(opened, change(route.EventOpened, alone))
	notify := func(chs ...route.EventChange) {
		t.Helper()
		if err := a.Notify(context.Background(), chs); err != nil {
			t.Fatal(err)
		}
	}
	notify(opened...)
	clock.Advance(time.Minute)
	for _, e := range evs[30:] {
		notify(change(route.EventOpened, e)) // later groups join the incident
	}
	clock.Advance(time.Hour)
	for _, e := range evs {
		notify(change(route.EventResolved, resolved(e, time.Hour)))
	}
	ds, err := ob.Due(context.Background(), clock.Now().Add(time.Hour), time.Minute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	messages, notices := map[string]int{}, map[string]int{}
	for _, d := range ds {
		ns, err := decodeEnvelope(d.Payload)
		if err != nil {
			t.Fatal(err)
		}
		messages[d.Sink]++
		notices[d.Sink] += len(ns)
	}
	if messages["chat"] != 3 || notices["chat"] != 32 {
		t.Errorf("chat: %d messages with %d notices, want 3 (incident opened with 30 groups, standalone, incident resolved) with 32", messages["chat"], notices["chat"])
	}
	if messages["hook"] != 81 {
		t.Errorf("generic: %d messages, want 81 (every change)", messages["hook"])
	}
	if n := counterValue(a.m.suppressed.WithLabelValues("chat", "incident")); n != 49 {
		t.Errorf("incident suppressions = %v, want 49", n)
	}
}
