package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"routewatch/route"
)

// testSecret is the Standard Webhooks spec's example secret.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fakeClock is a settable clock shared by the alerter and the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixtureEvent builds a realistic provider event.
func fixtureEvent(i int, kind route.EventKind) route.Event {
	start := time.Date(2021, 12, 15, 15, 14, 3, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	ev := route.Event{
		ID:       fmt.Sprintf("ev-%s-%03d", kind, i),
		Kind:     kind,
		Provider: "aws",
		Region:   "us-west-2",
		Start:    start,
		Detected: start.Add(67 * time.Second),
		Prefixes: 87,
		Peers:    8,
		Summary:  "87 of 412 aws us-west-2 prefixes moved from AS3356 to AS2914 at 8 vantage points",
		Transitions: []route.Transition{
			{FromUpstream: 3356, ToUpstream: 2914, Prefixes: 40},
			{FromUpstream: 3356, ToUpstream: 1299, Prefixes: 30},
			{FromUpstream: 174, ToUpstream: 0, Prefixes: 17},
		},
		AffectedPeers: []route.Peer{
			{Addr: netip.MustParseAddr("198.51.100.3"), ASN: 2914},
			{Addr: netip.MustParseAddr("2001:db8::7"), ASN: 6939},
		},
		SamplePrefixes: []netip.Prefix{
			netip.MustParsePrefix("52.94.0.0/22"),
			netip.MustParsePrefix("54.240.192.0/19"),
			netip.MustParsePrefix("2600:1f14::/35"),
		},
	}
	if kind == route.KindPeerDown {
		ev.Provider, ev.Region, ev.Summary = "", "", "session to 198.51.100.3 left Established"
		ev.Transitions, ev.SamplePrefixes = nil, nil
		ev.AffectedPeers = ev.AffectedPeers[:1]
		ev.Prefixes, ev.Peers = 1204, 1
	}
	return ev
}

func resolved(ev route.Event, after time.Duration) route.Event {
	end := ev.Start.Add(after)
	ev.End = &end
	return ev
}

// hugeEvent stresses every limit: long names, thousands of transitions,
// samples and peers, a very long summary.
func hugeEvent(i int) route.Event {
	ev := fixtureEvent(i, route.KindPathShift)
	ev.Provider = strings.Repeat("p<!channel>&", 30)
	ev.Region = strings.Repeat("región-", 40)
	ev.Summary = strings.Repeat("ünïcode summary ", 1000)
	ev.Prefixes, ev.Peers = 123456, 999
	for j := range 2000 {
		ev.Transitions = append(ev.Transitions, route.Transition{FromUpstream: uint32(j), ToUpstream: uint32(j + 1), Prefixes: j % 17})
		ev.SamplePrefixes = append(ev.SamplePrefixes, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(j >> 8), byte(j)}), 48))
		ev.AffectedPeers = append(ev.AffectedPeers, route.Peer{Addr: netip.AddrFrom4([4]byte{198, 51, byte(j >> 8), byte(j)}), ASN: uint32(64512 + j)})
	}
	return ev
}

// ---- what each real service would accept ----

func validate(t SinkType, body []byte, h http.Header) error {
	switch t {
	case Slack:
		return validateSlack(body)
	case Teams:
		return validateTeams(body)
	case Discord:
		return validateDiscord(body)
	case Mattermost:
		return validateMattermost(body)
	case Generic:
		return validateGeneric(body, h)
	}
	return fmt.Errorf("unknown type %q", t)
}

func strlen(s string) int { return utf8.RuneCountInString(s) }

// validateSlack checks a Block Kit incoming-webhook message: top-level
// text, at most 50 blocks, header plain_text ≤ 150, section text 1..3000,
// context 1..10 elements, only known block types and no unknown keys.
func validateSlack(body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	for k := range m {
		switch k {
		case "text", "blocks", "unfurl_links", "unfurl_media", "username", "icon_emoji":
		default:
			return fmt.Errorf("unknown top-level key %q", k)
		}
	}
	text, _ := m["text"].(string)
	if text == "" {
		return fmt.Errorf("no fallback text")
	}
	blocks, ok := m["blocks"].([]any)
	if !ok || len(blocks) == 0 || len(blocks) > 50 {
		return fmt.Errorf("blocks: want 1..50, have %d", len(blocks))
	}
	for i, b := range blocks {
		blk := b.(map[string]any)
		txt, _ := blk["text"].(map[string]any)
		switch blk["type"] {
		case "header":
			if txt["type"] != "plain_text" || strlen(txt["text"].(string)) > 150 || txt["text"] == "" {
				return fmt.Errorf("block %d: bad header %v", i, txt)
			}
		case "section":
			s, _ := txt["text"].(string)
			if (txt["type"] != "mrkdwn" && txt["type"] != "plain_text") || s == "" || strlen(s) > 3000 {
				return fmt.Errorf("block %d: bad section (%d chars)", i, strlen(s))
			}
		case "context":
			els, _ := blk["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				return fmt.Errorf("block %d: context elements %d", i, len(els))
			}
			for _, e := range els {
				em := e.(map[string]any)
				s, _ := em["text"].(string)
				if em["type"] != "mrkdwn" || s == "" || strlen(s) > 3000 {
					return fmt.Errorf("block %d: bad context element", i)
				}
			}
		case "divider":
			if len(blk) != 1 {
				return fmt.Errorf("block %d: divider with fields", i)
			}
		default:
			return fmt.Errorf("block %d: unknown type %v", i, blk["type"])
		}
	}
	return nil
}

// validateTeams checks a Workflows webhook message: a "message" with one
// Adaptive Card attachment, card version ≤ 1.5, known elements, ≤ 28 KB.
func validateTeams(body []byte) error {
	if len(body) > 28*1024 {
		return fmt.Errorf("payload %d bytes > 28 KB", len(body))
	}
	var m struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string         `json:"contentType"`
			Content     map[string]any `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if m.Type != "message" || len(m.Attachments) != 1 {
		return fmt.Errorf("want type message with one attachment")
	}
	a := m.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" {
		return fmt.Errorf("contentType %q", a.ContentType)
	}
	c := a.Content
	if c["type"] != "AdaptiveCard" {
		return fmt.Errorf("content type %v", c["type"])
	}
	v, _ := c["version"].(string)
	maj, min, ok := strings.Cut(v, ".")
	if !ok || maj != "1" {
		return fmt.Errorf("version %q", v)
	}
	if n, err := strconv.Atoi(min); err != nil || n > 5 {
		return fmt.Errorf("version %q > 1.5", v)
	}
	els, _ := c["body"].([]any)
	if len(els) == 0 {
		return fmt.Errorf("empty body")
	}
	for i, e := range els {
		em := e.(map[string]any)
		switch em["type"] {
		case "TextBlock":
			if s, _ := em["text"].(string); s == "" {
				return fmt.Errorf("element %d: empty TextBlock", i)
			}
		case "FactSet":
			facts, _ := em["facts"].([]any)
			if len(facts) == 0 {
				return fmt.Errorf("element %d: empty FactSet", i)
			}
			for _, f := range facts {
				fm := f.(map[string]any)
				if _, ok := fm["title"].(string); !ok {
					return fmt.Errorf("element %d: fact without title", i)
				}
				if _, ok := fm["value"].(string); !ok {
					return fmt.Errorf("element %d: fact without value", i)
				}
			}
		default:
			return fmt.Errorf("element %d: type %v not expected", i, em["type"])
		}
	}
	if acts, ok := c["actions"].([]any); ok {
		for _, x := range acts {
			am := x.(map[string]any)
			if am["type"] != "Action.OpenUrl" || am["url"] == "" {
				return fmt.Errorf("bad action %v", am)
			}
		}
	}
	return nil
}

// validateDiscord checks an execute-webhook body: ≤ 10 embeds, title 256,
// description 4096, 25 fields of name 256 / value 1024 (both non-empty),
// footer 2048, 6000 characters in total, content ≤ 2000.
func validateDiscord(body []byte) error {
	var m struct {
		Content string `json:"content"`
		Embeds  []struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			Color       int    `json:"color"`
			Timestamp   string `json:"timestamp"`
			Fields      []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"fields"`
			Footer *struct {
				Text string `json:"text"`
			} `json:"footer"`
		} `json:"embeds"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if m.Content == "" && len(m.Embeds) == 0 {
		return fmt.Errorf("empty message")
	}
	if strlen(m.Content) > 2000 || len(m.Embeds) > 10 {
		return fmt.Errorf("content %d / embeds %d", strlen(m.Content), len(m.Embeds))
	}
	total := 0
	for i, e := range m.Embeds {
		if strlen(e.Title) > 256 || strlen(e.Description) > 4096 || len(e.Fields) > 25 {
			return fmt.Errorf("embed %d over limits", i)
		}
		if e.Color < 0 || e.Color > 0xFFFFFF {
			return fmt.Errorf("embed %d color", i)
		}
		if e.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
				return fmt.Errorf("embed %d timestamp: %v", i, err)
			}
		}
		total += strlen(e.Title) + strlen(e.Description)
		for _, f := range e.Fields {
			if f.Name == "" || f.Value == "" || strlen(f.Name) > 256 || strlen(f.Value) > 1024 {
				return fmt.Errorf("embed %d field %q over limits", i, f.Name)
			}
			total += strlen(f.Name) + strlen(f.Value)
		}
		if e.Footer != nil {
			if strlen(e.Footer.Text) > 2048 {
				return fmt.Errorf("embed %d footer", i)
			}
			total += strlen(e.Footer.Text)
		}
	}
	if total > 6000 {
		return fmt.Errorf("embeds total %d > 6000 characters", total)
	}
	return nil
}

// validateMattermost checks a Slack-compatible attachment message within
// Mattermost's 16383-character post limit.
func validateMattermost(body []byte) error {
	if strlen(string(body)) > 16383 {
		return fmt.Errorf("post too long")
	}
	var m struct {
		Text        string `json:"text"`
		Attachments []struct {
			Fallback string `json:"fallback"`
			Title    string `json:"title"`
			Fields   []struct {
				Title string `json:"title"`
				Value string `json:"value"`
			} `json:"fields"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if m.Text == "" && len(m.Attachments) == 0 {
		return fmt.Errorf("empty message")
	}
	for i, a := range m.Attachments {
		if a.Fallback == "" || a.Title == "" {
			return fmt.Errorf("attachment %d without fallback/title", i)
		}
	}
	return nil
}

// verifyStandardWebhook is an independent implementation of the Standard
// Webhooks verification (not the package's Verify): decode the whsec_
// secret, HMAC-SHA256 over "id.timestamp.body", base64, compare with one of
// the space-separated v1 signatures; timestamp within 5 minutes.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp too far from now")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(sigs, " ") {
		v, sig, _ := strings.Cut(s, ",")
		if v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no valid signature")
}

func validateGeneric(body []byte, h http.Header) error {
	if h != nil {
		now := time.Now()
		if ts, err := strconv.ParseInt(h.Get("Webhook-Timestamp"), 10, 64); err == nil {
			now = time.Unix(ts, 0) // signed with the fake clock
		}
		if err := verifyStandardWebhook(testSecret, h, body, now); err != nil {
			return fmt.Errorf("signature: %v", err)
		}
	}
	var m struct {
		Type      string         `json:"type"`
		Timestamp time.Time      `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if !strings.HasPrefix(m.Type, "event.") || m.Timestamp.IsZero() {
		return fmt.Errorf("type %q timestamp %v", m.Type, m.Timestamp)
	}
	for _, k := range []string{"id", "kind", "provider", "region", "start", "detected", "end", "prefixes", "peers", "transitions", "sample_prefixes"} {
		if _, ok := m.Data[k]; !ok {
			return fmt.Errorf("data lacks %q", k)
		}
	}
	return nil
}

// ---- a chat receiver ----

type received struct {
	id     string
	body   []byte
	status int
	at     time.Time // fake clock time
}

// receiver is an httptest server that validates every request as the real
// service would and answers from a script.
type receiver struct {
	t     *testing.T
	typ   SinkType
	clock *fakeClock
	srv   *httptest.Server
	// respond returns the answer to the n-th request (0-based); nil = 200.
	respond func(n int, w http.ResponseWriter, r *http.Request) int

	mu   sync.Mutex
	reqs []received
	bad  []string
}

func newReceiver(t *testing.T, typ SinkType, clock *fakeClock, respond func(n int, w http.ResponseWriter, r *http.Request) int) *receiver {
	rc := &receiver{t: t, typ: typ, clock: clock, respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n := rc.record(r, body)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.fail("method %s content-type %q", r.Method, r.Header.Get("Content-Type"))
	}
	if err := validate(rc.typ, body, r.Header); err != nil {
		rc.fail("request %d: %s rejects payload: %v\n%s", n, rc.typ, err, body)
		rc.setStatus(n, http.StatusBadRequest)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	status := http.StatusOK
	if rc.respond != nil {
		status = rc.respond(n, w, r)
	}
	if status == 0 {
		return // the script wrote the answer itself (or hung up)
	}
	rc.setStatus(n, status)
	w.WriteHeader(status)
	if status == http.StatusOK {
		io.WriteString(w, "ok")
	}
}

// record notes a request on arrival and returns its index; its status is
// filled in once answered (0: answered by the script itself or never).
func (rc *receiver) record(r *http.Request, body []byte) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	at := time.Time{}
	if rc.clock != nil {
		at = rc.clock.Now()
	}
	rc.reqs = append(rc.reqs, received{id: r.Header.Get(HeaderID), body: body, at: at})
	return len(rc.reqs) - 1
}

func (rc *receiver) setStatus(n, status int) {
	rc.mu.Lock()
	rc.reqs[n].status = status
	rc.mu.Unlock()
}

func (rc *receiver) fail(format string, args ...any) {
	rc.mu.Lock()
	rc.bad = append(rc.bad, fmt.Sprintf(format, args...))
	rc.mu.Unlock()
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]received, len(rc.reqs))
	copy(out, rc.reqs)
	return out
}

func (rc *receiver) check() {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, b := range rc.bad {
		rc.t.Error(b)
	}
}

// eventually polls cond until it holds; the deadline only bounds a hung
// test, it asserts nothing about speed.
// settle waits until the worker has completed two more outbox polls: the
// first may have started before the caller's clock change, the second
// began after it, so whatever that change allows has happened by then.
func settle(t *testing.T, a *Alerter) {
	t.Helper()
	want := a.cycles.Load() + 2
	eventually(t, "two worker cycles", func() bool { return a.cycles.Load() >= want })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
