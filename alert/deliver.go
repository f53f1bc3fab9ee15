package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"routewatch/route"
	"routewatch/store"
)

// Run is the delivery worker. It returns nil when ctx ends; outbox errors
// are logged, counted and retried on the next poll.
func (a *Alerter) Run(ctx context.Context) error {
	a.log.Info("alert worker started", "sinks", a.sinkNames())
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n, err := a.cycle(ctx)
		a.cycles.Add(1)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			a.m.storeErrors.Inc()
			a.log.Warn("alert outbox poll failed", "err", err)
		}
		if err == nil && n >= a.del.BatchSize {
			continue // more may be due right now
		}
		timer.Reset(a.del.PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		case <-timer.C:
		}
	}
}

// cycle fetches one batch of due deliveries and works through it, each
// sink in its own goroutine so a slow receiver only delays itself.
func (a *Alerter) cycle(ctx context.Context) (int, error) {
	now := a.now().UTC()
	ds, err := a.outbox.Due(ctx, now, a.del.Lease, a.del.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("alert: due: %w", err)
	}
	groups := map[string][]store.Delivery{}
	var order []string
	for _, d := range ds {
		if _, ok := groups[d.Sink]; !ok {
			order = append(order, d.Sink)
		}
		groups[d.Sink] = append(groups[d.Sink], d)
	}
	var wg sync.WaitGroup
	for _, name := range order {
		s := a.byName[name]
		if s == nil {
			// The sink left the config: nobody can deliver these.
			for _, d := range groups[name] {
				a.log.Warn("alert dropped: sink no longer configured", "sink", name, "id", d.ID, "event", d.EventID)
				a.finish(ctx, d, store.GaveUp, now)
			}
			continue
		}
		wg.Go(func() { a.deliverSink(ctx, s, groups[name]) })
	}
	wg.Wait()
	return len(ds), nil
}

// bookkeeping gives outbox writes a context that survives the worker's
// shutdown, so an attempt's outcome is not lost when ctx ends mid-flight.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

func (a *Alerter) deliverSink(ctx context.Context, s *sink, ds []store.Delivery) {
	now := a.now().UTC()
	live := ds[:0:0]
	for _, d := range ds {
		if now.Sub(d.Created) > a.del.GiveUpAfter {
			a.log.Warn("alert gave up: too old", "sink", s.cfg.Name, "id", d.ID, "event", d.EventID, "attempts", d.Attempts, "last_error", d.LastError)
			a.finish(ctx, d, store.GaveUp, now)
			continue
		}
		live = append(live, d)
	}
	batch := a.coalesce(ctx, s, live, now)
	for i, d := range batch {
		if ctx.Err() != nil {
			// Shutting down: hand the rest back so a restarted worker
			// need not wait for the leases to expire.
			for _, r := range batch[i:] {
				r.NextAttempt = a.now().UTC()
				a.reschedule(ctx, r)
			}
			return
		}
		cur := a.now().UTC()
		if cur.Sub(now) > a.del.Lease/2 {
			// Slow receivers ate half the lease: hand the rest back before
			// another worker may lease them too.
			for _, r := range batch[i:] {
				r.NextAttempt = cur
				a.reschedule(ctx, r)
			}
			return
		}
		at, ok := s.limiter.take(cur)
		if !ok {
			// Park the rest until the sink may send again; not an attempt.
			for _, r := range batch[i:] {
				r.NextAttempt = at
				a.m.throttled.WithLabelValues(s.cfg.Name).Inc()
				a.reschedule(ctx, r)
			}
			return
		}
		a.attempt(ctx, s, d)
	}
}

// mergedPayload is a coalesced message: the notices of its parts, and the
// parts' ids so their outbox entries can be closed with its outcome.
type mergedPayload struct {
	envelope
	Parts []string `json:"parts,omitempty"`
}

// poke wakes Run without waiting for the poll interval.
func (a *Alerter) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// coalesce merges fresh (never attempted) single messages of one sink into
// combined messages of up to CoalesceMax notices. The combined message is
// queued first and the parts are then parked until their give-up age, so a
// crash in between never loses a notice; a part's outbox entry is closed
// when the combined message finishes. Peer-down notices are only merged
// with each other. Messages already attempted keep their webhook-id.
func (a *Alerter) coalesce(ctx context.Context, s *sink, ds []store.Delivery, now time.Time) []store.Delivery {
	if s.cfg.CoalesceMax <= 1 || len(ds) < 2 {
		return ds
	}
	type cand struct {
		d     store.Delivery
		ns    []notice
		quiet bool
	}
	var out []store.Delivery
	var fresh []cand
	for _, d := range ds {
		if d.Attempts > 0 {
			out = append(out, d)
			continue
		}
		var mp mergedPayload
		if err := json.Unmarshal(d.Payload, &mp); err != nil || len(mp.Parts) > 0 {
			out = append(out, d) // already combined, or broken (attempt reports it)
			continue
		}
		ns, err := decodeEnvelope(d.Payload)
		if err != nil {
			out = append(out, d)
			continue
		}
		fresh = append(fresh, cand{d: d, ns: ns, quiet: ns[0].Event.Kind == route.KindPeerDown})
	}
	for _, quiet := range []bool{false, true} {
		var group []cand
		count := 0
		flush := func() {
			defer func() { group, count = nil, 0 }()
			if len(group) == 0 {
				return
			}
			if len(group) == 1 {
				out = append(out, group[0].d)
				return
			}
			mp := mergedPayload{envelope: envelope{V: envelopeVersion}}
			ids := make([]string, 0, len(group))
			created := group[0].d.Created
			for _, c := range group {
				mp.Notices = append(mp.Notices, c.ns...)
				ids = append(ids, c.d.ID)
				if c.d.Created.Before(created) {
					created = c.d.Created
				}
			}
			mp.Parts = slices.Clone(ids)
			slices.Sort(ids)
			payload, err := json.Marshal(mp)
			if err != nil {
				for _, c := range group {
					out = append(out, c.d)
				}
				return
			}
			m := store.Delivery{
				ID:          deliveryID(append([]string{"merge", s.cfg.Name}, ids...)...),
				Sink:        s.cfg.Name,
				EventID:     group[0].d.EventID,
				Payload:     payload,
				Created:     created,
				NextAttempt: now,
			}
			bctx, cancel := bookkeeping(ctx)
			defer cancel()
			if err := a.outbox.Enqueue(bctx, []store.Delivery{m}); err != nil {
				a.m.storeErrors.Inc()
				a.log.Warn("alert coalesce: enqueue failed; sending separately", "sink", s.cfg.Name, "err", err)
				for _, c := range group {
					out = append(out, c.d)
				}
				return
			}
			for _, c := range group {
				p := c.d
				p.NextAttempt = p.Created.Add(a.del.GiveUpAfter + time.Second)
				p.LastError = "coalesced into " + m.ID
				if err := a.outbox.Reschedule(bctx, p); err != nil {
					a.m.storeErrors.Inc()
				}
			}
			a.m.coalesced.WithLabelValues(s.cfg.Name).Add(float64(len(group)))
			a.log.Info("alert coalesced", "sink", s.cfg.Name, "id", m.ID, "messages", len(group), "notices", len(mp.Notices))
			// The combined message is sent once Due hands it out: its lease
			// keeps a second worker away, and if it already went out
			// before a crash, Enqueue was a no-op and nothing is resent.
			a.poke()
		}
		for _, c := range fresh {
			if c.quiet != quiet {
				continue
			}
			if count+len(c.ns) > s.cfg.CoalesceMax {
				flush()
			}
			group = append(group, c)
			count += len(c.ns)
		}
		flush()
	}
	return out
}

// attemptResult classifies one HTTP attempt.
type attemptResult struct {
	ok        bool
	permanent bool
	status    int
	label     string        // metric label
	errText   string        // redacted; stored as LastError
	retryAt   time.Duration // from Retry-After, 0 when absent
}

func (a *Alerter) attempt(ctx context.Context, s *sink, d store.Delivery) {
	start := a.now().UTC()
	ns, payloadParts, err := decodeAny(d.Payload)
	var body []byte
	if err == nil {
		body, err = render(s.cfg.Type, ns, a.cfg.APIBaseURL)
	}
	if err != nil {
		a.m.badPayloads.Inc()
		a.log.Error("alert dropped: cannot render", "sink", s.cfg.Name, "id", d.ID, "err", err)
		a.finishParts(ctx, d, payloadParts, store.GaveUp, start)
		return
	}
	realStart := time.Now()
	res := a.send(ctx, s, d.ID, body, start)
	elapsed := time.Since(realStart) // wall time even when the clock is injected
	a.m.attempts.WithLabelValues(s.cfg.Name, res.label).Inc()
	a.m.attemptTime.WithLabelValues(s.cfg.Name).Observe(elapsed.Seconds())
	d.Attempts++
	now := a.now().UTC()
	log := a.log.With("sink", s.cfg.Name, "id", d.ID, "event", d.EventID, "attempt", d.Attempts, "status", res.status, "duration", elapsed.Round(time.Millisecond))
	switch {
	case res.ok:
		log.Info("alert delivered")
		a.finishParts(ctx, d, payloadParts, store.Delivered, now)
		return
	case res.permanent:
		log.Warn("alert gave up: receiver refused", "err", res.errText)
		a.finishParts(ctx, d, payloadParts, store.GaveUp, now)
		return
	}
	var delay time.Duration
	if res.retryAt > 0 {
		delay = min(res.retryAt, a.del.MaxRetryAfter)
		s.limiter.pause(now.Add(delay))
	} else {
		delay = a.backoff(d.Attempts)
	}
	d.NextAttempt = now.Add(delay)
	d.LastError = res.errText
	if d.NextAttempt.Sub(d.Created) > a.del.GiveUpAfter {
		log.Warn("alert gave up: retries exhausted", "err", res.errText, "age", now.Sub(d.Created).Round(time.Second))
		a.finishParts(ctx, d, payloadParts, store.GaveUp, now)
		return
	}
	log.Info("alert attempt failed; will retry", "err", res.errText, "retry_in", delay.Round(time.Millisecond))
	a.reschedule(ctx, d)
}

// decodeAny decodes a single or combined payload.
func decodeAny(b []byte) ([]notice, []string, error) {
	var mp mergedPayload
	if err := json.Unmarshal(b, &mp); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	ns, err := decodeEnvelope(b)
	return ns, mp.Parts, err
}

// backoff is InitialBackoff·2^(attempts-1) capped at MaxBackoff, jittered
// to between half and all of it so retries of many messages spread out.
func (a *Alerter) backoff(attempts int) time.Duration {
	d := float64(a.del.InitialBackoff) * math.Pow(2, float64(max(attempts-1, 0)))
	d = min(d, float64(a.del.MaxBackoff))
	return time.Duration(d/2 + a.jitter()*d/2)
}

func (a *Alerter) send(ctx context.Context, s *sink, id string, body []byte, now time.Time) attemptResult {
	actx, cancel := context.WithTimeout(ctx, a.del.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return attemptResult{permanent: true, label: "error", errText: "bad request: " + redact(err).Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "routewatch-alert/1")
	// Every sink gets the webhook-id (chat services ignore it; proxies and
	// logs can deduplicate on it); generic webhooks are also signed.
	req.Header.Set(HeaderID, id)
	if s.cfg.Type == Generic {
		ts := now.Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, sign(s.key, id, ts, body))
	}
	resp, err := a.client.Do(req)
	if err != nil {
		err = redact(err)
		var ne net.Error
		switch {
		case blocked(err):
			return attemptResult{permanent: true, label: "blocked", errText: err.Error()}
		}
		if re, ok := redirected(err); ok {
			// Retrying cannot help: the URL is wrong until someone fixes it.
			return attemptResult{permanent: true, label: "redirect", status: re.Status, errText: re.Error()}
		}
		switch {
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
			return attemptResult{label: "timeout", errText: err.Error()}
		}
		return attemptResult{label: "error", errText: err.Error()}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	res := attemptResult{status: resp.StatusCode}
	text := strings.TrimSpace(string(snippet))
	res.errText = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, truncate(text, 200))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		res.ok, res.label, res.errText = true, "ok", ""
	case code == http.StatusTooManyRequests:
		res.label = "http_429"
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), snippet, a.now()); ok {
			res.retryAt = max(d, time.Millisecond)
		}
	case code == http.StatusGone:
		// Slack: channel_is_archived; Discord/others: webhook deleted.
		res.label, res.permanent = "http_4xx", true
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly:
		res.label = "http_4xx"
	case code >= 400 && code < 500:
		// Chat services answer 400/403/404 for a bad payload, a revoked or
		// deleted webhook (Slack invalid_payload, action_prohibited,
		// no_service): retrying cannot help. A generic receiver may be
		// mid-deploy, so it keeps being retried until the give-up age.
		res.label = "http_4xx"
		res.permanent = s.cfg.Type != Generic
	default:
		res.label = "http_5xx"
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), nil, a.now()); ok && code == http.StatusServiceUnavailable {
			res.retryAt = max(d, time.Millisecond)
		}
	}
	return res
}

// redact strips the URL from HTTP client errors: webhook URLs carry
// credentials and must not reach logs or the outbox.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s webhook: %w", strings.ToUpper(ue.Op), ue.Err)
	}
	return err
}

// parseRetryAfter reads a Retry-After header (delay-seconds or HTTP-date),
// or Discord's JSON body {"retry_after": seconds}.
func parseRetryAfter(h string, body []byte, now time.Time) (time.Duration, bool) {
	if h = strings.TrimSpace(h); h != "" {
		if n, err := strconv.ParseFloat(h, 64); err == nil {
			if n >= 0 && n < 1e7 && !math.IsNaN(n) {
				return time.Duration(n * float64(time.Second)), true
			}
			return 0, false
		}
		if t, err := http.ParseTime(h); err == nil {
			d := t.Sub(now)
			return max(d, 0), true
		}
	}
	if len(body) > 0 {
		var v struct {
			RetryAfter *float64 `json:"retry_after"`
		}
		if json.Unmarshal(body, &v) == nil && v.RetryAfter != nil {
			n := *v.RetryAfter
			if n >= 0 && n < 1e7 {
				return time.Duration(n * float64(time.Second)), true
			}
		}
	}
	return 0, false
}

func (a *Alerter) reschedule(ctx context.Context, d store.Delivery) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := a.outbox.Reschedule(bctx, d); err != nil {
		a.m.storeErrors.Inc()
		a.log.Warn("alert outbox reschedule failed", "id", d.ID, "err", err)
	}
}

func (a *Alerter) finish(ctx context.Context, d store.Delivery, o store.Outcome, at time.Time) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := a.outbox.Finish(bctx, d.ID, o, at); err != nil {
		a.m.storeErrors.Inc()
		a.log.Warn("alert outbox finish failed", "id", d.ID, "err", err)
	}
	a.m.deliveries.WithLabelValues(d.Sink, string(o)).Inc()
}

// finishParts finishes a message and, for a combined one, its parked parts.
func (a *Alerter) finishParts(ctx context.Context, d store.Delivery, parts []string, o store.Outcome, at time.Time) {
	a.finish(ctx, d, o, at)
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	for _, p := range parts {
		if err := a.outbox.Finish(bctx, p, o, at); err != nil && !errors.Is(err, store.ErrNotFound) {
			a.m.storeErrors.Inc()
			a.log.Warn("alert outbox finish failed", "id", p, "err", err)
		}
	}
}

// ErrUnknownSink is returned by SendTest for a name not in the config.
var ErrUnknownSink = errors.New("alert: unknown sink")

// SendTestError is SendTest's error for a receiver that did not accept
// the message.
type SendTestError struct {
	Sink   string
	Status int
	Reason string
}

func (e *SendTestError) Error() string {
	return "alert: send test to " + e.Sink + ": " + e.Reason
}

// SendTest posts a clearly marked test message to one sink right away,
// bypassing the outbox, rate limit and retries, and reports whether the
// receiver accepted it (for `config check`-style commands and setup).
func (a *Alerter) SendTest(ctx context.Context, sinkName string) error {
	s := a.byName[sinkName]
	if s == nil {
		return fmt.Errorf("%w: %q", ErrUnknownSink, sinkName)
	}
	now := a.now().UTC()
	ev := route.Event{
		ID:       "test-" + strconv.FormatInt(now.Unix(), 10),
		Kind:     route.KindPathShift,
		Provider: "routewatch-test",
		Region:   "test",
		Start:    now,
		Detected: now,
		Prefixes: 1,
		Peers:    1,
		Summary:  "This is a test message from routewatch: the webhook works. No routing event happened.",
	}
	body, err := render(s.cfg.Type, []notice{{Change: route.EventOpened, Event: ev, At: now}}, a.cfg.APIBaseURL)
	if err != nil {
		return err
	}
	id := deliveryID("test", sinkName, ev.ID)
	res := a.send(ctx, s, id, body, now)
	a.m.attempts.WithLabelValues(s.cfg.Name, res.label).Inc()
	if !res.ok {
		return &SendTestError{Sink: sinkName, Status: res.status, Reason: res.errText}
	}
	return nil
}
