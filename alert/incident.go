package alert

import (
	"routewatch/route"
)

// One message per incident: events that one transit-side cause explains
// share route.Event.Incident. A chat sink is told about an incident once
// when it opens (the first event's notice, with every other event of the
// same Notify call in the same message) and once when its last event
// resolves; the other events' changes are suppressed (reason "incident").
// The generic webhook, read by machines, still gets every event.

type incidentKey struct{ sink, incident string }

// incidentState is what a sink was told about an incident.
type incidentState struct {
	told bool            // the opening message is queued
	open map[string]bool // events of the incident not resolved yet
}

// incidentRoute decides whether a change of an incident's event is sent
// to chat sink s (false) or suppressed (true), and returns the commit that
// records it once the outbox holds the message. Called with a.mu held.
func (a *Alerter) incidentRoute(s *sink, ch *route.EventChange) (bool, func()) {
	k := incidentKey{s.cfg.Name, ch.Event.Incident}
	st := a.incidents[k]
	told := st != nil && st.told
	id := ch.Event.ID
	state := func() *incidentState {
		if a.incidents[k] == nil {
			a.incidents[k] = &incidentState{open: map[string]bool{}}
		}
		return a.incidents[k]
	}
	if ch.Change != route.EventResolved {
		return told, func() { st := state(); st.open[id] = true; st.told = true }
	}
	left := 0
	if st != nil {
		left = len(st.open)
		if st.open[id] {
			left--
		}
	}
	if left > 0 || !told {
		return true, func() { delete(state().open, id) }
	}
	return false, func() { delete(a.incidents, k) }
}
