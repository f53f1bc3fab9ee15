package service

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"routewatch/internal/testenv"
)

func TestExampleConfigDocumentsDefaults(t *testing.T) {
	path := filepath.Join(testenv.RepoRoot(t), "config", "routewatch.example.yaml")
	got, err := LoadFile(path, nil)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	want := Default()
	// The example spells out what the defaults are; compare section by
	// section so a changed default shows up here.
	sections := []struct {
		name      string
		got, want any
	}{
		{"log", got.Log, want.Log},
		{"analyzer", got.Analyzer, want.Analyzer},
		{"api", got.API, want.API},
		{"alert.delivery", got.Alert.Delivery, want.Alert.Delivery},
		{"collector", got.Collector.Config, want.Collector.Config},
		{"ris_live", got.RISLive, want.RISLive},
		{"store.backend", got.Store.Backend, want.Store.Backend},
		{"shutdown_timeout", got.ShutdownTimeout, want.ShutdownTimeout},
		{"rpki", got.RPKI, want.RPKI},
	}
	for _, s := range sections {
		t.Run(s.name, func(t *testing.T) {
			// %+v makes nil and empty lists alike, as YAML does.
			if fmt.Sprintf("%+v", s.got) != fmt.Sprintf("%+v", s.want) {
				t.Errorf("example config says\n%+v\nbut the default is\n%+v", s.got, s.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "empty is default", yaml: "", check: func(t *testing.T, c Config) {
			if c.Store.Backend != "memory" || c.API.Listen != DefaultAPIListen || c.Collector.Port != DefaultBGPPort {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{name: "unknown key", yaml: "stor:\n  backend: memory\n", wantErr: "line 1: stor: unknown key (did you mean store?)"},
		{name: "unknown nested key", yaml: "analyzer:\n  windw: 5m\n", wantErr: "line 2: analyzer.windw: unknown key (did you mean window?)"},
		{name: "bad backend", yaml: "store:\n  backend: etcd\n", wantErr: `store.backend: "etcd"`},
		{name: "redis without url", yaml: "store:\n  backend: redis\n", wantErr: "store.redis.url: required"},
		{name: "REDIS_URL selects redis", env: map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/3"}, check: func(t *testing.T, c Config) {
			if c.Store.Backend != "redis" || c.Store.Redis.URL != "redis://127.0.0.1:6379/3" {
				t.Errorf("store = %+v", c.Store)
			}
		}},
		{name: "bad log level", yaml: "log:\n  level: loud\n", wantErr: `log.level: "loud"`},
		{name: "bad analyzer", yaml: "analyzer:\n  min_share: 3\n", wantErr: "min_share"},
		{name: "bad duration", yaml: "analyzer:\n  window: fast\n", wantErr: "line 2: analyzer.window: `fast` is not a duration (e.g. 5m)"},
		{name: "bad range spec", yaml: "ranges:\n  specs: ['']\n", wantErr: "ranges.specs[0]"},
		{name: "two documents", yaml: "log: {level: info}\n---\nlog: {level: debug}\n", wantErr: "more than one YAML document"},
		{name: "api tokens from env", env: map[string]string{"ROUTEWATCH_API_TOKENS": "ops:read:0123456789abcdef0123"}, check: func(t *testing.T, c Config) {
			if len(c.API.Tokens) != 1 || c.API.Tokens[0].Name != "ops" || string(c.API.Tokens[0].Scope) != "read" {
				t.Errorf("tokens = %+v", c.API.Tokens)
			}
		}},
		{name: "bad api token from env", env: map[string]string{"ROUTEWATCH_API_TOKENS": "nonsense"}, wantErr: "token"},
		{name: "webhook url from env",
			yaml: "alert:\n  sinks:\n    - name: netops-slack\n      type: slack\n      url: https://hooks.slack.com/services/T/B/placeholder\n",
			env:  map[string]string{"ROUTEWATCH_WEBHOOK_NETOPS_SLACK_URL": "https://hooks.slack.com/services/T/B/real"},
			check: func(t *testing.T, c Config) {
				if c.Alert.Sinks[0].URL != "https://hooks.slack.com/services/T/B/real" {
					t.Errorf("sink url = %q", c.Alert.Sinks[0].URL)
				}
			}},
		{name: "collector disabled skips its validation", yaml: "collector:\n  enabled: false\n  router_id: nonsense\n"},
		{name: "collector bad router id", yaml: "collector:\n  router_id: nonsense\n", wantErr: "router_id"},
		{name: "ris_live as in DESIGN.md", yaml: "ris_live:\n  enabled: true\n  url: ws://127.0.0.1:9/v1/ws/?client=x\n  hosts: [rrc00, rrc21]\n" +
			"  ignore_peers: [192.0.2.1, AS3333]\n  silence_timeout: 10m\n  bootstrap:\n    collectors: [rrc00, rrc01]\n    base_urls: {rrc00: 'http://mirror/rrc00'}\n",
			check: func(t *testing.T, c Config) {
				r := c.RISLive
				if !r.Enabled || r.URL != "ws://127.0.0.1:9/v1/ws/?client=x" || len(r.Hosts) != 2 || len(r.IgnorePeers) != 2 ||
					r.SilenceTimeout != 10*time.Minute || len(r.Bootstrap.Collectors) != 2 || r.Bootstrap.BaseURLs["rrc00"] != "http://mirror/rrc00" {
					t.Errorf("ris_live = %+v", r)
				}
			}},
		{name: "ris_live defaults", yaml: "ris_live: {enabled: true}\n", check: func(t *testing.T, c Config) {
			if c.RISLive.URL != "wss://ris-live.ripe.net/v1/ws/?client=routewatch" || c.RISLive.SilenceTimeout != 30*time.Minute ||
				len(c.RISLive.Bootstrap.Collectors) != 1 || c.RISLive.Bootstrap.Collectors[0] != "rrc00" {
				t.Errorf("ris_live = %+v", c.RISLive)
			}
		}},
		{name: "ris_live internal knobs are not keys", yaml: "ris_live:\n  ping_interval: 1s\n", wantErr: "line 2: ris_live.ping_interval: unknown key"},
		{name: "ris_live bad url", yaml: "ris_live:\n  enabled: true\n  url: https://ris-live.ripe.net/\n", wantErr: `ris_live.url: scheme "https"`},
		{name: "ris_live bad ignore", yaml: "ris_live:\n  enabled: true\n  ignore_peers: [rrc00]\n", wantErr: "ris_live.ignore_peers[0]"},
		{name: "rpki as in DESIGN.md", yaml: "rpki:\n  vrps: /var/lib/rpki-client/json\n  refresh: 5m\n", check: func(t *testing.T, c Config) {
			if c.RPKI.VRPs != "/var/lib/rpki-client/json" || c.RPKI.Refresh != 5*time.Minute {
				t.Errorf("rpki = %+v", c.RPKI)
			}
		}},
		{name: "rpki defaults", yaml: "", check: func(t *testing.T, c Config) {
			if c.RPKI.VRPs != "" || c.RPKI.Refresh != 10*time.Minute {
				t.Errorf("rpki = %+v", c.RPKI)
			}
		}},
		{name: "rpki unknown key", yaml: "rpki:\n  vrp: x.json\n", wantErr: "rpki.vrp: unknown key (did you mean vrps?)"},
		{name: "rpki negative refresh", yaml: "rpki:\n  refresh: -1m\n", wantErr: "rpki.refresh"},
		{name: "ris_live collector role", yaml: "store: {backend: redis, redis: {url: 'redis://x'}}\npipeline: {role: collector}\ncollector: {enabled: false}\nris_live: {enabled: true}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			c, err := Parse(strings.NewReader(tt.yaml), getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestComposeConfigChecks(t *testing.T) {
	// compose.yaml mounts config/compose.yaml with REDIS_URL set: the same
	// check the container would run.
	path := filepath.Join(testenv.RepoRoot(t), "config", "compose.yaml")
	env := map[string]string{"REDIS_URL": "redis://redis:6379/0"}
	c, err := LoadFile(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Backend != "redis" || c.API.Listen != "0.0.0.0:8080" {
		t.Errorf("compose config: store %q api %q", c.Store.Backend, c.API.Listen)
	}
	if _, err := os.Stat(filepath.Join(testenv.RepoRoot(t), "compose.yaml")); err != nil {
		t.Error(err)
	}
}

// FuzzParseConfig: any bytes give a config or an error, never a panic.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"", "log: {level: debug}\n", "store:\n  backend: redis\n  redis: {url: redis://x}\n",
		"collector:\n  neighbors:\n    - {address: 192.0.2.1, peer_asn: 64500}\n",
		"analyzer:\n  window: 5m\n  min_share: 0.2\n", "alert:\n  sinks:\n    - {name: a, type: slack, url: https://hooks.slack.com/x}\n",
		"pipeline: {role: analyzer}\n", "- a\n- b\n", "{{{", "api: {listen: ':0', tokens: [{name: a, scope: read, token: 0123456789abcdef}]}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data), nil)
		if err == nil && c.Store.Backend == "" {
			t.Errorf("valid config without a store backend")
		}
	})
}
