package store

import (
	"time"
)

// RedisConfig configures the Redis backend.
type RedisConfig struct {
	// URL: redis://[user:password@]host:port/db or rediss:// for TLS.
	// With Cluster set, a cluster URL: redis://host1:port?addr=host2:port.
	URL     string `yaml:"url"`
	Cluster bool   `yaml:"cluster"`
	// KeyPrefix starts every key (default "rw"), so several deployments or
	// test runs can share one server.
	KeyPrefix string `yaml:"key_prefix"`
	// Stream is the update stream's name (under KeyPrefix, default "updates").
	Stream string `yaml:"stream"`
	// StreamMaxLen trims the stream approximately (entries = batches).
	StreamMaxLen int64 `yaml:"stream_max_len"`
	// ChunkSize is the number of updates per pipeline round trip.
	ChunkSize int `yaml:"chunk_size"`
	// GapCheck is how often Run verifies that Redis kept its data.
	GapCheck time.Duration `yaml:"gap_check"`
	// SummaryTTL is how long provider/region summaries (Groups, Group)
	// are reused: computing them reads every watched prefix. They lag
	// writes (this process's too) by up to the TTL. Default 2s; negative
	// reads through (exact, as Memory).
	SummaryTTL time.Duration `yaml:"summary_ttl"`
	// RouteCache is how many prefixes' decoded routes a reader keeps
	// (least recently used go first). A lookup asks Redis whether the
	// prefix changed, and an unchanged one answers with its version token
	// instead of every path and is not decoded again. While Run keeps the
	// change-notice subscription (invalidate.go), an exact lookup that no
	// notice voided needs no round trip at all; another process's write
	// then shows after its notice arrives (milliseconds; at most 30 s if
	// notices are lost unnoticed). Default 16384; negative: off.
	RouteCache int `yaml:"route_cache"`
	Retention  `yaml:",inline"`
}

func (c RedisConfig) withDefaults() RedisConfig {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "rw"
	}
	if c.Stream == "" {
		c.Stream = "updates"
	}
	if c.StreamMaxLen <= 0 {
		c.StreamMaxLen = 100000
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 2000
	}
	if c.GapCheck <= 0 {
		c.GapCheck = 5 * time.Second
	}
	if c.RouteCache == 0 {
		c.RouteCache = 16384
	}
	if c.SummaryTTL == 0 {
		c.SummaryTTL = 2 * time.Second
	}
	c.Retention = c.Retention.withDefaults()
	return c
}
