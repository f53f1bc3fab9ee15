// Package rislivetest is a local websocket server speaking RIS Live
// message for message, and an encoder from route types to RIS Live
// JSON, for the tests of the RIS Live client and of serve.
package rislivetest

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

// Subscription is the data of a ris_subscribe as the server received it.
type Subscription struct {
	Host         string `json:"host,omitempty"`
	Type         string `json:"type,omitempty"`
	Prefix       string `json:"prefix,omitempty"`
	MoreSpecific bool   `json:"moreSpecific,omitempty"`
	Path         string `json:"path,omitempty"`
}

// Server is a local websocket server speaking RIS Live message for
// message: it answers ris_subscribe with ris_subscribe_ok, ping with pong
// (unless told not to), records ris_unsubscribe, and lets the test send
// any bytes, drop the connection or go silent.
type Server struct {
	t     testing.TB
	srv   *httptest.Server
	conns chan *Conn

	mu          sync.Mutex
	noPong      bool
	connections int
}

// Conn is one client connection.
type Conn struct {
	c      *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	subs   []Subscription
	unsubs []Subscription
	pings  int
}

// Pings is the number of pings received.
func (c *Conn) Pings() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pings
}

// NewServer starts a server on loopback, closed at the end of the test.
func NewServer(t testing.TB) *Server {
	s := &Server{t: t, conns: make(chan *Conn, 16)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the ws:// endpoint with RIS Live's path.
func (s *Server) URL() string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/v1/ws/?client=routewatch-test"
}

// SetNoPong stops (or resumes) answering pings.
func (s *Server) SetNoPong(v bool) {
	s.mu.Lock()
	s.noPong = v
	s.mu.Unlock()
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
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
	sc := &Conn{c: c, ctx: ctx, cancel: cancel}
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
			sc.Send(`{"type":"ris_error","data":{"message":"Could not parse message"}}`)
			continue
		}
		switch m.Type {
		case "ris_subscribe", "ris_unsubscribe":
			var sub Subscription
			if err := json.Unmarshal(m.Data, &sub); err != nil {
				sc.Send(`{"type":"ris_error","data":{"message":"bad subscription"}}`)
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
				sc.Send(fmt.Sprintf(`{"type":"ris_subscribe_ok","data":{"subscription":%s,"socketOptions":{"includeRaw":false}}}`, m.Data))
			}
		case "ping":
			sc.mu.Lock()
			sc.pings++
			sc.mu.Unlock()
			s.mu.Lock()
			no := s.noPong
			s.mu.Unlock()
			if !no {
				sc.Send(`{"type":"pong","data":null}`)
			}
		default:
			sc.Send(`{"type":"ris_error","data":{"message":"Unknown message type"}}`)
		}
	}
}

// Accept waits for the client's next connection.
func (s *Server) Accept(t testing.TB) *Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no connection from the client")
	}
	return nil
}

// Send writes one text message.
func (c *Conn) Send(msg string) {
	_ = c.c.Write(c.ctx, websocket.MessageText, []byte(msg))
}

// Drop ends the connection without a close handshake, as a network
// failure does.
func (c *Conn) Drop() {
	c.cancel()
	c.c.CloseNow()
}

// Subscriptions returns what the client subscribed to so far.
func (c *Conn) Subscriptions() []Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Subscription(nil), c.subs...)
}

// Unsubscriptions returns what the client unsubscribed from so far.
func (c *Conn) Unsubscriptions() []Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Subscription(nil), c.unsubs...)
}

// Message builders with RIS Live's field layout.

// Update is an UPDATE announcing prefixes; path is JSON ("[3333,[1,2]]").
func Update(host, peer, asn string, ts float64, path string, nextHop string, prefixes ...string) string {
	return fmt.Sprintf(`{"type":"ris_message","data":{"timestamp":%.3f,"peer":%q,"peer_asn":%q,"id":"%.3f-%s","host":%q,"type":"UPDATE","path":%s,"community":[[%s,1]],"origin":"IGP","announcements":[{"next_hop":%q,"prefixes":%s}],"withdrawals":[]}}`,
		ts, peer, asn, ts, peer, host, path, asn, nextHop, jsonList(prefixes))
}

// Withdraw is an UPDATE withdrawing prefixes, with path [].
func Withdraw(host, peer, asn string, ts float64, prefixes ...string) string {
	return fmt.Sprintf(`{"type":"ris_message","data":{"timestamp":%.3f,"peer":%q,"peer_asn":%q,"id":"w","host":%q,"type":"UPDATE","path":[],"community":[],"announcements":[],"withdrawals":%s}}`,
		ts, peer, asn, host, jsonList(prefixes))
}

// PeerState is a RIS_PEER_STATE message (state "connected" or "down").
func PeerState(host, peer, asn string, ts float64, state string) string {
	return fmt.Sprintf(`{"type":"ris_message","data":{"timestamp":%.3f,"peer":%q,"peer_asn":%q,"id":"s","host":%q,"type":"RIS_PEER_STATE","state":%q}}`,
		ts, peer, asn, host, state)
}

// Bare is a ris_message of type typ with extra JSON fields (",\"k\":1").
func Bare(host, peer, asn string, ts float64, typ, extra string) string {
	return fmt.Sprintf(`{"type":"ris_message","data":{"timestamp":%.3f,"peer":%q,"peer_asn":%q,"id":"k","host":%q,"type":%q%s}}`,
		ts, peer, asn, host, typ, extra)
}

func jsonList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
