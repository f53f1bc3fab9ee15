package analyzer

import "routewatch/route"

// Resync prepares for a peer re-sending its table over a session whose
// end this analyzer never saw (the service was restarted from a
// checkpoint): every present route of the peer becomes stale, without an
// event and without a withdrawal in the window. What the peer re-sends
// unchanged is not a change; what it re-sends changed is; what is still
// stale at its End-of-RIB is gone (the peer dropped it during the
// downtime). It returns how many routes were marked.
func (a *Analyzer) Resync(peer route.Peer) int {
	p := a.peers[peer]
	if p == nil {
		return 0
	}
	n := 0
	for _, s := range p.slots {
		if s.state == present {
			// No touch: an open event keeps judging the route by what it
			// was until the peer re-sends or drops it (a stale route does
			// not deviate, so touching would resolve events early).
			a.setState(s, stale)
			n++
		}
	}
	return n
}
