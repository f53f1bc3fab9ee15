// Package alert delivers routewatch events to chat: Slack (Block Kit),
// Microsoft Teams (Workflows webhook with an Adaptive Card), Discord
// (embeds), Mattermost (Slack-compatible attachments) and a generic JSON
// webhook signed per the Standard Webhooks spec.
//
// Notify routes event changes to sinks, applies repeat suppression and
// queues one notice per sink in the store's durable outbox; it never
// touches the network beyond the outbox. Run is the delivery worker: it
// takes due messages from the outbox, coalesces bursts, respects each
// sink's rate limit and Retry-After, and retries failures with jittered
// exponential backoff under the same webhook-id until delivery or the
// give-up age. Several workers (or a restarted one) can share the outbox:
// due messages are leased.
package alert

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base32"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
	"routewatch/store"
)

// Outbox is the store role the alerter uses.
type Outbox = store.Outbox

// Alerter routes event changes to sinks and delivers them.
type Alerter struct {
	cfg    Config
	del    DeliveryConfig
	outbox Outbox
	log    *slog.Logger
	m      *metrics
	sinks  []*sink
	byName map[string]*sink
	client *http.Client
	now    func() time.Time
	jitter func() float64 // in [0,1)
	wake   chan struct{}
	// cycles counts the worker's completed outbox polls, so a test can
	// wait for the worker to have seen a clock change instead of sleeping.
	cycles atomic.Uint64

	mu        sync.Mutex
	state     map[stateKey]*eventState
	incidents map[incidentKey]*incidentState
	lastPrune time.Time
}

type sink struct {
	cfg     SinkConfig
	key     []byte // generic: HMAC key
	limiter *bucket
}

type stateKey struct{ sink, event string }

// eventState is what a sink was last told about an event (in memory: after
// a restart, deterministic webhook-ids make repeats no-ops in the outbox).
type eventState struct {
	prefixes int
	at       time.Time
	resolved bool
}

// Option adjusts an Alerter beyond its Config (tests, embedding).
type Option func(*Alerter)

// WithClock replaces the wall clock used for queueing, scheduling and
// give-up ages.
func WithClock(now func() time.Time) Option { return func(a *Alerter) { a.now = now } }

// WithJitter replaces the random source of backoff jitter (values in [0,1)).
func WithJitter(f func() float64) Option { return func(a *Alerter) { a.jitter = f } }

// withTestTransport lets tests permit specific private addresses while the
// guard stays on for everything else, trust a test TLS server and answer
// DNS lookups (lookup nil: the system resolver).
func withTestTransport(allow func(netip.Addr) bool, tlsCfg *tls.Config, lookup func(ctx context.Context, host string) ([]netip.Addr, error)) Option {
	return func(a *Alerter) {
		a.client = newHTTPClient(guard{allowPrivate: a.cfg.AllowPrivateTargets, allow: allow, lookup: lookup}, a.del.Timeout, tlsCfg)
	}
}

// New validates cfg and builds an Alerter. reg may be nil.
func New(cfg Config, outbox Outbox, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Alerter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if outbox == nil {
		return nil, fmt.Errorf("alert: new: nil outbox")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Alerter{
		cfg:    cfg,
		del:    cfg.Delivery.withDefaults(),
		outbox: outbox,
		log:    logger,
		m:      newMetrics(reg),
		byName: map[string]*sink{},
		now:    time.Now,
		jitter: rand.Float64,
		wake:   make(chan struct{}, 1),
		state:  map[stateKey]*eventState{},

		incidents: map[incidentKey]*incidentState{},
	}
	for _, sc := range cfg.Sinks {
		sc = sc.withDefaults()
		s := &sink{cfg: sc, limiter: newBucket(sc.RatePerSecond, sc.Burst)}
		if sc.Type == Generic {
			s.key, _ = parseSecret(sc.Secret) // validated above
		}
		a.sinks = append(a.sinks, s)
		a.byName[sc.Name] = s
		a.m.zero(sc.Name)
	}
	a.client = newHTTPClient(guard{allowPrivate: cfg.AllowPrivateTargets}, a.del.Timeout, nil)
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// deliveryID is the webhook-id of a notice: derived from what it says, so
// the same change queued twice (a replayed analyzer, a restart) is one
// outbox entry and receivers can deduplicate.
func deliveryID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "msg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:16]))
}

// Notify routes changes to sinks and queues them in the outbox. It returns
// once the outbox has them (or with the outbox's error); delivery happens
// in Run.
func (a *Alerter) Notify(ctx context.Context, changes []route.EventChange) error {
	now := a.now().UTC()
	var ds []store.Delivery
	var notices [][]notice
	var commits []func()
	merged := map[incidentKey]int{} // incident → index in ds of its message in this call
	for i := range changes {
		ch := &changes[i]
		for _, s := range a.sinks {
			if !match(s.cfg.Routes, &ch.Event) {
				continue
			}
			n, commit, reason := a.decide(s, ch, now)
			if reason == "" && ch.Event.Incident != "" && s.cfg.Type != Generic {
				k := incidentKey{s.cfg.Name, ch.Event.Incident}
				a.mu.Lock()
				suppress, record := a.incidentRoute(s, ch)
				a.mu.Unlock()
				commits = append(commits, record)
				if j, ok := merged[k]; ok && ch.Change != route.EventResolved {
					notices[j] = append(notices[j], n)
					commits = append(commits, commit)
					continue
				}
				if suppress {
					reason = "incident"
				} else if ch.Change != route.EventResolved {
					merged[k] = len(ds)
				}
			}
			if reason != "" {
				a.m.suppressed.WithLabelValues(s.cfg.Name, reason).Inc()
				if commit != nil {
					commits = append(commits, commit)
				}
				continue
			}
			idParts := []string{s.cfg.Name, ch.Event.ID, string(ch.Change)}
			if ch.Change == route.EventUpdated {
				idParts = append(idParts, strconv.Itoa(ch.Event.Prefixes))
			}
			ds = append(ds, store.Delivery{
				ID:          deliveryID(idParts...),
				Sink:        s.cfg.Name,
				EventID:     ch.Event.ID,
				Created:     now,
				NextAttempt: now,
			})
			notices = append(notices, []notice{n})
			commits = append(commits, commit)
			a.m.notices.WithLabelValues(s.cfg.Name, string(ch.Change)).Inc()
		}
	}
	for i := range ds {
		payload, err := encodeEnvelope(notices[i])
		if err != nil {
			return err
		}
		ds[i].Payload = payload
	}
	if len(ds) > 0 {
		if err := a.outbox.Enqueue(ctx, ds); err != nil {
			a.m.storeErrors.Inc()
			return fmt.Errorf("alert: enqueue: %w", err)
		}
	}
	// Only remember what was told once the outbox holds it.
	a.mu.Lock()
	for _, c := range commits {
		c()
	}
	a.pruneLocked(now)
	a.mu.Unlock()
	if len(ds) > 0 {
		a.poke()
	}
	return nil
}

// decide applies repeat suppression and update rules. It returns the
// notice to send, a commit func that records it, and a non-empty reason
// when nothing is sent.
func (a *Alerter) decide(s *sink, ch *route.EventChange, now time.Time) (notice, func(), string) {
	k := stateKey{s.cfg.Name, ch.Event.ID}
	a.mu.Lock()
	st := a.state[k]
	var prev eventState
	if st != nil {
		prev = *st
	}
	a.mu.Unlock()
	n := notice{Change: ch.Change, Event: ch.Event, At: now}
	set := func(v eventState) func() {
		return func() { a.state[k] = &v }
	}
	switch ch.Change {
	case route.EventOpened:
		if st != nil && !prev.resolved {
			return n, nil, "repeat"
		}
		return n, set(eventState{prefixes: ch.Event.Prefixes, at: now}), ""
	case route.EventUpdated:
		if st == nil {
			// Opened before a restart (or filtered then): take this as the
			// baseline rather than announcing an "update" out of context.
			return n, set(eventState{prefixes: ch.Event.Prefixes, at: now}), "no_baseline"
		}
		switch {
		case prev.resolved:
			return n, nil, "resolved"
		case !s.cfg.Updates:
			return n, nil, "updates_off"
		case now.Sub(prev.at) < s.cfg.UpdateInterval:
			return n, nil, "interval"
		case float64(ch.Event.Prefixes) < float64(prev.prefixes)*s.cfg.UpdateGrowth:
			return n, nil, "small_growth"
		}
		n.Previous = prev.prefixes
		return n, set(eventState{prefixes: ch.Event.Prefixes, at: now}), ""
	case route.EventResolved:
		if st != nil && prev.resolved {
			return n, nil, "repeat"
		}
		return n, set(eventState{prefixes: ch.Event.Prefixes, at: now, resolved: true}), ""
	}
	return n, nil, "unknown_change"
}

// pruneLocked forgets resolved events after a while (their deterministic
// ids still make late repeats no-ops while the outbox remembers them) and
// open ones that have gone quiet for a long time.
func (a *Alerter) pruneLocked(now time.Time) {
	if now.Sub(a.lastPrune) < time.Minute {
		return
	}
	a.lastPrune = now
	for k, st := range a.state {
		age := now.Sub(st.at)
		if (st.resolved && age > time.Hour) || age > 7*24*time.Hour {
			delete(a.state, k)
		}
	}
}

// sinkNames lists configured sinks (for logs and tests).
func (a *Alerter) sinkNames() []string {
	out := make([]string, 0, len(a.sinks))
	for _, s := range a.sinks {
		out = append(out, s.cfg.Name)
	}
	return slices.Clip(out)
}
