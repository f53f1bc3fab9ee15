package rislive

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// risServer is a local websocket server speaking RIS Live message for
// message: it answers ris_subscribe with ris_subscribe_ok, ping with pong
// (unless told not to), records ris_unsubscribe, and lets the test send
// any bytes, drop the connection or go silent.
type risServer struct {
	t     *testing.T
	srv   *httptest.Server
	conns chan *serverConn

	mu          sync.Mutex
	noPong      bool
	connections int
}

type serverConn struct {
	c      *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	subs   []Subscription
	unsubs []Subscription
	pings  int
}

func newRISServer(t *testing.T) *risServer {
	s := &risServer{t: t, conns: make(chan *serverConn, 16)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *risServer) url() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/v1/ws/?client=routewatch-test"
}

func (s *risServer) setNoPong(v bool) {
	s.mu.Lock()
	s.noPong = v
	s.mu.Unlock()
}

func (s *risServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/ws/" || r.URL.Query().Get("client") == "" {
		http.Error(w, "no client name", http.StatusBadRequest)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancel(r.Context())
	sc := &serverConn{c: c, ctx: ctx, cancel: cancel}
	s.mu.Lock()
	s.connections++
	s.mu.Unlock()
	s.conns <- sc
	defer cancel()
	defer c.CloseNow()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var m struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(b, &m) != nil {
			sc.send(`{"type":"ris_error","data":{"message":"Could not parse message"}}`)
			continue
		}
		switch m.Type {
		case "ris_subscribe", "ris_unsubscribe":
			var sub Subscription
			if err := json.Unmarshal(m.Data, &sub); err != nil {
				sc.send(`{"type":"ris_error","data":{"message":"bad subscription"}}`)
				continue
			}
			sc.mu.Lock()
			if m.Type == "ris_subscribe" {
				sc.subs = append(sc.subs, sub)
			} else {
				sc.unsubs = append(sc.unsubs, sub)
			}
			sc.mu.Unlock()
			if m.Type == "ris_subscribe" {
				sc.send(fmt.Sprintf(`{"type":"ris_subscribe_ok","data":{"subscription":%s,"socketOptions":{"includeRaw":false}}}`, m.Data))
			}
		case "ping":
			sc.mu.Lock()
			sc.pings++
			sc.mu.Unlock()
			s.mu.Lock()
			no := s.noPong
			s.mu.Unlock()
			if !no {
				sc.send(`{"type":"pong","data":null}`)
			}
		default:
			sc.send(`{"type":"ris_error","data":{"message":"Unknown message type"}}`)
		}
	}
}

// accept waits for the client's next connection.
func (s *risServer) accept(t *testing.T) *serverConn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no connection from the client")
	}
	return nil
}

func (c *serverConn) send(msg string) {
	_ = c.c.Write(c.ctx, websocket.MessageText, []byte(msg))
}

// drop ends the connection without a close handshake, as a network
// failure does.
func (c *serverConn) drop() {
	c.cancel()
	c.c.CloseNow()
}

func (c *serverConn) subscriptions() []Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Subscription(nil), c.subs...)
}

func (c *serverConn) unsubscriptions() []Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Subscription(nil), c.unsubs...)
}

// Message builders with RIS Live's field layout.

func risUpdate(host, peer, asn string, ts float64, path string, nextHop string, prefixes ...string) string {
	return fmt.Sprintf(`{"type":"ris_message","data":{"timestamp":%.3f,"peer":%q,"peer_asn":%q,"id":"%.3f-%s","host":%q,"type":"UPDATE","path":%s,"community":[[%s,1]],"origin":"IGP","announcements":[{"next_hop":%q,"prefixes":%s}],"withdrawals":[]}}`,
		ts, peer, asn, ts, peer, host, path, asn, nextHop, jsonList(prefixes))
}

func risWithdraw(host, peer, asn string, ts float64, prefixes ...string) string {
	return fmt.Sprintf(`{"type":"ris_message","data":{"timestamp":%.3f,"peer":%q,"peer_asn":%q,"id":"w","host":%q,"type":"UPDATE","path":[],"community":[],"announcements":[],"withdrawals":%s}}`,
		ts, peer, asn, host, jsonList(prefixes))
}

func risPeerState(host, peer, asn string, ts float64, state string) string {
	return fmt.Sprintf(`{"type":"ris_message","data":{"timestamp":%.3f,"peer":%q,"peer_asn":%q,"id":"s","host":%q,"type":"RIS_PEER_STATE","state":%q}}`,
		ts, peer, asn, host, state)
}

func risBare(host, peer, asn string, ts float64, typ, extra string) string {
	return fmt.Sprintf(`{"type":"ris_message","data":{"timestamp":%.3f,"peer":%q,"peer_asn":%q,"id":"k","host":%q,"type":%q%s}}`,
		ts, peer, asn, host, typ, extra)
}

func jsonList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
