package alert

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// FuzzParseRetryAfter: any header or body gives a sane, non-negative delay
// or none, and never panics.
func FuzzParseRetryAfter(f *testing.F) {
	f.Add("30", []byte(nil))
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", []byte(nil))
	f.Add("", []byte(`{"retry_after": 1.5, "global": false}`))
	f.Add("1e400", []byte(`{"retry_after": -1}`))
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, h string, body []byte) {
		d, ok := parseRetryAfter(h, body, now)
		if ok && d < 0 {
			t.Fatalf("negative delay %v", d)
		}
		if !ok && d != 0 {
			t.Fatalf("delay %v without ok", d)
		}
	})
}

// FuzzPayload: whatever an outbox entry holds (corrupt, or written by
// another version), decoding either fails cleanly or every chat service
// gets a message it would accept.
func FuzzPayload(f *testing.F) {
	for _, ns := range renderCases() {
		b, err := encodeEnvelope(ns)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"notices":[{"change":"opened","event":{}}]}`))
	f.Add([]byte(`{"v":1,"notices":[{"change":"resolved","event":{"kind":"","end":"2021-01-01T00:00:00Z"}}],"parts":["x"]}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, _, err := decodeAny(b)
		if err != nil {
			return
		}
		for _, typ := range allTypes {
			out, err := render(typ, ns, "https://routewatch.example.net")
			if err != nil {
				continue // counted and dropped by the worker
			}
			if !json.Valid(out) {
				t.Fatalf("%s: invalid JSON", typ)
			}
			if typ == Generic {
				continue
			}
			if err := validate(typ, out, nil); err != nil {
				t.Fatalf("%s would reject: %v\n%s", typ, err, out)
			}
		}
	})
}

// FuzzVerify: arbitrary headers and bodies never panic the verifier and
// never verify without the right signature.
func FuzzVerify(f *testing.F) {
	f.Add(testSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Add("whsec_", "", "-1", "v1,", []byte{})
	f.Fuzz(func(t *testing.T, secret, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		now := time.Unix(1614265330, 0)
		if Verify(secret, h, body, now, 5*time.Minute) == nil {
			// Only a correct signature may pass: recompute independently.
			if err := verifyStandardWebhook(secret, h, body, now); err != nil {
				t.Fatalf("Verify accepted what the reference check rejects: %v", err)
			}
		}
	})
}
