package collector

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Malformed input and session resets (RFC 7606).
//
// GoBGP v4.8.0 has no hook for malformed input: it logs what it did. The
// collector counts treat-as-withdraw and attribute-discard from those log
// records, and every reset of an Established session from the session's
// down event, by reason (GoBGP resets some sessions without a log record,
// e.g. AS4_AGGREGATOR without AGGREGATOR). Resets before Established have
// no down event and are counted from the log.

// How a malformed message was handled (routewatch_bgp_malformed_total).
const (
	handlingSessionReset     = "session_reset"
	handlingTreatAsWithdraw  = "treat_as_withdraw"
	handlingAttributeDiscard = "attribute_discard"
)

// Why an Established session ended (routewatch_bgp_session_resets_total).
const (
	resetMalformedHeader = "malformed_header"      // we sent NOTIFICATION code 1
	resetOpenError       = "open_error"            // code 2
	resetMalformedUpdate = "malformed_update"      // code 3
	resetUnparsedNLRI    = "unparsed_nlri"         // the collector reset it: GoBGP could not parse the NLRI
	resetHoldTimer       = "hold_timer_expired"    // code 4 or the hold timer
	resetFSMError        = "fsm_error"             // code 5
	resetCeaseSent       = "cease_sent"            // code 6 (administrative)
	resetPeerNotified    = "notification_received" // the peer closed it with a NOTIFICATION
	resetConnectionLost  = "connection_lost"       // TCP read or write failed
	resetMaxPrefix       = "max_prefix"
	resetAdmin           = "admin" // shut down, deconfigured, hard reset
	resetGraceful        = "graceful_restart"
	resetOther           = "other"
)

var resetReasons = []string{resetMalformedHeader, resetOpenError, resetMalformedUpdate, resetUnparsedNLRI,
	resetHoldTimer, resetFSMError, resetCeaseSent, resetPeerNotified, resetConnectionLost, resetMaxPrefix,
	resetAdmin, resetGraceful, resetOther}

// malformedReason reports whether a reset was caused by malformed input
// from the peer (and so is also a malformed_total session_reset).
func malformedReason(r string) bool {
	return r == resetMalformedHeader || r == resetMalformedUpdate || r == resetUnparsedNLRI
}

// resetReasonOf classifies a GoBGP peer state that left Established.
func resetReasonOf(st *apiutil.PeerState) string {
	if st.AdminState == api.PeerState_ADMIN_STATE_PFX_CT {
		return resetMaxPrefix
	}
	switch st.DisconnectReason {
	case api.PeerState_DISCONNECT_REASON_NOTIFICATION_SENT:
		// GoBGP: "notification-sent code 3(update) subcode 1(...)".
		_, rest, _ := strings.Cut(st.DisconnectMessage, "code ")
		switch {
		case strings.HasPrefix(rest, "1("):
			return resetMalformedHeader
		case strings.HasPrefix(rest, "2("):
			return resetOpenError
		case strings.HasPrefix(rest, "3("):
			return resetMalformedUpdate
		case strings.HasPrefix(rest, "4("):
			return resetHoldTimer
		case strings.HasPrefix(rest, "5("):
			return resetFSMError
		case strings.HasPrefix(rest, "6("):
			return resetCeaseSent
		}
		return resetOther
	case api.PeerState_DISCONNECT_REASON_HOLD_TIMER_EXPIRED:
		return resetHoldTimer
	case api.PeerState_DISCONNECT_REASON_NOTIFICATION_RECEIVED:
		return resetPeerNotified
	case api.PeerState_DISCONNECT_REASON_READ_FAILED, api.PeerState_DISCONNECT_REASON_WRITE_FAILED:
		return resetConnectionLost
	case api.PeerState_DISCONNECT_REASON_ADMIN_DOWN, api.PeerState_DISCONNECT_REASON_DECONFIGURED,
		api.PeerState_DISCONNECT_REASON_HARD_RESET:
		return resetAdmin
	case api.PeerState_DISCONNECT_REASON_GRACEFUL_RESTART:
		return resetGraceful
	case api.PeerState_DISCONNECT_REASON_INVALID_MSG:
		return resetMalformedUpdate
	}
	return resetOther
}

// GoBGP v4.8.0 returns treat-as-withdraw from BGPUpdate.DecodeFromBytes
// before it decodes the NLRI field when an attribute's length runs past
// the attribute block or the message (RFC 7606 section 4 says: rely on the
// Total Path Attribute Length to find the NLRI and withdraw it). The
// "withdrawal" then withdraws nothing and the peer's previous path for
// those prefixes would stay, although the peer replaced it. Such a message
// reaches the server loop with a nil NLRI slice (a parsed one is
// non-nil), which GoBGP's debug record "received update" shows: after a
// treat-as-withdraw report the collector watches that peer's records for
// it and resets the session (the fallback RFC 7606 section 5.3 allows);
// see docs/upstream/gobgp-treat-as-withdraw-nlri.md.
const (
	handlingUnparsedNLRI = "unparsed_nlri" // internal report kind, not a metric label
	receivedUpdateMsg    = "received update"
	// unparsedWatch is how long a peer's debug records are inspected
	// after a treat-as-withdraw report (the server loop may lag the
	// reader under a table load).
	unparsedWatch = time.Minute
)

// unparsedNLRI reports whether a "received update" record is of an UPDATE
// whose NLRI GoBGP did not decode.
func unparsedNLRI(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "nlri" {
			return true
		}
		if v, ok := a.Value.Any().([]bgp.PathNLRI); ok && v == nil {
			found = true
		}
		return false
	})
	return found
}

// watchList is the set of peers whose debug records are inspected, each
// until a deadline.
type watchList struct {
	mu sync.Mutex
	m  map[string]time.Time
	// n is len(m): GoBGP asks Enabled for every path's debug record, and
	// the list is almost always empty.
	n atomic.Int64
}

func (w *watchList) add(key string, until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]time.Time{}
	}
	w.m[key] = until
	w.n.Store(int64(len(w.m)))
}

// active reports whether any peer is watched (cheap, no lock).
func (w *watchList) active() bool { return w.n.Load() > 0 }

func (w *watchList) has(key string, now time.Time) bool {
	if key == "" || !w.active() {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	until, ok := w.m[key]
	if ok && now.After(until) {
		delete(w.m, key)
		w.n.Store(int64(len(w.m)))
		return false
	}
	return ok
}

// malformedHandling maps GoBGP v4.8.0's log messages for malformed input
// to a handling label; TestMalformedInput pins the strings against the
// real server.
func malformedHandling(msg string) string {
	switch {
	case strings.HasPrefix(msg, "Session will be reset due to malformed BGP"):
		return handlingSessionReset
	case msg == "the received Update message was treated as withdraw":
		return handlingTreatAsWithdraw
	case msg == "Some attributes were discarded":
		return handlingAttributeDiscard
	}
	return ""
}

// malformedReport is one GoBGP log record about malformed input.
type malformedReport struct {
	handling string
	peer     string // GoBGP's "Key": the neighbor address ("" if absent)
	state    string // FSM state, e.g. BGP_FSM_ESTABLISHED
	err      string // GoBGP's error text
}

// countingHandler passes GoBGP's log records on to the configured logger
// and reports malformed-input records whatever the log level.
type countingHandler struct {
	inner   slog.Handler
	key     string // the "Key" attribute GoBGP's peer loggers carry
	report  func(malformedReport)
	watched *watchList // peers whose "received update" records are inspected
}

func (h *countingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.inner.Enabled(ctx, l) || (l == slog.LevelDebug && h.watched.active() && h.watched.has(h.key, time.Now()))
}

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelDebug && r.Message == receivedUpdateMsg && h.watched.has(h.key, time.Now()) && unparsedNLRI(r) {
		h.report(malformedReport{handling: handlingUnparsedNLRI, peer: h.key})
	}
	if r.Level >= slog.LevelWarn {
		if k := malformedHandling(r.Message); k != "" {
			rep := malformedReport{handling: k, peer: h.key}
			r.Attrs(func(a slog.Attr) bool {
				switch a.Key {
				case "State":
					rep.state = a.Value.String()
				case "Error":
					rep.err = a.Value.String()
				case "Key":
					rep.peer = a.Value.String()
				}
				return true
			})
			h.report(rep)
		}
	}
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &countingHandler{inner: h.inner.WithAttrs(as), key: h.key, report: h.report, watched: h.watched}
	for _, a := range as {
		if a.Key == "Key" {
			n.key = a.Value.String()
		}
	}
	return n
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{inner: h.inner.WithGroup(name), key: h.key, report: h.report, watched: h.watched}
}

// pendingResets remembers why the collector itself reset a session, so
// the down event that follows is counted with that reason.
type pendingResets struct {
	mu sync.Mutex
	m  map[netip.Addr]pendingReset
}

type pendingReset struct {
	reason string
	at     time.Time
}

// pendingTTL bounds how long a requested reset waits for its down event
// (the session may already have ended for another reason).
const pendingTTL = time.Minute

func (p *pendingResets) expect(a netip.Addr, reason string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[netip.Addr]pendingReset{}
	}
	p.m[a] = pendingReset{reason: reason, at: now}
}

// take returns and forgets the reason recorded for a, if still fresh.
func (p *pendingResets) take(a netip.Addr, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[a]
	delete(p.m, a)
	if !ok || now.Sub(r.at) > pendingTTL {
		return "", false
	}
	return r.reason, true
}

// resetter is the part of GoBGP's server the collector uses to reset a
// session.
type resetter interface {
	ResetPeer(ctx context.Context, r *api.ResetPeerRequest) error
}

// serverRef resolves the GoBGP server when a reset is needed (the log
// handler exists before the server does).
type serverRef struct {
	p *atomic.Pointer[server.BgpServer]
}

func (r serverRef) ResetPeer(ctx context.Context, req *api.ResetPeerRequest) error {
	s := r.p.Load()
	if s == nil {
		return errors.New("collector: reset peer: server not started")
	}
	return s.ResetPeer(ctx, req)
}

// onMalformed handles one report: counts it, watches a peer after a
// treat-as-withdraw, and resets the session when GoBGP did not parse an
// UPDATE's NLRI. Resets of Established sessions are counted when the
// session goes down.
func (c *Collector) onMalformed(ctx context.Context, srv resetter, rep malformedReport) {
	switch {
	case rep.handling == handlingUnparsedNLRI:
		c.resetUnparsed(ctx, srv, rep.peer)
	case rep.handling == handlingSessionReset && rep.state == "BGP_FSM_ESTABLISHED":
		// Counted with its reason when the session's down event arrives.
	default:
		if rep.handling == handlingTreatAsWithdraw {
			c.watched.add(rep.peer, time.Now().Add(unparsedWatch))
		}
		c.m.malformed.WithLabelValues(rep.handling).Inc()
	}
}

func (c *Collector) resetUnparsed(ctx context.Context, srv resetter, peer string) {
	a, err := netip.ParseAddr(peer)
	if err != nil {
		c.logger.Error("collector: UPDATE with unparsed NLRI from an unknown peer; cannot reset", "peer", peer)
		return
	}
	a = a.Unmap()
	c.resets.expect(a, resetUnparsedNLRI, time.Now())
	c.logger.Warn("collector: GoBGP treated an UPDATE as withdrawn without parsing its NLRI; resetting the session so no replaced path stays (RFC 7606 5.3)", "peer", a)
	// Not on GoBGP's goroutine: ResetPeer waits for the server loop,
	// which is the one logging.
	go func() {
		err := srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: a.String(), Communication: "malformed UPDATE: NLRI not parsed (RFC 7606)"})
		if err != nil && ctx.Err() == nil {
			c.logger.Warn("collector: reset after malformed UPDATE failed", "peer", a, "err", err)
		}
	}()
}

// countReset counts an Established session that ended.
func (c *Collector) countReset(a netip.Addr, st *apiutil.PeerState) string {
	reason, ok := c.resets.take(a, time.Now())
	if !ok {
		reason = resetReasonOf(st)
	}
	c.m.resets.WithLabelValues(reason).Inc()
	if malformedReason(reason) {
		c.m.malformed.WithLabelValues(handlingSessionReset).Inc()
	}
	return reason
}
