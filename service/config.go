package service

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"routewatch/alert"
	"routewatch/analyzer"
	"routewatch/api"
	"routewatch/bmpstation"
	"routewatch/collector"
	"routewatch/pipeline"
	"routewatch/ranges"
	"routewatch/rpki"
	"routewatch/store"
)

// Config is routewatch serve's one YAML file. It is decoded strictly:
// unknown keys are errors. See config/routewatch.example.yaml for every
// key with its default.
type Config struct {
	Log    LogConfig     `yaml:"log"`
	Store  StoreConfig   `yaml:"store"`
	Ranges ranges.Config `yaml:"ranges"`
	// RPKI is route origin validation against a validator's VRP export
	// (off while vrps is "").
	RPKI      rpki.Config     `yaml:"rpki"`
	Collector CollectorConfig `yaml:"collector"`
	RISLive   RISLiveConfig   `yaml:"ris_live"`
	Replay    ReplayConfig    `yaml:"replay"`
	Pipeline  PipelineConfig  `yaml:"pipeline"`
	Analyzer  AnalyzerConfig  `yaml:"analyzer"`
	API       api.Config      `yaml:"api"`
	Alert     alert.Config    `yaml:"alert"`
	// BMP is the BMP station (bmpstation), off by default.
	BMP bmpstation.Config `yaml:"bmp"`
	// Demo feeds a bundled synthetic scenario (a regional path shift and
	// its restoration) into the running service at startup, so a first
	// run shows an event in the API and on the console, even offline.
	Demo bool `yaml:"demo"`
	// ShutdownTimeout bounds a clean shutdown (default 10s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// AnalyzerConfig is the analyzer's thresholds and how the engine
// checkpoints its state (checkpoint_interval, checkpoint_max_age).
type AnalyzerConfig struct {
	analyzer.Config           `yaml:",inline"`
	pipeline.CheckpointConfig `yaml:",inline"`
}

// LogConfig selects slog's handler.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// StoreConfig picks the backend.
type StoreConfig struct {
	// Backend is memory (default, embedded) or redis. Setting REDIS_URL
	// in the environment selects redis.
	Backend string             `yaml:"backend"`
	Memory  store.MemoryConfig `yaml:"memory"`
	Redis   store.RedisConfig  `yaml:"redis"`
}

// CollectorConfig enables the embedded BGP speaker.
type CollectorConfig struct {
	// Enabled defaults to true.
	Enabled          *bool `yaml:"enabled"`
	collector.Config `yaml:",inline"`
}

// ReplayConfig lists MRT files or URLs replayed through the engine at
// startup, e.g. a RIS RIB to warm state before live updates.
type ReplayConfig struct {
	Files []string `yaml:"files"`
}

// PipelineConfig splits the service into processes that share Redis:
//
//	all        one process does everything (default)
//	collector  BGP sessions, startup replay and tagging; watched updates
//	           are published to the Redis Stream
//	analyzer   consumes the stream (consumer group "analyzer"), detects
//	           events, writes them and sends alerts; one active instance
//	           per group: a replacement with the same consumer name
//	           re-reads what was pending, and a dead consumer's entries
//	           are claimed (XAUTOCLAIM) by a live one
//	writer     consumes the stream in its own group ("store") and writes
//	           route state; run as many as the write load needs
type PipelineConfig struct {
	Role     string               `yaml:"role"`
	Consumer store.ConsumerConfig `yaml:"consumer"`
	// WriteRoutes: in role analyzer, also write route state (default
	// true); set false when writer instances do it.
	WriteRoutes *bool `yaml:"write_routes"`
}

// Pipeline roles.
const (
	RoleAll       = "all"
	RoleCollector = "collector"
	RoleAnalyzer  = "analyzer"
	RoleWriter    = "writer"
)

// Defaults for a fresh machine with nothing else installed.
const (
	DefaultAPIListen = "127.0.0.1:8080"
	DefaultBGPPort   = 1179
	DefaultLocalASN  = 64512
)

// Default returns the configuration used without a file: embedded store,
// API on 127.0.0.1:8080, BGP listener on 127.0.0.1 port 1179 accepting any
// ASN from 127.0.0.0/8, provider ranges from the official URLs.
func Default() Config {
	c := Config{Analyzer: AnalyzerConfig{Config: analyzer.DefaultConfig()}, API: api.DefaultConfig(), Alert: alert.DefaultConfig()}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Store.Backend == "" {
		c.Store.Backend = "memory"
	}
	if c.Pipeline.Role == "" {
		c.Pipeline.Role = RoleAll
	}
	if c.Pipeline.Consumer.Group == "" {
		switch c.Pipeline.Role {
		case RoleAnalyzer:
			c.Pipeline.Consumer.Group = "analyzer"
		case RoleWriter:
			c.Pipeline.Consumer.Group = "store"
		}
	}
	if c.Pipeline.WriteRoutes == nil {
		t := true
		c.Pipeline.WriteRoutes = &t
	}
	if c.Collector.Enabled == nil {
		t := true
		c.Collector.Enabled = &t
	}
	cc := &c.Collector.Config
	if cc.ASN == 0 {
		cc.ASN = DefaultLocalASN
	}
	if cc.RouterID == "" {
		cc.RouterID = "127.0.0.1"
	}
	if cc.Port == 0 {
		cc.Port = DefaultBGPPort
	}
	if len(cc.ListenAddresses) == 0 {
		// Loopback whatever the port: other addresses must be listed.
		cc.ListenAddresses = []string{"127.0.0.1"}
	}
	if len(cc.Neighbors) == 0 && len(cc.DynamicNeighbors) == 0 {
		cc.DynamicNeighbors = []collector.DynamicNeighbor{{Prefix: "127.0.0.0/8"}}
	}
	c.RISLive.applyDefaults()
	if c.API.Listen == "" {
		c.API.Listen = DefaultAPIListen
	}
	if c.Analyzer.CheckpointInterval == 0 {
		c.Analyzer.CheckpointInterval = pipeline.DefaultCheckpointInterval
	}
	if c.Analyzer.CheckpointMaxAge == 0 {
		c.Analyzer.CheckpointMaxAge = pipeline.DefaultCheckpointMaxAge
	}
	if c.Analyzer.ResyncWindow == 0 {
		c.Analyzer.ResyncWindow = pipeline.DefaultResyncWindow
	}
	if c.RPKI.Refresh == 0 {
		c.RPKI.Refresh = rpki.DefaultRefresh
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
}

// Parse decodes and validates a YAML config strictly, then applies
// environment overrides (getenv may be nil). Problems are reported all at
// once as a *ConfigError naming YAML keys and lines.
func Parse(r io.Reader, getenv func(string) string) (Config, error) {
	var c Config
	// Analyzer thresholds start from the documented defaults; the file
	// overrides single keys.
	c.Analyzer.Config = analyzer.DefaultConfig()
	c.API = api.DefaultConfig()
	c.Alert = alert.DefaultConfig()
	lines := keyLines{}
	dec := yaml.NewDecoder(r)
	var root yaml.Node
	switch err := dec.Decode(&root); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return Config{}, &ConfigError{Problems: decodeProblems(err, lines)}
	default:
		// A second document is almost certainly a mistake.
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			return Config{}, &ConfigError{Problems: []Problem{{Line: extra.Line, Message: "more than one YAML document"}}}
		}
		var probs []Problem
		checkNode(&root, reflect.TypeFor[Config](), "", lines, &probs)
		if len(probs) > 0 {
			sortProblems(probs)
			return Config{}, &ConfigError{Problems: probs}
		}
		if err := root.Decode(&c); err != nil {
			return Config{}, &ConfigError{Problems: decodeProblems(err, lines)}
		}
	}
	c.applyEnv(getenv)
	c.applyDefaults()
	if probs := c.problems(lines); len(probs) > 0 {
		return Config{}, &ConfigError{Problems: probs}
	}
	return c, nil
}

// LoadFile reads a config file; an empty path gives Default() with
// environment overrides.
func LoadFile(path string, getenv func(string) string) (Config, error) {
	if path == "" {
		return Parse(bytes.NewReader(nil), getenv)
	}
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("service: open config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f, getenv)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// applyEnv puts secrets from the environment over the file:
//
//	REDIS_URL                      store.redis.url (and selects redis)
//	ROUTEWATCH_API_TOKENS          name:scope:token,... replaces api.tokens
//	ROUTEWATCH_WEBHOOK_<SINK>_URL  alert sink URL (SINK = name upper-cased, - → _)
//	ROUTEWATCH_WEBHOOK_<SINK>_SECRET generic sink signing secret
func (c *Config) applyEnv(getenv func(string) string) {
	if getenv == nil {
		return
	}
	if u := getenv("REDIS_URL"); u != "" {
		c.Store.Redis.URL = u
		if c.Store.Backend == "" {
			c.Store.Backend = "redis"
		}
	}
	if l := getenv("ROUTEWATCH_API_LISTEN"); l != "" {
		c.API.Listen = l
	}
	if t := getenv("ROUTEWATCH_API_TOKENS"); t != "" {
		c.API.Tokens = nil
		for _, item := range strings.Split(t, ",") {
			parts := strings.SplitN(strings.TrimSpace(item), ":", 3)
			if len(parts) != 3 {
				// Validate reports it: keep a recognisably broken entry.
				c.API.Tokens = append(c.API.Tokens, api.Token{Name: "ROUTEWATCH_API_TOKENS"})
				continue
			}
			c.API.Tokens = append(c.API.Tokens, api.Token{Name: parts[0], Scope: api.Scope(parts[1]), Token: parts[2]})
		}
	}
	for i := range c.Alert.Sinks {
		key := "ROUTEWATCH_WEBHOOK_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(c.Alert.Sinks[i].Name))
		if u := getenv(key + "_URL"); u != "" {
			c.Alert.Sinks[i].URL = u
		}
		if s := getenv(key + "_SECRET"); s != "" {
			c.Alert.Sinks[i].Secret = s
		}
	}
}

// Validate checks every section and reports all problems at once (a
// *ConfigError).
func (c *Config) Validate() error {
	if probs := c.problems(nil); len(probs) > 0 {
		return &ConfigError{Problems: probs}
	}
	return nil
}

// problems validates every section; lines (may be nil) gives the line of
// each key in the file.
func (c *Config) problems(lines keyLines) []Problem {
	var errs []error
	var sections []sectionErr
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if c.RPKI.Refresh < 0 {
		errs = append(errs, fmt.Errorf("rpki.refresh: %s is negative", c.RPKI.Refresh))
	}
	switch c.Store.Backend {
	case "memory":
	case "redis":
		if c.Store.Redis.URL == "" {
			errs = append(errs, errors.New("store.redis.url: required with backend redis (or set REDIS_URL)"))
		}
	default:
		errs = append(errs, fmt.Errorf("store.backend: %q is not memory or redis", c.Store.Backend))
	}
	switch c.Pipeline.Role {
	case RoleAll:
	case RoleCollector, RoleAnalyzer, RoleWriter:
		if c.Store.Backend != "redis" {
			errs = append(errs, fmt.Errorf("pipeline.role: %s needs store.backend redis (the stream lives there)", c.Pipeline.Role))
		}
		if c.Pipeline.Role == RoleCollector && !*c.Collector.Enabled && !c.RISLive.Enabled && !c.BMP.Enabled && len(c.Replay.Files) == 0 && !c.Demo {
			errs = append(errs, errors.New("pipeline.role: collector with the collector and ris_live disabled, no replay files and no demo has nothing to publish"))
		}
	default:
		errs = append(errs, fmt.Errorf("pipeline.role: %q is not all, collector, analyzer or writer", c.Pipeline.Role))
	}
	if *c.Collector.Enabled && (c.Pipeline.Role == RoleAll || c.Pipeline.Role == RoleCollector) {
		var ve *collector.ValidationError
		if err := c.Collector.Config.Validate(); errors.As(err, &ve) {
			for _, p := range ve.Problems {
				sections = append(sections, sectionErr{"collector", errors.New(p)})
			}
		} else if err != nil {
			sections = append(sections, sectionErr{"collector", err})
		}
	}
	if err := c.RISLive.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.BMP.Enabled {
		if err := c.BMP.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for i, f := range c.Replay.Files {
		if strings.TrimSpace(f) == "" {
			errs = append(errs, fmt.Errorf("replay.files[%d]: empty", i))
		}
	}
	for i, s := range c.Ranges.Specs {
		if _, err := ranges.ParseSpec(s); err != nil {
			errs = append(errs, fmt.Errorf("ranges.specs[%d]: %w", i, err))
		}
	}
	if c.Ranges.Refresh < 0 {
		errs = append(errs, errors.New("ranges.refresh: must not be negative"))
	}
	for _, sec := range []sectionErr{{"analyzer", c.Analyzer.Validate()}, {"api", c.API.Validate()}, {"alert", c.Alert.Validate()}} {
		if sec.err != nil {
			sections = append(sections, sec)
		}
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("shutdown_timeout: must not be negative"))
	}
	var out []Problem
	if len(errs) > 0 {
		out = append(out, problemsOf(errors.Join(errs...), "", lines)...)
	}
	for _, sec := range sections {
		out = append(out, problemsOf(sec.err, sec.name, lines)...)
	}
	sortProblems(out)
	return out
}

type sectionErr struct {
	name string
	err  error
}
