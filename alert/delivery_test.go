package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"routewatch/route"
	"routewatch/store"
)

// testDelivery keeps scheduling on the fake clock: the test moves time.
func testDelivery() DeliveryConfig {
	return DeliveryConfig{
		PollInterval:   2 * time.Millisecond, // real time
		Lease:          30 * time.Second,
		Timeout:        2 * time.Second, // real time
		InitialBackoff: time.Second,
		MaxBackoff:     time.Minute,
		MaxRetryAfter:  10 * time.Minute,
		GiveUpAfter:    time.Hour,
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func sinkFor(name string, typ SinkType, url string) SinkConfig {
	s := SinkConfig{Name: name, Type: typ, URL: url}
	if typ == Generic {
		s.Secret = testSecret
	}
	return s
}

func newTestAlerter(t *testing.T, cfg Config, ob Outbox, clock *fakeClock, opts ...Option) *Alerter {
	t.Helper()
	if cfg.Delivery == (DeliveryConfig{}) {
		cfg.Delivery = testDelivery()
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = "https://routewatch.example.net"
	}
	opts = append([]Option{WithClock(clock.Now), WithJitter(func() float64 { return 0.5 })}, opts...)
	reg := prometheus.NewPedanticRegistry()
	a, err := New(cfg, ob, testLogger(t), reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// run starts the worker; the returned stop cancels it and waits.
func run(t *testing.T, a *Alerter) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// pump advances the fake clock a second at a time until cond holds, so
// backoffs, Retry-After and rate limits elapse without real waiting.
func pump(t *testing.T, clock *fakeClock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (fake clock %s)", what, clock.Now().Format(time.TimeOnly))
		}
		clock.Advance(time.Second)
		time.Sleep(3 * time.Millisecond)
	}
}

// trackingOutbox wraps the real store outbox and remembers which
// deliveries are still open, so tests can check the outbox drained
// without leasing anything themselves.
type trackingOutbox struct {
	Outbox
	*tracker
}

// tracker is shared by the outboxes of several Alerters on one store.
type tracker struct {
	mu      sync.Mutex
	pending map[string]bool
	done    map[string]store.Outcome
}

func newTracking(ob Outbox) *trackingOutbox {
	return &trackingOutbox{Outbox: ob, tracker: &tracker{pending: map[string]bool{}, done: map[string]store.Outcome{}}}
}

// sibling wraps another handle on the same store with the same tracker.
func (o *trackingOutbox) sibling(ob Outbox) *trackingOutbox {
	return &trackingOutbox{Outbox: ob, tracker: o.tracker}
}

func (o *trackingOutbox) Enqueue(ctx context.Context, ds []store.Delivery) error {
	if err := o.Outbox.Enqueue(ctx, ds); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range ds {
		if _, finished := o.done[d.ID]; !finished {
			o.pending[d.ID] = true
		}
	}
	return nil
}

func (o *trackingOutbox) Finish(ctx context.Context, id string, out store.Outcome, at time.Time) error {
	if err := o.Outbox.Finish(ctx, id, out, at); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.pending, id)
	o.done[id] = out
	return nil
}

func (o *tracker) empty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending) == 0
}

func newOutbox() *trackingOutbox { return newTracking(store.NewMemory(store.MemoryConfig{})) }

// outboxEmpty reports whether every queued delivery has been finished.
func outboxEmpty(t *testing.T, ob *trackingOutbox, clock *fakeClock) bool { return ob.empty() }

func change(c route.ChangeKind, ev route.Event) route.EventChange {
	return route.EventChange{Change: c, Event: ev}
}

func TestDeliverEachService(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			clock := newFakeClock()
			rc := newReceiver(t, typ, clock, nil)
			ob := newOutbox()
			a := newTestAlerter(t, Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("chat", typ, rc.srv.URL+"/hook/T000/B000/secret")}}, ob, clock)
			ev := fixtureEvent(1, route.KindPathShift)
			pd := fixtureEvent(2, route.KindPeerDown)
			if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, ev), change(route.EventOpened, pd)}); err != nil {
				t.Fatal(err)
			}
			run(t, a)
			if err := a.Notify(context.Background(), []route.EventChange{change(route.EventResolved, resolved(ev, 10*time.Minute)), change(route.EventResolved, resolved(pd, time.Minute))}); err != nil {
				t.Fatal(err)
			}
			seen := func(id string, c route.ChangeKind) bool {
				for _, r := range rc.requests() {
					if r.status == http.StatusOK && containsNotice(typ, r.body, id, c) {
						return true
					}
				}
				return false
			}
			pump(t, clock, "all four notices", func() bool {
				return seen(ev.ID, route.EventOpened) && seen(ev.ID, route.EventResolved) && seen(pd.ID, route.EventOpened) && seen(pd.ID, route.EventResolved)
			})
			pump(t, clock, "empty outbox", func() bool { return outboxEmpty(t, ob, clock) })
			rc.check()
			// Peer-down notices never share a message with provider events.
			for _, r := range rc.requests() {
				if regexp.MustCompile(`ev-peer_down`).Match(r.body) && regexp.MustCompile(`ev-path_shift`).Match(r.body) {
					t.Errorf("peer_down mixed with a provider event:\n%s", r.body)
				}
			}
			if got := counterValue(a.m.deliveries.WithLabelValues("chat", "delivered")); got < 1 {
				t.Errorf("delivered metric = %v", got)
			}
		})
	}
}

// containsNotice reports whether a rendered body carries the change of
// the event (by its id and the change's wording).
func containsNotice(typ SinkType, body []byte, id string, c route.ChangeKind) bool {
	if typ == Generic {
		var p genericPayload
		return json.Unmarshal(body, &p) == nil && p.Data.ID == id && p.Type == "event."+string(c)
	}
	s := string(body)
	if !regexp.MustCompile(regexp.QuoteMeta(id)).MatchString(s) {
		return false
	}
	word := map[route.ChangeKind]string{route.EventOpened: "(Path shift|Withdrawal|Peer down)", route.EventResolved: "(Resolved|Peer back)", route.EventUpdated: "Growing"}[c]
	return regexp.MustCompile(word).MatchString(s)
}

func TestRetries(t *testing.T) {
	type answer func(n int, w http.ResponseWriter, r *http.Request) int
	status := func(codes ...int) answer {
		return func(n int, w http.ResponseWriter, r *http.Request) int {
			if n < len(codes) {
				return codes[n]
			}
			return http.StatusOK
		}
	}
	tests := []struct {
		name      string
		typ       SinkType
		respond   answer
		delivered bool
		requests  int           // exact number of requests expected
		minGap    time.Duration // fake time between first and second attempt
		label     string        // attempts metric label that must be counted
	}{
		{name: "500 then ok", typ: Slack, respond: status(500, 502), delivered: true, requests: 3, label: "http_5xx"},
		{name: "timeout then ok", typ: Teams, respond: func(n int, w http.ResponseWriter, r *http.Request) int {
			if n == 0 {
				<-r.Context().Done() // slow receiver: the client gives up first
				return 0
			}
			return http.StatusAccepted // Workflows answer 202
		}, delivered: true, requests: 2, label: "timeout"},
		{name: "429 Retry-After header", typ: Slack, respond: func(n int, w http.ResponseWriter, r *http.Request) int {
			if n == 0 {
				w.Header().Set("Retry-After", "120")
				return http.StatusTooManyRequests
			}
			return http.StatusOK
		}, delivered: true, requests: 2, minGap: 120 * time.Second, label: "http_429"},
		{name: "429 Discord retry_after body", typ: Discord, respond: func(n int, w http.ResponseWriter, r *http.Request) int {
			if n == 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprint(w, `{"message": "You are being rate limited.", "retry_after": 7.5, "global": false}`)
				return 0
			}
			return http.StatusNoContent // Discord answers 204
		}, delivered: true, requests: 2, minGap: 7500 * time.Millisecond},
		{name: "410 stops", typ: Slack, respond: status(410), delivered: false, requests: 1, label: "http_4xx"},
		{name: "slack 404 no_service stops", typ: Slack, respond: status(404), delivered: false, requests: 1, label: "http_4xx"},
		{name: "generic 404 is retried", typ: Generic, respond: status(404, 404), delivered: true, requests: 3, label: "http_4xx"},
		{name: "generic 410 stops", typ: Generic, respond: status(410), delivered: false, requests: 1},
		{name: "gives up after age", typ: Mattermost, respond: func(int, http.ResponseWriter, *http.Request) int { return 503 }, delivered: false, label: "http_5xx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			rc := newReceiver(t, tt.typ, clock, tt.respond)
			ob := newOutbox()
			cfg := Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("s", tt.typ, rc.srv.URL)}, Delivery: testDelivery()}
			cfg.Delivery.Timeout = 300 * time.Millisecond
			cfg.Delivery.GiveUpAfter = 10 * time.Minute
			a := newTestAlerter(t, cfg, ob, clock)
			ev := fixtureEvent(1, route.KindWithdrawal)
			if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, ev)}); err != nil {
				t.Fatal(err)
			}
			run(t, a)
			outcome := "gave_up"
			if tt.delivered {
				outcome = "delivered"
			}
			pump(t, clock, outcome, func() bool { return counterValue(a.m.deliveries.WithLabelValues("s", outcome)) == 1 })
			clock.Advance(3 * time.Hour) // nothing more may happen
			settle(t, a)
			reqs := rc.requests()
			if tt.requests > 0 && len(reqs) != tt.requests {
				t.Errorf("%d requests, want %d", len(reqs), tt.requests)
			}
			for _, r := range reqs {
				if r.id != reqs[0].id || r.id == "" {
					t.Errorf("webhook-id changed between attempts: %q vs %q", r.id, reqs[0].id)
				}
			}
			if tt.minGap > 0 && len(reqs) >= 2 {
				if gap := reqs[1].at.Sub(reqs[0].at); gap < tt.minGap {
					t.Errorf("retried after %v, Retry-After asked for %v", gap, tt.minGap)
				}
			}
			if tt.label != "" && counterValue(a.m.attempts.WithLabelValues("s", tt.label)) == 0 {
				t.Errorf("no attempt counted as %s", tt.label)
			}
			if !outboxEmpty(t, ob, clock) {
				t.Error("outbox not empty")
			}
			if tt.name == "gives up after age" {
				// Backoff 0.75·2^n s (fixed jitter) up to the 1 min cap:
				// about 16 attempts in the 10 minutes before giving up.
				if len(reqs) < 8 || len(reqs) > 30 {
					t.Errorf("%d attempts in 10 minutes of backoff", len(reqs))
				}
			}
			rc.check()
		})
	}
}

// TestSlowSinkDoesNotBlockOthers: one receiver hangs, another sink still
// gets its message.
func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		jitter   float64
		attempts int
		want     time.Duration
	}{
		{"first retry, no jitter", 0, 1, 500 * time.Millisecond},
		{"first retry, full jitter", 0.999999999, 1, time.Second},
		{"doubles", 0.5, 2, 1500 * time.Millisecond},
		{"doubles again", 0.5, 4, 6 * time.Second},
		{"capped", 0.5, 30, 45 * time.Second},
		{"huge attempt count", 0.5, 5000, 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAlerter(t, Config{}, newOutbox(), newFakeClock(), WithJitter(func() float64 { return tt.jitter }))
			if got := a.backoff(tt.attempts).Round(time.Millisecond); got != tt.want {
				t.Fatalf("backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
			}
		})
	}
}

func TestSlowSinkDoesNotBlockOthers(t *testing.T) {
	clock := newFakeClock()
	release := make(chan struct{})
	slow := newReceiver(t, Slack, clock, func(n int, w http.ResponseWriter, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	fast := newReceiver(t, Discord, clock, nil)
	ob := newOutbox()
	a := newTestAlerter(t, Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("slow", Slack, slow.srv.URL), sinkFor("fast", Discord, fast.srv.URL)}}, ob, clock)
	run(t, a)
	if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, fixtureEvent(1, route.KindPathShift))}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "fast sink delivery while the slow one hangs", func() bool { return len(fast.requests()) == 1 })
	close(release)
	fast.check()
}

// TestNotifyNeverBlocks: with every receiver hung, Notify still returns.
func TestNotifyNeverBlocks(t *testing.T) {
	clock := newFakeClock()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	rc := newReceiver(t, Generic, clock, func(n int, w http.ResponseWriter, r *http.Request) int {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	ob := newOutbox()
	a := newTestAlerter(t, Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("g", Generic, rc.srv.URL)}}, ob, clock)
	run(t, a)
	for i := range 200 {
		if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, fixtureEvent(i, route.KindPathShift))}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBurst50Slack: 50 events for one Slack webhook become 5 coalesced
// messages, sent at most one per second (Slack's limit), each event once.
func TestBurst50Slack(t *testing.T) {
	clock := newFakeClock()
	rc := newReceiver(t, Slack, clock, nil)
	ob := newOutbox()
	a := newTestAlerter(t, Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("slack", Slack, rc.srv.URL)}}, ob, clock)
	var ids []string
	for i := range 50 {
		ev := fixtureEvent(i, route.KindPathShift)
		ev.Region = fmt.Sprintf("region-%02d", i)
		ids = append(ids, ev.ID)
		if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, ev)}); err != nil {
			t.Fatal(err)
		}
	}
	run(t, a)
	count := func() map[string]int {
		n := map[string]int{}
		re := regexp.MustCompile(`\|event (ev-path_shift-\d+)`)
		for _, r := range rc.requests() {
			for _, m := range re.FindAllStringSubmatch(string(r.body), -1) {
				n[m[1]]++
			}
		}
		return n
	}
	// Move the clock one second at a time and check that each second
	// lets exactly one message through.
	for k := 1; k <= 5; k++ {
		eventually(t, fmt.Sprintf("message %d", k), func() bool { return len(rc.requests()) >= k })
		settle(t, a) // a second message in the same second would show up here
		if n := len(rc.requests()); n != k {
			t.Fatalf("%d messages within fake second %d, want %d", n, k, k)
		}
		clock.Advance(time.Second)
	}
	pump(t, clock, "empty outbox", func() bool { return outboxEmpty(t, ob, clock) })
	clock.Advance(2 * time.Hour) // parked parts must not resurface
	settle(t, a)
	for _, id := range ids {
		if c := count()[id]; c != 1 {
			t.Errorf("event %s in %d messages", id, c)
		}
	}
	reqs := rc.requests()
	if len(reqs) != 5 {
		t.Errorf("%d messages, want 5 (10 events each)", len(reqs))
	}
	for i := 1; i < len(reqs); i++ {
		if gap := reqs[i].at.Sub(reqs[i-1].at); gap < time.Second {
			t.Errorf("messages %d and %d %v apart: Slack allows one per second", i-1, i, gap)
		}
	}
	if got := counterValue(a.m.coalesced.WithLabelValues("slack")); got != 50 {
		t.Errorf("coalesced = %v, want 50", got)
	}
	rc.check()
}

// TestRestartMidRetry: a worker is stopped while its receivers fail, or
// dies holding leases; a second Alerter on the same outbox delivers every
// notice exactly once, each under one webhook-id across all attempts.
func TestRestartMidRetry(t *testing.T) {
	backends := map[string]func(t *testing.T) (Outbox, Outbox){
		"memory": func(t *testing.T) (Outbox, Outbox) {
			m := store.NewMemory(store.MemoryConfig{})
			return m, m
		},
		// Two clients on one Redis key space: two routewatch processes.
		"redis": func(t *testing.T) (Outbox, Outbox) { return newRedisOutbox(t, "a"), newRedisOutbox(t, "b") },
	}
	for _, backend := range []string{"memory", "redis"} {
		for _, mode := range []string{"stopped mid-retry", "crashed holding leases"} {
			t.Run(backend+"/"+mode, func(t *testing.T) {
				first, second := backends[backend](t)
				restartMidRetry(t, mode, first, second)
			})
		}
	}
}

func restartMidRetry(t *testing.T, mode string, first, second Outbox) {
	{
		{
			clock := newFakeClock()
			var failing sync.Map
			failing.Store("on", true)
			respond := func(n int, w http.ResponseWriter, r *http.Request) int {
				if v, _ := failing.Load("on"); v == true {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			}
			gen := newReceiver(t, Generic, clock, respond)
			slack := newReceiver(t, Slack, clock, respond)
			ob := newTracking(first)
			obB := ob.sibling(second)
			cfg := Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("gen", Generic, gen.srv.URL), sinkFor("slack", Slack, slack.srv.URL)}}
			a := newTestAlerter(t, cfg, ob, clock)
			var evs []route.Event
			var changes []route.EventChange
			for i := range 8 {
				ev := fixtureEvent(i, route.KindPathShift)
				evs = append(evs, ev)
				changes = append(changes, change(route.EventOpened, ev))
			}
			if err := a.Notify(context.Background(), changes); err != nil {
				t.Fatal(err)
			}
			if mode == "stopped mid-retry" {
				stop := run(t, a)
				pump(t, clock, "failed attempts on both sinks", func() bool { return len(gen.requests()) >= 8 && len(slack.requests()) >= 2 })
				stop()
			} else {
				// A worker that leased everything and vanished.
				if _, err := ob.Due(context.Background(), clock.Now(), testDelivery().Lease, 100); err != nil {
					t.Fatal(err)
				}
			}
			failing.Store("on", false)
			b := newTestAlerter(t, cfg, obB, clock)
			run(t, b)
			pump(t, clock, "every event delivered on both sinks", func() bool {
				okGen := map[string]bool{}
				for _, r := range gen.requests() {
					var p genericPayload
					if r.status == 200 && json.Unmarshal(r.body, &p) == nil {
						okGen[p.Data.ID] = true
					}
				}
				return len(okGen) == len(evs) && outboxEmpty(t, ob, clock)
			})
			clock.Advance(3 * time.Hour)
			settle(t, b)

			// A request cancelled by the stopping worker may still have
			// been processed by the receiver: that is why retries keep the
			// webhook-id, so a receiver deduplicating on it sees each
			// notice once. Without in-flight requests (the crash case)
			// each is accepted exactly once.
			maxAccepted := 1
			if mode == "stopped mid-retry" {
				maxAccepted = 2
			}
			// Generic: one webhook-id per event over every attempt.
			idOf := map[string]string{}
			okCount := map[string]int{}
			for _, r := range gen.requests() {
				var p genericPayload
				if err := json.Unmarshal(r.body, &p); err != nil {
					t.Fatal(err)
				}
				if prev, ok := idOf[p.Data.ID]; ok && prev != r.id {
					t.Errorf("event %s sent under two webhook-ids %s and %s", p.Data.ID, prev, r.id)
				}
				idOf[p.Data.ID] = r.id
				if r.status == 200 {
					okCount[r.id]++
				}
			}
			for _, ev := range evs {
				if n := okCount[idOf[ev.ID]]; n < 1 || n > maxAccepted {
					t.Errorf("event %s accepted %d times", ev.ID, n)
				}
			}
			// Slack: every event in exactly one accepted message (by
			// webhook-id), and retries of a message keep its id.
			msgsOf := map[string]map[string]bool{}
			accepted := map[string]int{}
			re := regexp.MustCompile(`\|event (ev-path_shift-\d+)`)
			for _, r := range slack.requests() {
				if r.status != 200 {
					continue
				}
				accepted[r.id]++
				for _, m := range re.FindAllStringSubmatch(string(r.body), -1) {
					if msgsOf[m[1]] == nil {
						msgsOf[m[1]] = map[string]bool{}
					}
					msgsOf[m[1]][r.id] = true
				}
			}
			for id, n := range accepted {
				if n > maxAccepted {
					t.Errorf("slack webhook-id %s accepted %d times", id, n)
				}
			}
			for _, ev := range evs {
				if len(msgsOf[ev.ID]) != 1 {
					t.Errorf("slack: event %s delivered in %d distinct messages", ev.ID, len(msgsOf[ev.ID]))
				}
			}
			gen.check()
			slack.check()
		}
	}
}

func TestNotifySuppression(t *testing.T) {
	clock := newFakeClock()
	ob := newOutbox()
	cfg := Config{AllowPrivateTargets: true, Sinks: []SinkConfig{
		{Name: "quiet", Type: Slack, URL: "http://127.0.0.1:1/a"},
		{Name: "chatty", Type: Slack, URL: "http://127.0.0.1:1/b", Updates: true, UpdateInterval: 15 * time.Minute, UpdateGrowth: 1.5},
		{Name: "big-aws", Type: Discord, URL: "http://127.0.0.1:1/c", Routes: []Rule{{Providers: []string{"aws"}, MinPrefixes: 100}}},
	}}
	a := newTestAlerter(t, cfg, ob, clock)
	ev := fixtureEvent(1, route.KindPathShift) // 87 prefixes
	grown := func(n int) route.Event { e := ev; e.Prefixes = n; return e }
	steps := []struct {
		advance time.Duration
		ch      route.EventChange
	}{
		{0, change(route.EventOpened, ev)},
		{time.Minute, change(route.EventOpened, ev)},               // repeat
		{4 * time.Minute, change(route.EventUpdated, grown(140))},  // within interval
		{15 * time.Minute, change(route.EventUpdated, grown(100))}, // too little growth
		{time.Minute, change(route.EventUpdated, grown(140))},      // sent to chatty (and big-aws opens? no: updates off)
		{time.Minute, change(route.EventUpdated, grown(400))},      // interval again
		{time.Hour, change(route.EventResolved, resolved(grown(400), 2*time.Hour))},
		{time.Minute, change(route.EventResolved, resolved(grown(400), 2*time.Hour))}, // repeat
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		if err := a.Notify(context.Background(), []route.EventChange{s.ch}); err != nil {
			t.Fatal(err)
		}
	}
	// A restarted alerter re-notified of the opening queues nothing new.
	b := newTestAlerter(t, cfg, ob, clock)
	if err := b.Notify(context.Background(), []route.EventChange{change(route.EventOpened, ev), change(route.EventUpdated, grown(500))}); err != nil {
		t.Fatal(err)
	}
	ds, err := ob.Due(context.Background(), clock.Now().Add(time.Hour), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, d := range ds {
		ns, err := decodeEnvelope(d.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			got[d.Sink] = append(got[d.Sink], fmt.Sprintf("%s/%d", n.Change, n.Event.Prefixes))
		}
	}
	for _, v := range got {
		slices.Sort(v)
	}
	want := map[string][]string{
		"quiet":   {"opened/87", "resolved/400"},
		"chatty":  {"opened/87", "resolved/400", "updated/140"},
		"big-aws": {"resolved/400"}, // the opening (87 prefixes) was below min_prefixes
	}
	for sink, w := range want {
		if !slices.Equal(got[sink], w) {
			t.Errorf("%s got %v, want %v", sink, got[sink], w)
		}
	}
	if n := counterValue(a.m.suppressed.WithLabelValues("chatty", "interval")); n != 2 {
		t.Errorf("interval suppressions = %v, want 2", n)
	}
	if n := counterValue(b.m.suppressed.WithLabelValues("chatty", "no_baseline")); n != 1 {
		t.Errorf("no_baseline suppressions = %v, want 1", n)
	}
}

// counterValue reads a counter (testutil would pull another module in).
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestUndeliverableEntries: outbox entries that can never be sent (corrupt
// payload, a sink removed from the config) are dropped, recorded as
// gave_up and counted, without stopping the worker.
func TestUndeliverableEntries(t *testing.T) {
	clock := newFakeClock()
	rc := newReceiver(t, Slack, clock, nil)
	ob := newOutbox()
	a := newTestAlerter(t, Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("s", Slack, rc.srv.URL)}}, ob, clock)
	now := clock.Now()
	bad := []store.Delivery{
		{ID: "msg_corrupt", Sink: "s", Payload: []byte(`{"v":1,"notices":[{"change":"exploded"}]}`), Created: now, NextAttempt: now},
		{ID: "msg_truncated", Sink: "s", Payload: []byte(`{"v":1,"noti`), Created: now, NextAttempt: now},
		{ID: "msg_gone_sink", Sink: "removed", Payload: []byte(`{}`), Created: now, NextAttempt: now},
	}
	if err := ob.Enqueue(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, fixtureEvent(1, route.KindPathShift))}); err != nil {
		t.Fatal(err)
	}
	run(t, a)
	pump(t, clock, "outbox drained", ob.empty)
	if got := counterValue(a.m.badPayloads); got != 2 {
		t.Errorf("bad payloads = %v, want 2", got)
	}
	for _, id := range []string{"msg_corrupt", "msg_truncated", "msg_gone_sink"} {
		ob.mu.Lock()
		o := ob.done[id]
		ob.mu.Unlock()
		if o != store.GaveUp {
			t.Errorf("%s finished as %q, want gave_up", id, o)
		}
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("%d requests, want the one good notice", n)
	}
	rc.check()
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// TestNoSecretsInLogs: webhook URLs carry credentials; failed attempts
// (timeouts, refusals, blocked dials) must not log them.
func TestNoSecretsInLogs(t *testing.T) {
	clock := newFakeClock()
	rc := newReceiver(t, Slack, clock, func(n int, w http.ResponseWriter, r *http.Request) int {
		if n == 0 {
			<-r.Context().Done()
			return 0
		}
		return http.StatusInternalServerError
	})
	var logs syncBuffer
	cfg := Config{AllowPrivateTargets: true, Delivery: testDelivery(), Sinks: []SinkConfig{
		sinkFor("slow", Slack, rc.srv.URL+"/services/T000/B000/SECRETTOKEN1"),
		sinkFor("refused", Slack, "http://127.0.0.1:1/services/T000/B000/SECRETTOKEN2"),
		sinkFor("bad-host", Slack, "https://no-such-host.invalid/services/SECRETTOKEN3"),
	}}
	cfg.Delivery.Timeout = 200 * time.Millisecond
	cfg.Delivery.GiveUpAfter = time.Minute
	ob := newOutbox()
	a, err := New(cfg, ob, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, fixtureEvent(1, route.KindPathShift))}); err != nil {
		t.Fatal(err)
	}
	run(t, a)
	pump(t, clock, "all given up", ob.empty)
	if out := logs.String(); regexp.MustCompile(`SECRETTOKEN`).MatchString(out) {
		t.Errorf("logs leak a webhook URL:\n%s", out)
	}
	if !regexp.MustCompile(`attempt failed`).MatchString(logs.String()) {
		t.Error("failed attempts were not logged")
	}
}

func TestSendTest(t *testing.T) {
	clock := newFakeClock()
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			rc := newReceiver(t, typ, clock, nil)
			down := newReceiver(t, typ, clock, func(int, http.ResponseWriter, *http.Request) int { return http.StatusForbidden })
			a := newTestAlerter(t, Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("ok", typ, rc.srv.URL), sinkFor("down", typ, down.srv.URL)}}, newOutbox(), clock)
			if err := a.SendTest(context.Background(), "ok"); err != nil {
				t.Fatal(err)
			}
			var ste *SendTestError
			if err := a.SendTest(context.Background(), "down"); !errors.As(err, &ste) || ste.Status != http.StatusForbidden {
				t.Fatalf("SendTest to a refusing receiver = %v", err)
			}
			if err := a.SendTest(context.Background(), "nope"); !errors.Is(err, ErrUnknownSink) {
				t.Fatalf("SendTest to an unknown sink = %v", err)
			}
			if len(rc.requests()) != 1 {
				t.Errorf("%d requests", len(rc.requests()))
			}
			rc.check()
		})
	}
}
