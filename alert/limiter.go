package alert

import (
	"sync"
	"time"
)

// bucket is a token bucket per sink. It never sleeps: take says when the
// next message may go, and the worker parks deliveries in the outbox until
// then, so a slow or throttled sink never holds the others up.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	// until is set from a receiver's Retry-After: nothing is sent before.
	until time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take consumes a token if one is available at now. Otherwise it returns
// the time the next token will be.
func (b *bucket) take(now time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.until) {
		return b.until, false
	}
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return time.Time{}, true
	}
	wait := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	return now.Add(wait), false
}

// pause stops sending until t (a receiver's Retry-After).
func (b *bucket) pause(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.until) {
		b.until = t
	}
	b.tokens = 0
}
