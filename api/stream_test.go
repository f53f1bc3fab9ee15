package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
	"routewatch/store"
)

// sseFrame is one parsed SSE frame; comment holds comment lines.
type sseFrame struct {
	id, event, data, comment string
}

// sseConn reads frames from a live GET /api/v1/stream.
type sseConn struct {
	res *http.Response
	br  *bufio.Reader
	raw bytes.Buffer
}

func (c *sseConn) next(t *testing.T) sseFrame {
	t.Helper()
	var f sseFrame
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v (so far: %q)", err, c.raw.String())
		}
		c.raw.WriteString(line)
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if f != (sseFrame{}) {
				return f
			}
		case strings.HasPrefix(line, "id: "):
			f.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			f.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			f.data += line[6:]
		case strings.HasPrefix(line, ":"):
			f.comment += strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "retry: "):
		default:
			t.Fatalf("not an SSE line: %q", line)
		}
	}
}

// nextChange skips comments.
func (c *sseConn) nextChange(t *testing.T) sseFrame {
	t.Helper()
	for {
		if f := c.next(t); f.event != "" {
			return f
		}
	}
}

type streamServer struct {
	s    *Server
	base string
	reg  *prometheus.Registry
}

func startStreamServer(t *testing.T, st Store, heartbeat time.Duration, opts ...func(*Server)) *streamServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(testConfig(), st, nil, reg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.heartbeat = heartbeat
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &streamServer{s: s, base: "http://" + ln.Addr().String(), reg: reg}
}

func (ss *streamServer) connect(t *testing.T, v *openAPIValidator, lastID string) *sseConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ss.base+"/api/v1/stream", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	c := &sseConn{res: res, br: bufio.NewReader(res.Body)}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// The first frame is the greeting comment: the hub has the client.
	if f := c.next(t); f.comment == "" {
		t.Fatalf("first frame %+v, want the greeting comment", f)
	}
	if v != nil {
		vreq := httptest.NewRequest(http.MethodGet, "/api/v1/stream", nil)
		vreq.Header = req.Header.Clone()
		v.check(t, vreq, res.StatusCode, res.Header, c.raw.Bytes())
	}
	return c
}

func streamEvent(id string, prefixes int, end *time.Time) route.Event {
	return route.Event{ID: id, Kind: route.KindPathShift, Provider: "aws", Region: "us-east-1",
		Start: t0.Add(10 * time.Minute), Detected: t0.Add(11 * time.Minute), End: end, Prefixes: prefixes, Peers: 3,
		Transitions: []route.Transition{{FromUpstream: 3356, ToUpstream: 2914, Prefixes: prefixes}}}
}

func checkChange(t *testing.T, f sseFrame, id uint64, kind route.ChangeKind, e route.Event) {
	t.Helper()
	if f.id != strconv.FormatUint(id, 10) || f.event != string(kind) {
		t.Errorf("frame id %q event %q, want %d %s", f.id, f.event, id, kind)
	}
	want, _ := json.Marshal(viewEvent(e))
	if f.data != string(want) {
		t.Errorf("data %s\nwant %s", f.data, want)
	}
}

// TestStream runs the SSE stream on a real listener over each backend:
// live changes in order with sequence ids, resume from the store's change
// log with Last-Event-ID (without duplicates), heartbeats, bad input.
func TestStream(t *testing.T) {
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	v := newValidator(t)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ss := startStreamServer(t, b.open(t), time.Hour)
			live := ss.connect(t, v, "")
			e1 := streamEvent("e1", 10, nil)
			e1b := streamEvent("e1", 25, nil)
			end := t0.Add(40 * time.Minute)
			e1c := streamEvent("e1", 25, &end)
			ss.s.PublishEvent(route.EventChange{Change: route.EventOpened, Event: e1})
			ss.s.PublishEvent(route.EventChange{Change: route.EventUpdated, Event: e1b})
			f1, f2 := live.nextChange(t), live.nextChange(t)
			first, err := strconv.ParseUint(f1.id, 10, 64)
			if err != nil {
				t.Fatalf("first id %q: %v", f1.id, err)
			}
			checkChange(t, f1, first, route.EventOpened, e1)
			checkChange(t, f2, first+1, route.EventUpdated, e1b)

			// A client that saw the first change gets the second from the
			// log, then the third live, once each.
			resumed := ss.connect(t, v, f1.id)
			checkChange(t, resumed.nextChange(t), first+1, route.EventUpdated, e1b)
			ss.s.PublishEvent(route.EventChange{Change: route.EventResolved, Event: e1c})
			checkChange(t, resumed.nextChange(t), first+2, route.EventResolved, e1c)
			checkChange(t, live.nextChange(t), first+2, route.EventResolved, e1c)
		})
	}
	t.Run("no engine in this process", func(t *testing.T) {
		// The API of a writer process: another process's engine appends
		// to the shared change log; the stream reads it from there.
		st := store.NewMemory(store.MemoryConfig{})
		old := streamEvent("old", 1, nil)
		if _, err := st.AppendChanges(context.Background(), []route.EventChange{{Change: route.EventOpened, Event: old}}); err != nil {
			t.Fatal(err)
		}
		ss := startStreamServer(t, st, time.Hour, func(s *Server) { s.logPoll = time.Millisecond })
		c := ss.connect(t, nil, "")
		e := streamEvent("e2", 4, nil)
		if _, err := st.AppendChanges(context.Background(), []route.EventChange{{Change: route.EventOpened, Event: e}}); err != nil {
			t.Fatal(err)
		}
		// Only the news: the change before the client connected is not sent.
		checkChange(t, c.nextChange(t), 2, route.EventOpened, e)
	})
	t.Run("heartbeat", func(t *testing.T) {
		ss := startStreamServer(t, store.NewMemory(store.MemoryConfig{}), time.Millisecond)
		c := ss.connect(t, nil, "")
		if f := c.next(t); f.comment != "heartbeat" {
			t.Errorf("frame %+v, want a heartbeat comment", f)
		}
	})
	t.Run("bad Last-Event-ID", func(t *testing.T) {
		ss := startStreamServer(t, store.NewMemory(store.MemoryConfig{}), time.Hour)
		for _, id := range []string{"abc", "-1", "99999999999999999999999"} {
			req, _ := http.NewRequest(http.MethodGet, ss.base+"/api/v1/stream", nil)
			req.Header.Set("Last-Event-ID", id)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e Error
			_ = json.NewDecoder(res.Body).Decode(&e)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || e.Parameter != "Last-Event-ID" {
				t.Errorf("Last-Event-ID %q: status %d %+v", id, res.StatusCode, e)
			}
		}
	})
	t.Run("unknown query", func(t *testing.T) {
		ss := startStreamServer(t, store.NewMemory(store.MemoryConfig{}), time.Hour)
		res, err := http.Get(ss.base + "/api/v1/stream?since=1")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d", res.StatusCode)
		}
	})
}

// TestHubNeverBlocks: publishing with nobody draining the queue, and
// fanning out to a client that does not read, both return at once; the
// losses are counted and the slow client is dropped.
func TestHubNeverBlocks(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newStreamMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := newHub(store.NewMemory(store.MemoryConfig{}), m, discardWarn{})
	for range hubQueue + 7 {
		h.publish(route.EventChange{Change: route.EventUpdated, Event: streamEvent("e", 1, nil)})
	}
	if got := counterValue(t, reg, "routewatch_api_stream_lost_changes_total"); got != 7 {
		t.Errorf("lost changes = %v, want 7", got)
	}
	slow, _ := h.subscribe()
	fast, _ := h.subscribe()
	recs := make([]store.ChangeRecord, clientBuffer+1)
	h.fanOut(recs[:clientBuffer])
	for range clientBuffer {
		<-fast.ch
	}
	h.fanOut(recs[clientBuffer:])
	select {
	case <-slow.gone:
	default:
		t.Fatal("the slow client was not dropped")
	}
	select {
	case <-fast.gone:
		t.Fatal("the client that kept up was dropped")
	default:
	}
	if got := counterValue(t, reg, "routewatch_api_stream_slow_clients_total"); got != 1 {
		t.Errorf("slow clients = %v, want 1", got)
	}
	h.unsubscribe(slow) // already gone: no double count
	h.unsubscribe(fast)
	if n := len(h.clients); n != 0 {
		t.Errorf("%d clients left", n)
	}
}

type discardWarn struct{}

func (discardWarn) Warn(string, ...any) {}
