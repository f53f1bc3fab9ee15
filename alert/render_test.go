package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"routewatch/route"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

var allTypes = []SinkType{Slack, Teams, Discord, Mattermost, Generic}

func at() time.Time { return time.Date(2021, 12, 15, 15, 20, 0, 0, time.UTC) }

func renderCases() map[string][]notice {
	open := fixtureEvent(1, route.KindPathShift)
	wd := fixtureEvent(2, route.KindWithdrawal)
	wd.Region = ""
	pd := fixtureEvent(3, route.KindPeerDown)
	grown := open
	grown.Prefixes, grown.Peers = 140, 11
	return map[string][]notice{
		"opened":       {{Change: route.EventOpened, Event: open, At: at()}},
		"updated":      {{Change: route.EventUpdated, Event: grown, Previous: 87, At: at()}},
		"resolved":     {{Change: route.EventResolved, Event: resolved(open, 12*time.Minute+30*time.Second), At: at()}},
		"withdrawal":   {{Change: route.EventOpened, Event: wd, At: at()}},
		"peer_down":    {{Change: route.EventOpened, Event: pd, At: at()}},
		"peer_back":    {{Change: route.EventResolved, Event: resolved(pd, 3*time.Minute), At: at()}},
		"coalesced":    {{Change: route.EventOpened, Event: open, At: at()}, {Change: route.EventOpened, Event: wd, At: at()}, {Change: route.EventResolved, Event: resolved(fixtureEvent(4, route.KindPathShift), time.Hour), At: at()}},
		"peer_batched": {{Change: route.EventOpened, Event: pd, At: at()}, {Change: route.EventOpened, Event: fixtureEvent(5, route.KindPeerDown), At: at()}},
	}
}

// TestRenderGolden pins the message shapes per service and checks each
// against what the service accepts.
func TestRenderGolden(t *testing.T) {
	for name, ns := range renderCases() {
		for _, typ := range allTypes {
			if typ == Generic && len(ns) > 1 {
				continue // generic never coalesces
			}
			t.Run(string(typ)+"/"+name, func(t *testing.T) {
				b, err := render(typ, ns, "https://routewatch.example.net/")
				if err != nil {
					t.Fatal(err)
				}
				if err := validate(typ, b, nil); err != nil {
					t.Fatalf("service would reject: %v\n%s", err, b)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, b, "", "  "); err != nil {
					t.Fatal(err)
				}
				pretty.WriteByte('\n')
				golden := filepath.Join("testdata", "golden", string(typ)+"_"+name+".json")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if !bytes.Equal(pretty.Bytes(), want) {
					t.Errorf("%s differs from golden (run with -update):\n%s", golden, pretty.Bytes())
				}
			})
		}
	}
}

func TestRenderContent(t *testing.T) {
	cases := renderCases()
	tests := []struct {
		name, caseName string
		typ            SinkType
		want           []string
		notWant        []string
	}{
		{name: "slack opened has what an engineer needs", caseName: "opened", typ: Slack, want: []string{
			"Path shift: aws us-west-2", "87 prefixes, 8 vantage points", "2021-12-15 15:15:03 UTC",
			"via AS3356 → via AS2914: 40 prefixes", "via AS174 → no route: 17 prefixes", "52.94.0.0/22",
			"198.51.100.3 (AS2914)", "https://routewatch.example.net/api/v1/events/ev-path_shift-001"}},
		{name: "slack resolved has duration", caseName: "resolved", typ: Slack, want: []string{"Resolved path shift", "after 12m30s", "*Duration:* 12m30s"}},
		{name: "slack updated says was", caseName: "updated", typ: Slack, want: []string{"now 140 prefixes, 11 vantage points (was 87)"}},
		{name: "slack peer down is one quiet context line", caseName: "peer_down", typ: Slack, want: []string{`"type":"context"`, "Peer down: 198.51.100.3 (AS2914)"}, notWant: []string{`"header"`, "Provider / region"}},
		{name: "teams opened card", caseName: "opened", typ: Teams, want: []string{"Action.OpenUrl", `"color":"Attention"`, "via AS3356 → via AS2914: 40 prefixes"}},
		{name: "discord no mentions", caseName: "opened", typ: Discord, want: []string{`"allowed_mentions":{"parse":[]}`, `"url":"https://routewatch.example.net/api/v1/events/ev-path_shift-001"`}},
		{name: "generic carries the event resource", caseName: "resolved", typ: Generic, want: []string{`"type":"event.resolved"`, `"data":{"id":"ev-path_shift-001"`, `"from_upstream":3356`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := render(tt.typ, cases[tt.caseName], "https://routewatch.example.net")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("missing %q in\n%s", w, b)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(string(b), w) {
					t.Errorf("unexpected %q in\n%s", w, b)
				}
			}
		})
	}
}

// TestRenderLimits feeds oversized events (alone and ten coalesced) and
// checks every service would still accept the message.
func TestRenderLimits(t *testing.T) {
	one := []notice{{Change: route.EventOpened, Event: hugeEvent(0), At: at()}}
	var ten []notice
	for i := range 10 {
		ten = append(ten, notice{Change: route.EventOpened, Event: hugeEvent(i), At: at()})
	}
	for _, typ := range allTypes {
		for name, ns := range map[string][]notice{"one": one, "ten": ten} {
			if typ == Generic && len(ns) > 1 {
				continue
			}
			t.Run(string(typ)+"/"+name, func(t *testing.T) {
				b, err := render(typ, ns, "https://routewatch.example.net")
				if err != nil {
					t.Fatal(err)
				}
				if err := validate(typ, b, nil); err != nil {
					t.Fatalf("service would reject: %v", err)
				}
				if typ == Slack && strings.Contains(string(b), "<!channel>") {
					t.Error("mention not escaped")
				}
			})
		}
	}
}

func TestSignStandardWebhooksVector(t *testing.T) {
	// The Standard Webhooks reference libraries' test vector.
	key, err := parseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"test": 2432232314}`)
	now := time.Unix(1614265330, 0)
	hdr := func(id, ts, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		return h
	}
	good := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	tests := []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"valid", testSecret, hdr("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", good), body, now, true},
		{"one of several", testSecret, hdr("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,bm9wZQ== "+good), body, now, true},
		{"tampered body", testSecret, hdr("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", good), []byte(`{"test": 1}`), now, false},
		{"other id", testSecret, hdr("msg_other", "1614265330", good), body, now, false},
		{"old timestamp", testSecret, hdr("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", good), body, now.Add(6 * time.Minute), false},
		{"missing header", testSecret, hdr("", "1614265330", good), body, now, false},
		{"wrong secret", "whsec_" + strings.Repeat("QUFB", 8), hdr("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", good), body, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.h, tt.body, tt.now, 5*time.Minute)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrSignature) {
				t.Errorf("error %v does not wrap ErrSignature", err)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		body   string
		want   time.Duration
		ok     bool
	}{
		{"seconds", "30", "", 30 * time.Second, true},
		{"http date", now.Add(2 * time.Minute).Format(http.TimeFormat), "", 2 * time.Minute, true},
		{"past date", now.Add(-time.Minute).Format(http.TimeFormat), "", 0, true},
		{"discord body", "", `{"message":"You are being rate limited.","retry_after":0.75,"global":false}`, 750 * time.Millisecond, true},
		{"negative", "-5", "", 0, false},
		{"garbage", "soon", "", 0, false},
		{"absent", "", "", 0, false},
		{"huge", "1e300", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.header, []byte(tt.body), now)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("parseRetryAfter = %v,%v want %v,%v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := SinkConfig{Name: "s", Type: Slack, URL: "https://hooks.slack.com/services/T/B/X"}
	gen := SinkConfig{Name: "g", Type: Generic, URL: "https://example.net/hook", Secret: testSecret}
	with := func(f func(*Config)) Config {
		c := Config{Sinks: []SinkConfig{ok, gen}}
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"valid", with(func(*Config) {}), ""},
		{"unknown type", with(func(c *Config) { c.Sinks[0].Type = "irc" }), "sinks[0].type"},
		{"duplicate name", with(func(c *Config) { c.Sinks[1].Name = "s" }), "duplicate"},
		{"plain http refused", with(func(c *Config) { c.Sinks[0].URL = "http://hooks.example.net/x" }), "allow_private_targets"},
		{"plain http allowed", with(func(c *Config) { c.AllowPrivateTargets = true; c.Sinks[0].URL = "http://127.0.0.1:1/x" }), ""},
		{"generic without secret", with(func(c *Config) { c.Sinks[1].Secret = "" }), "sinks[1].secret"},
		{"short secret", with(func(c *Config) { c.Sinks[1].Secret = "whsec_QUFBQQ==" }), "bytes"},
		{"bad kind", with(func(c *Config) { c.Sinks[0].Routes = []Rule{{Kinds: []route.EventKind{"meltdown"}}} }), "unknown kind"},
		{"bad region pattern", with(func(c *Config) { c.Sinks[0].Routes = []Rule{{Regions: []string{"us-["}}} }), "bad pattern"},
		{"coalesce too big", with(func(c *Config) { c.Sinks[0].CoalesceMax = 50 }), "coalesce_max"},
		{"bad api base", with(func(c *Config) { c.APIBaseURL = "routewatch:8080" }), "api_base_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hooks.slack.com") {
				t.Error("error leaks the webhook URL")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Error("not a *ConfigError")
			}
		})
	}
}

func TestRouting(t *testing.T) {
	aws := fixtureEvent(1, route.KindPathShift)
	small := aws
	small.Prefixes = 3
	gcp := aws
	gcp.Provider, gcp.Region = "gcp", "europe-west1"
	pd := fixtureEvent(2, route.KindPeerDown)
	tests := []struct {
		name  string
		rules []Rule
		ev    route.Event
		want  bool
	}{
		{"no rules", nil, aws, true},
		{"provider", []Rule{{Providers: []string{"AWS"}}}, aws, true},
		{"other provider", []Rule{{Providers: []string{"azure"}}}, aws, false},
		{"region glob", []Rule{{Regions: []string{"us-*"}}}, aws, true},
		{"region glob miss", []Rule{{Regions: []string{"eu-*"}}}, aws, false},
		{"min prefixes", []Rule{{MinPrefixes: 10}}, small, false},
		{"any rule", []Rule{{Providers: []string{"azure"}}, {Providers: []string{"gcp"}, Regions: []string{"europe-*"}}}, gcp, true},
		{"kinds", []Rule{{Kinds: []route.EventKind{route.KindWithdrawal}}}, aws, false},
		{"peer_down ignores provider filter", []Rule{{Providers: []string{"aws"}, MinPrefixes: 1e6}}, pd, true},
		{"peer_down excluded by kinds", []Rule{{Kinds: []route.EventKind{route.KindPathShift, route.KindWithdrawal}}}, pd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := match(tt.rules, &tt.ev); got != tt.want {
				t.Fatalf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestConfigYAML: the documented example decodes strictly (every key is a
// real field) and validates.
func TestConfigYAML(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Sinks) != 5 || c.Sinks[0].UpdateInterval != 15*time.Minute || c.Delivery.GiveUpAfter != 24*time.Hour {
		t.Fatalf("decoded %+v", c)
	}
	if _, err := New(c, newOutbox(), nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsRegister(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cfg := Config{AllowPrivateTargets: true, Sinks: []SinkConfig{sinkFor("s", Slack, "http://127.0.0.1:1/x")}}
	a, err := New(cfg, newOutbox(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Notify(context.Background(), []route.EventChange{change(route.EventOpened, fixtureEvent(1, route.KindPathShift))}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) == 0 {
		t.Fatal("nothing registered")
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "routewatch_alert_") {
			t.Errorf("metric %s lacks the routewatch_alert_ prefix", mf.GetName())
		}
	}
}
