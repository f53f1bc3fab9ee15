package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
	"routewatch/store"
)

// ChangeLog is the store's ordered, bounded log of event changes
// (store.Memory and store.Redis have one). The stream appends what the
// engine publishes and resumes reconnecting clients from it.
type ChangeLog interface {
	AppendChanges(ctx context.Context, chs []route.EventChange) ([]uint64, error)
	ChangesAfter(ctx context.Context, after uint64, limit int) ([]store.ChangeRecord, error)
	LastChange(ctx context.Context) (uint64, error)
}

// Stream limits.
const (
	// hubQueue is how many changes the engine may publish ahead of the
	// hub's store writes before the hub drops (and counts) them.
	hubQueue = 4096
	// clientBuffer is how many changes one SSE client may lag behind;
	// a client further behind is disconnected (and counted) and resumes
	// from the change log with Last-Event-ID.
	clientBuffer = 256
	// maxStreamClients bounds concurrent SSE clients.
	maxStreamClients = 512
	defaultHeartbeat = 15 * time.Second
	// defaultLogPoll is how often a stream reads the change log while no
	// engine in this process publishes (the API of a collector or writer
	// process with Redis: another process's engine appends to the log).
	defaultLogPoll = time.Second
)

type streamMetrics struct {
	clients   prometheus.Gauge
	sent      prometheus.Counter
	dropped   prometheus.Counter
	lost      prometheus.Counter
	logErrors prometheus.Counter
}

func newStreamMetrics(reg prometheus.Registerer) (*streamMetrics, error) {
	m := &streamMetrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routewatch_api_stream_clients", Help: "Connected SSE clients of /api/v1/stream.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_api_stream_sent_total", Help: "Event changes written to SSE clients.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_api_stream_slow_clients_total", Help: "SSE clients disconnected because they fell behind (they resume with Last-Event-ID).",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_api_stream_lost_changes_total", Help: "Event changes the stream hub could not take because its queue was full (the engine never waits).",
		}),
		logErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routewatch_api_stream_log_errors_total", Help: "Failed appends to the store's event change log (changes are still streamed, without an id).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.clients, m.sent, m.dropped, m.lost, m.logErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register stream metrics: %w", err)
		}
	}
	return m, nil
}

// streamClient is one SSE connection's buffer. gone is closed when the hub
// drops the client for falling behind.
type streamClient struct {
	ch   chan store.ChangeRecord
	gone chan struct{}
}

// hub fans event changes out to SSE clients. Publish never blocks; Run
// appends to the change log (numbering the changes) and fans out.
type hub struct {
	log    ChangeLog // nil: changes are streamed without ids
	m      *streamMetrics
	logger interface {
		Warn(msg string, args ...any)
	}
	in chan route.EventChange
	// fed is set by the first publish: an engine runs in this process.
	fed atomic.Bool

	mu      sync.Mutex
	clients map[*streamClient]struct{}
}

func newHub(log ChangeLog, m *streamMetrics, logger interface{ Warn(string, ...any) }) *hub {
	return &hub{log: log, m: m, logger: logger, in: make(chan route.EventChange, hubQueue), clients: map[*streamClient]struct{}{}}
}

// publish queues a change without waiting; a full queue drops and counts.
func (h *hub) publish(c route.EventChange) {
	h.fed.Store(true)
	select {
	case h.in <- c:
	default:
		h.m.lost.Inc()
	}
}

// run numbers queued changes in the store's change log and fans them out,
// until ctx ends.
func (h *hub) run(ctx context.Context) {
	batch := make([]route.EventChange, 0, 64)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case c := <-h.in:
			batch = append(batch, c)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case c := <-h.in:
				batch = append(batch, c)
			default:
				break more
			}
		}
		h.fanOut(h.number(ctx, batch))
	}
}

func (h *hub) number(ctx context.Context, batch []route.EventChange) []store.ChangeRecord {
	recs := make([]store.ChangeRecord, len(batch))
	for i, c := range batch {
		recs[i] = store.ChangeRecord{Change: c.Change, Event: c.Event}
	}
	if h.log == nil {
		return recs
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	seqs, err := h.log.AppendChanges(actx, batch)
	if err != nil || len(seqs) != len(batch) {
		h.m.logErrors.Inc()
		h.logger.Warn("api: stream: append to the change log failed; streaming without ids", "changes", len(batch), "err", err)
		return recs
	}
	for i := range recs {
		recs[i].Seq = seqs[i]
	}
	return recs
}

func (h *hub) fanOut(recs []store.ChangeRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		for _, r := range recs {
			select {
			case c.ch <- r:
			default:
				// Too slow: drop it rather than wait or buffer without bound.
				delete(h.clients, c)
				close(c.gone)
				h.m.dropped.Inc()
				h.m.clients.Dec()
			}
			if _, ok := h.clients[c]; !ok {
				break
			}
		}
	}
}

func (h *hub) subscribe() (*streamClient, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= maxStreamClients {
		return nil, false
	}
	c := &streamClient{ch: make(chan store.ChangeRecord, clientBuffer), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	h.m.clients.Inc()
	return c, true
}

func (h *hub) unsubscribe(c *streamClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.m.clients.Dec()
	}
}

// PublishEvent hands one event change to the SSE stream. It never blocks
// (the engine calls it inline); the change reaches clients once Run is
// serving.
func (s *Server) PublishEvent(c route.EventChange) { s.hub.publish(c) }

// sseWriter writes SSE frames, each with a fresh write deadline (the
// server's WriteTimeout would otherwise end every stream).
type sseWriter struct {
	c       echo.Context
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *sseWriter) write(frame string) error {
	if w.timeout > 0 {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	if _, err := w.c.Response().Write([]byte(frame)); err != nil {
		return err
	}
	return w.rc.Flush()
}

func (w *sseWriter) change(r store.ChangeRecord) error {
	data, err := json.Marshal(viewEvent(r.Event))
	if err != nil {
		return fmt.Errorf("api: encode stream event: %w", err)
	}
	var b strings.Builder
	if r.Seq != 0 {
		b.WriteString("id: " + strconv.FormatUint(r.Seq, 10) + "\n")
	}
	b.WriteString("event: " + string(r.Change) + "\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return w.write(b.String())
}

func lastEventID(c echo.Context) (uint64, bool, error) {
	raw := c.Request().Header.Get("Last-Event-ID")
	if raw == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return 0, false, badParam("Last-Event-ID", "Last-Event-ID must be a sequence number from this stream")
	}
	return n, true, nil
}

// getStream serves GET /api/v1/stream: Server-Sent Events of event
// changes (DESIGN.md, SSE stream contract).
func (s *Server) getStream(c echo.Context) error {
	if err := checkQuery(c.QueryParams()); err != nil {
		return err
	}
	after, resume, err := lastEventID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if s.changeLog != nil && !resume {
		// A new client starts at the newest record (polls in streamLive
		// then read only news); read before subscribing, so nothing the
		// hub delivers afterwards is taken for old.
		if after, err = s.changeLog.LastChange(ctx); err != nil {
			s.logger.Warn("api: stream: read the change log", "err", err)
		}
	}
	// Subscribe before reading the backlog, so nothing falls between.
	cl, ok := s.hub.subscribe()
	if !ok {
		c.Response().Header().Set("Retry-After", "10")
		return &Error{Status: http.StatusServiceUnavailable, Message: "too many stream clients"}
	}
	defer s.hub.unsubscribe(cl)
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	c.Response().WriteHeader(http.StatusOK)
	w := &sseWriter{c: c, rc: http.NewResponseController(c.Response()), timeout: s.cfg.WriteTimeout}
	if err := w.write("retry: 3000\n: routewatch event changes\n\n"); err != nil {
		return nil
	}
	if resume && s.changeLog != nil {
		if after, err = s.streamBacklog(ctx, w, after); err != nil {
			return nil // the client went away, or the store failed (logged)
		}
	}
	s.streamLive(ctx, w, cl, after)
	return nil
}

// streamLive sends heartbeats and live changes (from the hub, or polled
// from the change log when no engine runs in this process) until the
// client goes, falls behind, or the server shuts down.
func (s *Server) streamLive(ctx context.Context, w *sseWriter, cl *streamClient, after uint64) {
	tick := time.NewTicker(s.heartbeat)
	defer tick.Stop()
	poll := time.NewTicker(s.logPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			// Without a local engine, the news are only in the store.
			if s.changeLog == nil || s.hub.fed.Load() {
				continue
			}
			var err error
			if after, err = s.streamBacklog(ctx, w, after); err != nil {
				return
			}
		case <-cl.gone:
			return
		case <-s.closing:
			return
		case <-tick.C:
			if w.write(": heartbeat\n\n") != nil {
				return
			}
		case r := <-cl.ch:
			if r.Seq != 0 && r.Seq <= after {
				continue // already sent from the backlog
			}
			if w.change(r) != nil {
				return
			}
			s.stream.sent.Inc()
		}
	}
}

// streamBacklog sends what the change log holds after the client's last
// id and returns the last sequence number sent (after itself when none).
func (s *Server) streamBacklog(ctx context.Context, w *sseWriter, after uint64) (uint64, error) {
	first := true
	for {
		recs, err := s.changeLog.ChangesAfter(ctx, after, store.MaxLimit)
		if err != nil {
			s.logger.Warn("api: stream: read the change log", "err", err)
			return after, err
		}
		if len(recs) == 0 {
			return after, nil
		}
		if first && recs[0].Seq > after+1 {
			if err := w.write(fmt.Sprintf(": changes %d-%d are no longer in the log\n\n", after+1, recs[0].Seq-1)); err != nil {
				return after, err
			}
		}
		first = false
		for _, r := range recs {
			if err := w.change(r); err != nil {
				return after, err
			}
			s.stream.sent.Inc()
			after = r.Seq
		}
	}
}
