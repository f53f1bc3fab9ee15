package bmpstation

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
)

// errReplaced ends a session whose router opened a newer one.
var errReplaced = errors.New("replaced by a newer BMP session of the same router")

// session is one BMP connection.
type session struct {
	st   *Station
	out  chan<- route.Batch
	ctx  context.Context
	addr netip.Addr
	dec  *decoder

	slot *routerSlot
	gen  uint64
	name string
	// term is the Termination message's reason, if one came.
	term      string
	messages  int64
	offset    int64
	stopTimer func()
}

func (s *session) run(r *bufio.Reader) error {
	var buf []byte
	defer func() {
		if s.stopTimer != nil {
			s.stopTimer()
		}
	}()
	for {
		b, err := readMessage(r, buf)
		if err != nil {
			return s.located(err)
		}
		buf = b[:0]
		at := s.st.now()
		m, err := s.dec.decode(b, at)
		if err != nil {
			return s.located(err)
		}
		s.messages++
		s.st.m.messages.WithLabelValues(typeNames[m.typ]).Inc()
		s.st.logger.Debug("bmpstation: message", "router", s.name, "type", typeNames[m.typ], "peer", m.peer.key.addr, "view", m.view, "updates", len(m.updates), "eor", m.eor)
		if err := s.handle(&m, at, r.Buffered() == 0); err != nil {
			return err
		}
		s.offset += int64(len(b))
	}
}

func (s *session) located(err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		de.Offset = s.offset
	}
	return err
}

// attach binds the session to its router's state, taking over from an
// older session of the same router.
func (s *session) attach(sysName string) {
	s.name = s.addr.String()
	if sysName != "" {
		s.name = sysName + "@" + s.name
	}
	st := s.st
	st.mu.Lock()
	slot := st.routers[s.name]
	if slot == nil {
		slot = &routerSlot{tr: newRouterTrack(s.name)}
		st.routers[s.name] = slot
	}
	st.mu.Unlock()
	slot.mu.Lock()
	defer slot.mu.Unlock()
	slot.gen++
	s.slot, s.gen = slot, slot.gen
	s.stopTimer = s.startTimer()
	if sts := slot.tr.sessionDown(st.now(), errReplaced.Error()); len(sts) > 0 {
		s.emit(nil, sts)
		s.flush()
	}
}

func (s *session) handle(m *message, at time.Time, idle bool) error {
	if s.slot == nil {
		s.attach(m.sysName)
	}
	if m.typ == typeInitiation {
		s.initiation(m)
	}
	slot := s.slot
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.gen != s.gen {
		return errReplaced
	}
	tr := slot.tr
	cfg := s.st.cfg
	switch m.typ {
	case typePeerUp:
		s.emit(nil, tr.peerUp(at, m.peer.key, m.peer.asn, m.up.families, cfg.EORTimeout))
	case typePeerDown:
		// Gauges go before the states: whoever sees the peer down sees them gone.
		s.st.m.stats.DeletePartialMatch(prometheus.Labels{"router": s.name, "peer": statsPeer(m)})
		s.emit(nil, tr.peerDown(at, m.peer.key, m.downReason))
	case typeRouteMonitoring:
		if m.withdrawn {
			s.st.m.treatAsWd.Inc()
		}
		ups, sts := tr.apply(m, s.st.watch, cfg.EORTimeout, at)
		s.emit(nil, sts)
		s.emit(ups, nil)
		if m.eor != 0 {
			s.emit(tr.endOfRIB(at, vantageKey{peer: m.peer.key, view: m.view}, m.eor))
		}
	case typeStatistics:
		s.statistics(m)
	case typeRouteMirroring:
		s.st.m.mirroring.WithLabelValues(s.name, m.mirrorKind).Inc()
	case typeTermination:
		s.term = m.termReason
		if s.term == "" {
			s.term = "no reason given"
		}
		s.st.m.terminated.WithLabelValues(s.term).Inc()
		s.st.logger.Info("bmpstation: router terminated its session", "router", s.name, "reason", s.term, "info", m.info)
	}
	s.st.m.sync(&tr.counts)
	if idle || len(slot.pending.Updates) >= maxBatch {
		s.flush()
	}
	return nil
}

func (s *session) initiation(m *message) {
	info := [2]string{m.sysName, m.sysDescr}
	s.slot.mu.Lock()
	old := s.slot.info
	s.slot.info = info
	s.slot.mu.Unlock()
	if old != info {
		s.st.m.routerInfo.DeleteLabelValues(s.name, old[0], old[1])
	}
	s.st.m.routerInfo.WithLabelValues(s.name, m.sysName, m.sysDescr).Set(1)
	s.st.logger.Info("bmpstation: router connected", "router", s.name, "sys_name", m.sysName, "sys_descr", m.sysDescr)
}

// statsPeer is the peer label of a message's Statistics Report gauges.
func statsPeer(m *message) string {
	peer := m.peer.key.addr.String()
	if !m.peer.key.addr.IsValid() {
		peer = m.peer.bgpID.String()
	}
	if m.peer.key.rd != 0 {
		peer += " rd " + strconv.FormatUint(m.peer.key.rd, 10)
	}
	return peer
}

func (s *session) statistics(m *message) {
	peer := statsPeer(m)
	for _, st := range m.stats {
		s.st.m.stats.WithLabelValues(s.name, peer, m.view.String(), strconv.Itoa(int(st.typ)), st.fam).Set(float64(st.value))
	}
}

// emit queues updates, then states, which carry the router's sysDescr;
// states end the batch (a batch's updates come before its states).
func (s *session) emit(ups []route.Update, sts []route.PeerState) {
	p := &s.slot.pending
	if len(ups) > 0 {
		p.Updates = append(p.Updates, ups...)
	}
	if len(sts) > 0 {
		for i := range sts {
			sts[i].SysDescr = s.slot.info[1]
		}
		p.States = append(p.States, sts...)
		s.flush()
	}
}

// flush hands the pending batch on; the router's TCP stream waits while
// the consumer is busy.
func (s *session) flush() {
	p := &s.slot.pending
	if p.Empty() {
		return
	}
	select {
	case s.out <- *p:
	case <-s.ctx.Done():
	}
	*p = route.Batch{}
}

// startTimer ends initial tables without End-of-RIB after EORTimeout and
// flushes what waits.
func (s *session) startTimer() func() {
	period := min(max(s.st.cfg.EORTimeout/10, 10*time.Millisecond), time.Second)
	t := time.NewTicker(period)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
			s.expire()
		}
	}()
	return func() { t.Stop(); close(done) }
}

func (s *session) expire() {
	slot := s.slot
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.gen != s.gen {
		return
	}
	ups, sts := slot.tr.expire(s.st.now())
	s.emit(ups, sts)
	s.st.m.sync(&slot.tr.counts)
	s.flush()
}

// close takes the router's views down after its session ended.
func (s *session) close(err error) {
	reason := "BMP session closed"
	var de *DecodeError
	switch {
	case errors.As(err, &de):
		s.st.m.malformed.WithLabelValues(de.Reason).Inc()
		s.st.logger.Warn("bmpstation: malformed BMP input, closing the router's connection", "router", s.name, "remote", s.addr, "err", err)
		reason += ": malformed input (" + de.Reason + ")"
	case s.term != "":
		reason += " by the router: " + s.term
	case err == nil || errors.Is(err, io.EOF):
		reason += " by the router"
	case errors.Is(err, errReplaced):
		return
	case errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil:
		reason += ": station stopping"
	default:
		reason += ": " + err.Error()
	}
	if s.slot == nil {
		return
	}
	slot := s.slot
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.gen != s.gen {
		return
	}
	// Series go before the states: whoever sees the views down sees them gone.
	s.st.m.routerInfo.DeleteLabelValues(s.name, slot.info[0], slot.info[1])
	s.st.m.stats.DeletePartialMatch(prometheus.Labels{"router": s.name})
	s.emit(nil, slot.tr.sessionDown(s.st.now(), reason))
	s.st.m.sync(&slot.tr.counts)
	s.flush()
	s.st.logger.Info("bmpstation: router session ended", "router", s.name, "reason", reason)
}
