package store

import (
	"context"
	"fmt"
	"slices"

	"routewatch/route"
)

func (m *Memory) peerLocked(p route.Peer) *peerRec {
	v := vantageOf(p)
	pr := m.peers[v]
	if pr == nil {
		pr = &peerRec{Peer: p}
		m.peers[v] = pr
	}
	if p.ASN != 0 {
		pr.Peer.ASN = p.ASN
	}
	return pr
}

// ApplyPeerStates implements Store.
func (m *Memory) ApplyPeerStates(ctx context.Context, states []route.PeerState) error {
	for _, s := range states {
		if !s.Peer.Addr.IsValid() {
			return fmt.Errorf("store: apply peer states: %w peer address", ErrInvalid)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range states {
		if m.peerLocked(s.Peer).applyState(s) {
			m.peerGen++
			v := vantageOf(s.Peer)
			h := append(m.sessions[v], s)
			if len(h) > SessionHistoryLen {
				h = slices.Delete(h, 0, len(h)-SessionHistoryLen)
			}
			m.sessions[v] = h
		}
	}
	return nil
}

// SessionHistory implements Store.
func (m *Memory) SessionHistory(ctx context.Context, p route.Peer, limit int) ([]route.PeerState, error) {
	limit = clampLimit(limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	h := m.sessions[vantageOf(p)]
	out := make([]route.PeerState, 0, min(limit, len(h)))
	for i := len(h) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, h[i])
	}
	return out, nil
}

// Peers implements Store.
func (m *Memory) Peers(ctx context.Context) ([]PeerInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]PeerInfo, 0, len(m.peers))
	for _, p := range m.peers {
		out = append(out, p.info())
	}
	sortPeers(out)
	return out, nil
}
func sortPeers(ps []PeerInfo) {
	slices.SortFunc(ps, func(a, b PeerInfo) int { return comparePeers(a.Peer, b.Peer) })
}
