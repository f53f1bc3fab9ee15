package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com/).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// sign returns the webhook-signature value for one message:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ErrSignature is wrapped by Verify's errors.
var ErrSignature = errors.New("alert: webhook signature")

// Verify checks a received generic webhook the way the Standard Webhooks
// reference libraries do: all three headers present, timestamp within
// tolerance of now, and one of the space-separated "v1,<sig>" entries
// matching (constant-time). Receivers written in Go can use it directly.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := parseSecret(secret)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	id, tsStr, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsStr == "" || sigs == "" {
		return fmt.Errorf("%w: missing headers", ErrSignature)
	}
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside tolerance", ErrSignature)
	}
	want := sign(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("%w: no matching signature", ErrSignature)
}
