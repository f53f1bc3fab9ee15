package rislive

import (
	"errors"
	"math/rand/v2"
	"time"
)

// Why a connection ended; the label of routewatch_rislive_reconnects_total.
var (
	errNoPong  = errors.New("no pong within 3 ping intervals")
	errSilence = errors.New("no ris_message within silence_timeout (dead feed)")
)

// watchdog decides, from the times of the last pong and the last
// ris_message, whether a connection is dead. It is pure: the caller passes
// the clock.
type watchdog struct {
	pingInterval time.Duration
	silence      time.Duration
	connected    time.Time
}

// check returns errNoPong, errSilence or nil. lastPong and lastMessage
// are zero when none arrived yet on this connection: the connect time
// stands in for them.
func (w watchdog) check(now, lastPong, lastMessage time.Time) error {
	if lastPong.Before(w.connected) {
		lastPong = w.connected
	}
	if lastMessage.Before(w.connected) {
		lastMessage = w.connected
	}
	if now.Sub(lastPong) > 3*w.pingInterval {
		return errNoPong
	}
	if w.silence > 0 && now.Sub(lastMessage) > w.silence {
		return errSilence
	}
	return nil
}

// backoff is the wait before redial attempt n (0-based): exponential from
// min, capped at max, with full jitter in [d/2, d] so that many clients
// cut off at once do not come back at once. r is in [0, 1).
func backoff(n int, minWait, maxWait time.Duration, r float64) time.Duration {
	d := minWait
	for i := 0; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + time.Duration(r*float64(d/2))
}

func jitter() float64 { return rand.Float64() }
