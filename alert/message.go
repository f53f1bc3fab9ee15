package alert

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"routewatch/route"
)

// notice is one event change as queued for one sink. The outbox stores
// notices, not rendered bodies, so bursts can be coalesced into one message
// at send time; rendering is deterministic, so a retried message has the
// same body.
type notice struct {
	Change route.ChangeKind `json:"change"`
	Event  route.Event      `json:"event"`
	// Previous is the prefix count of the last message about this event
	// (updates only).
	Previous int `json:"previous,omitempty"`
	// At is when the change was queued (the generic webhook's timestamp).
	At time.Time `json:"at"`
}

// envelope is the outbox payload.
type envelope struct {
	V       int      `json:"v"`
	Notices []notice `json:"notices"`
}

const envelopeVersion = 1

// ErrBadPayload is wrapped by errors about outbox payloads that cannot be
// decoded (corrupt, or written by an incompatible version).
var ErrBadPayload = errors.New("alert: bad outbox payload")

func encodeEnvelope(ns []notice) ([]byte, error) {
	b, err := json.Marshal(envelope{V: envelopeVersion, Notices: ns})
	if err != nil {
		return nil, fmt.Errorf("alert: encode payload: %w", err)
	}
	return b, nil
}

func decodeEnvelope(b []byte) ([]notice, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if env.V != envelopeVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadPayload, env.V)
	}
	if len(env.Notices) == 0 {
		return nil, fmt.Errorf("%w: no notices", ErrBadPayload)
	}
	for _, n := range env.Notices {
		switch n.Change {
		case route.EventOpened, route.EventUpdated, route.EventResolved:
		default:
			return nil, fmt.Errorf("%w: change %q", ErrBadPayload, n.Change)
		}
	}
	return env.Notices, nil
}

// detail is how much a rendered notice carries; renderers step down until
// the message fits the service's limits.
type detail struct {
	transitions, samples, peers int
	summary                     int // runes
}

var details = []detail{
	{transitions: 5, samples: 10, peers: 5, summary: 600},
	{transitions: 3, samples: 4, peers: 2, summary: 200},
	{transitions: 1, samples: 0, peers: 0, summary: 0},
}

// fact is one labelled value of a notice.
type fact struct{ name, value string }

// view is the service-neutral content of one notice.
type view struct {
	title   string
	quiet   bool // peer_down: compact, no header, no colour alarm
	change  route.ChangeKind
	facts   []fact
	trans   []string // "via AS3356 → via AS2914: 40 prefixes"
	samples []string
	summary string
	link    string
	eventID string
	at      time.Time // when the change happened (start, detected or end)
	// incident and cause: the transit-side incident the event belongs to
	incident string
	cause    route.Cause
}

func eventLink(base, id string) string {
	if base == "" || id == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/api/v1/events/" + url.PathEscape(id)
}

func groupLabel(ev *route.Event) string {
	g := ev.Provider
	if g == "" {
		g = "unknown provider"
	}
	if ev.Region != "" {
		g += " " + ev.Region
	}
	if ev.Service != "" {
		g += " (" + ev.Service + ")"
	}
	return g
}

func kindLabel(k route.EventKind) string {
	s := strings.ReplaceAll(string(k), "_", " ")
	if s == "" {
		return "event"
	}
	return s
}

func peerLabel(p route.Peer) string {
	if !p.Addr.IsValid() {
		return "AS" + strconv.FormatUint(uint64(p.ASN), 10)
	}
	return p.Addr.String() + " (AS" + strconv.FormatUint(uint64(p.ASN), 10) + ")"
}

func upstreamLabel(asn uint32) string {
	if asn == 0 {
		return "no route"
	}
	return "via AS" + strconv.FormatUint(uint64(asn), 10)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Second).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// newView builds the neutral content of a notice at a detail level.
func newView(n *notice, apiBase string, d detail) view {
	ev := &n.Event
	v := view{
		change:  n.Change,
		quiet:   ev.Kind == route.KindPeerDown,
		link:    eventLink(apiBase, ev.ID),
		eventID: ev.ID,
		at:      ev.Detected,

		incident: ev.Incident,
		cause:    ev.Cause,
	}
	size := plural(ev.Prefixes, "prefix", "prefixes") + ", " + plural(ev.Peers, "vantage point", "vantage points")
	if v.quiet {
		who := "unknown peer"
		if len(ev.AffectedPeers) > 0 {
			who = peerLabel(ev.AffectedPeers[0])
		}
		switch n.Change {
		case route.EventResolved:
			v.title = fmt.Sprintf("Peer back: %s after %s", who, fmtDuration(ev.Duration()))
		default:
			v.title = fmt.Sprintf("Peer down: %s (%s stale)", who, plural(ev.Prefixes, "prefix", "prefixes"))
		}
	} else {
		switch n.Change {
		case route.EventOpened:
			v.title = fmt.Sprintf("🔴 %s: %s — %s", capitalize(kindLabel(ev.Kind)), groupLabel(ev), size)
		case route.EventUpdated:
			v.title = fmt.Sprintf("🟠 Growing %s: %s — now %s (was %d)", kindLabel(ev.Kind), groupLabel(ev), size, n.Previous)
		case route.EventResolved:
			v.title = fmt.Sprintf("✅ Resolved %s: %s after %s", kindLabel(ev.Kind), groupLabel(ev), fmtDuration(ev.Duration()))
		}
	}
	v.facts = append(v.facts,
		fact{"Kind", string(ev.Kind)},
	)
	if !v.quiet {
		region := ev.Region
		if region == "" {
			region = "(none)"
		}
		v.facts = append(v.facts, fact{"Provider / region", ev.Provider + " / " + region})
	}
	v.facts = append(v.facts,
		fact{"Start", fmtTime(ev.Start)},
		fact{"Detected", fmtTime(ev.Detected)},
	)
	if ev.End != nil {
		v.facts = append(v.facts, fact{"End", fmtTime(*ev.End)}, fact{"Duration", fmtDuration(ev.Duration())})
		v.at = *ev.End
	}
	v.facts = append(v.facts,
		fact{"Prefixes", strconv.Itoa(ev.Prefixes)},
		fact{"Vantage points", strconv.Itoa(ev.Peers)},
	)
	if c := ev.Cause; c.Side != "" {
		side := string(c.Side)
		if c.ASN != 0 {
			side += fmt.Sprintf(" (AS%d)", c.ASN)
		}
		v.facts = append(v.facts, fact{"Likely cause", side + ": " + c.Reason})
	}
	if len(ev.Origins) > 0 {
		os := make([]string, len(ev.Origins))
		for i, o := range ev.Origins {
			os[i] = fmt.Sprintf("AS%d", o)
		}
		v.facts = append(v.facts, fact{"Offending origins", strings.Join(os, ", ")})
	}
	if d.peers > 0 && len(ev.AffectedPeers) > 0 {
		ps := make([]string, 0, d.peers+1)
		for i, p := range ev.AffectedPeers {
			if i == d.peers {
				ps = append(ps, fmt.Sprintf("+%d more", len(ev.AffectedPeers)-i))
				break
			}
			ps = append(ps, peerLabel(p))
		}
		v.facts = append(v.facts, fact{"Vantage points seen", strings.Join(ps, ", ")})
	}
	trans := slices.Clone(ev.Transitions)
	// Largest first; ties by ASN so the output is deterministic.
	slices.SortStableFunc(trans, func(a, b route.Transition) int {
		return cmp.Or(cmp.Compare(b.Prefixes, a.Prefixes), cmp.Compare(a.FromUpstream, b.FromUpstream), cmp.Compare(a.ToUpstream, b.ToUpstream))
	})
	for i, t := range trans {
		if i == d.transitions {
			v.trans = append(v.trans, fmt.Sprintf("+%d more transitions", len(trans)-i))
			break
		}
		v.trans = append(v.trans, fmt.Sprintf("%s → %s: %s", upstreamLabel(t.FromUpstream), upstreamLabel(t.ToUpstream), plural(t.Prefixes, "prefix", "prefixes")))
	}
	for i, p := range ev.SamplePrefixes {
		if i == d.samples {
			break
		}
		v.samples = append(v.samples, p.String())
	}
	v.summary = truncate(ev.Summary, d.summary)
	// Services reject empty field values (Discord) and empty text blocks.
	for i := range v.facts {
		if strings.TrimSpace(v.facts[i].value) == "" {
			v.facts[i].value = "—"
		}
	}
	return v
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}

// truncate cuts s to at most n runes, ending with "…" when cut.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func runes(s string) int { return utf8.RuneCountInString(s) }
