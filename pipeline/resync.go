package pipeline

import (
	"context"
	"slices"
	"time"

	"routewatch/route"
	"routewatch/store"
)

// session keeps the set of vantage points of session sources whose
// session is up (recorded in checkpoints).
func (e *Engine) session(st route.PeerState) {
	if e.d.Sessions == nil || !e.d.Sessions(st.Source) {
		return
	}
	switch {
	case st.Up():
		e.sessions[st.Peer] = struct{}{}
	case st.Down():
		delete(e.sessions, st.Peer)
	}
}

// sessionList is the checkpoint's copy of the sessions, in a stable order.
func (e *Engine) sessionList() []route.Peer {
	out := make([]route.Peer, 0, len(e.sessions))
	for p := range e.sessions {
		out = append(out, p)
	}
	slices.SortFunc(out, store.ComparePeers)
	return out
}

// restoreSessions takes the restored checkpoint's sessions: each must come
// back within the resync window.
func (e *Engine) restoreSessions(peers []route.Peer) {
	clear(e.sessions)
	for _, p := range peers {
		e.sessions[p] = struct{}{}
	}
	if e.d.Sessions != nil && len(peers) > 0 && e.ckCfg.ResyncWindow > 0 {
		e.resyncBy = e.now().Add(e.ckCfg.ResyncWindow)
	}
}

// resync: the first time a peer's session comes up after a restore, the
// peer re-sends its table (the old session ended with the old process).
func (e *Engine) resync(st route.PeerState) {
	if !e.restored || !st.Up() {
		return
	}
	if _, ok := e.resynced[st.Peer]; ok {
		return
	}
	e.resynced[st.Peer] = struct{}{}
	if n := e.d.Analyzer.Resync(st.Peer); n > 0 {
		e.d.Logger.Info("checkpoint: peer re-sends its table after the restart", "peer", st.Peer.Addr, "asn", st.Peer.ASN, "routes", n)
	}
}

// resyncDeadline: once the resync window after a restore has passed, a
// vantage point of the checkpoint whose session did not come back ended
// with the old process and is gone: its session is taken as lost, so its
// routes go stale (an event that counted them resolves or opens as their
// absence says) and a peer_down opens, resolved when it comes back.
// Routes of a peer that came back but did not re-send them are gone at
// its End-of-RIB (or the collector's eor_timeout) instead.
func (e *Engine) resyncDeadline(ctx context.Context) {
	if e.resyncBy.IsZero() || e.now().Before(e.resyncBy) {
		return
	}
	e.resyncBy = time.Time{}
	at := e.dataTime()
	for _, p := range e.sessionList() {
		if _, ok := e.resynced[p]; ok {
			continue
		}
		delete(e.sessions, p)
		e.d.Logger.Warn("checkpoint: vantage point not back within analyzer.resync_window after the restart; its session is taken as lost",
			"peer", p.Addr, "asn", p.ASN, "window", e.ckCfg.ResyncWindow)
		e.emit(ctx, e.d.Analyzer.ObservePeer(route.PeerState{Time: at, Peer: p, Old: route.StateEstablished, New: route.StateIdle,
			Reason: "not back within resync_window after a restart"}))
	}
	e.setHeld()
}
