package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"routewatch/route"
	"routewatch/store"
)

// Error is the JSON body of every error response. Parameter names the
// offending path or query parameter when the request was malformed.
type Error struct {
	Status    int    `json:"-"`
	Message   string `json:"error"`
	Parameter string `json:"parameter,omitempty"`
	// Err is the cause, logged for 5xx and never sent to the client.
	Err error `json:"-"`
}

func (e *Error) Error() string {
	if e.Parameter != "" {
		return fmt.Sprintf("api: %d %s: %s", e.Status, e.Parameter, e.Message)
	}
	return fmt.Sprintf("api: %d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

func badParam(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Parameter: param}
}

// Limits of accepted input: anything longer is certainly garbage and is
// refused before it reaches the store.
const (
	maxCursorLen = 512
	maxIDLen     = 128
	maxNameLen   = 64
)

// parsePrefix validates and canonicalises a prefix: host bits are cleared
// (1.2.3.4/24 becomes 1.2.3.0/24, the response's "prefix" says so) and an
// IPv4-mapped IPv6 address is refused rather than guessed at.
func parsePrefix(param, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, badParam(param, "missing prefix, expected e.g. 192.0.2.0/24 or 2001:db8::/32")
	}
	if len(s) > 64 {
		return netip.Prefix{}, badParam(param, "prefix too long")
	}
	if !strings.Contains(s, "/") {
		return netip.Prefix{}, badParam(param, "%q has no prefix length, expected e.g. 192.0.2.0/24", s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		addr, bits, _ := strings.Cut(s, "/")
		if a, aerr := netip.ParseAddr(addr); aerr == nil && a.Zone() == "" {
			if n, nerr := strconv.Atoi(bits); nerr == nil && (n < 0 || n > a.BitLen()) {
				return netip.Prefix{}, badParam(param, "prefix length /%s out of range 0-%d for %s", bits, a.BitLen(), a)
			}
		}
		return netip.Prefix{}, badParam(param, "%q is not a valid prefix, expected e.g. 192.0.2.0/24 or 2001:db8::/32", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, badParam(param, "%q is an IPv4-mapped IPv6 prefix; use the IPv4 form", s)
	}
	return p.Masked(), nil
}

// parseASN accepts a plain decimal ASN 0..4294967295. "AS13335" and asdot
// are refused with a hint rather than silently reinterpreted.
func parseASN(param, s string) (uint32, error) {
	if s == "" {
		return 0, badParam(param, "missing ASN")
	}
	if len(s) > 2 && strings.EqualFold(s[:2], "AS") {
		return 0, badParam(param, "%q: give the ASN as a plain number (e.g. %s)", truncate(s), truncate(s[2:]))
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, badParam(param, "%q is not a decimal ASN (asdot and signs are not accepted)", truncate(s))
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, badParam(param, "ASN %s out of range 0-4294967295", truncate(s))
	}
	return uint32(n), nil
}

// parsePage reads limit and cursor.
func parsePage(q url.Values) (store.Page, error) {
	var pg store.Page
	if v, ok := single(q, "limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return pg, badParam("limit", "%q is not a positive integer", truncate(v))
		}
		if n > store.MaxLimit {
			return pg, badParam("limit", "%d exceeds the maximum page size %d", n, store.MaxLimit)
		}
		pg.Limit = n
	} else {
		pg.Limit = store.DefaultLimit
	}
	if v, ok := single(q, "cursor"); ok {
		if v == "" || len(v) > maxCursorLen {
			return pg, badParam("cursor", "invalid cursor")
		}
		pg.Cursor = v
	}
	return pg, nil
}

// parseTime accepts RFC 3339 timestamps, years 0000-9999. Times before
// 1970 (nothing routewatch stores is older) read as the Unix epoch, so
// stores never see times they cannot represent; before reports it.
func parseTime(param, v string) (t time.Time, before bool, err error) {
	t, err = time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, badParam(param, "%q is not an RFC 3339 time, expected e.g. 2021-12-15T15:14:03Z", truncate(v))
	}
	if t.Before(epoch) {
		return epoch, true, nil
	}
	return t.UTC(), false, nil
}

var epoch = time.Unix(0, 0).UTC()

// single returns the one value of a query parameter; repeating a
// parameter is ambiguous and is rejected by checkQuery beforehand.
func single(q url.Values, name string) (string, bool) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// checkQuery refuses unknown and repeated parameters so a typo
// (?provder=aws) does not silently return everything.
func checkQuery(q url.Values, allowed ...string) error {
	for k, vs := range q {
		known := false
		for _, a := range allowed {
			if k == a {
				known = true
				break
			}
		}
		if !known {
			if k == "" {
				return badParam("query", "query parameter without a name")
			}
			return badParam(truncate(k), "unknown query parameter")
		}
		if len(vs) > 1 {
			return badParam(k, "given more than once")
		}
	}
	return nil
}

var eventKinds = []route.EventKind{
	route.KindPathShift, route.KindWithdrawal, route.KindPeerDown, route.KindOriginChange,
	route.KindMoreSpecific, route.KindPrependChange, route.KindCommunityChange,
}

func parseKind(v string) (route.EventKind, error) {
	for _, k := range eventKinds {
		if string(k) == v {
			return k, nil
		}
	}
	names := make([]string, len(eventKinds))
	for i, k := range eventKinds {
		names[i] = string(k)
	}
	return "", badParam("kind", "%q is not one of %s", truncate(v), strings.Join(names, ", "))
}

func parseStatus(v string) (store.Status, error) {
	switch v {
	case "", "any":
		return store.StatusAny, nil
	case "open":
		return store.StatusOpen, nil
	case "resolved":
		return store.StatusResolved, nil
	}
	return 0, badParam("status", "%q is not open, resolved or any", truncate(v))
}

func parseMatch(v string) (store.Match, error) {
	switch v {
	case "", "exact":
		return store.MatchExact, nil
	case "covering":
		return store.MatchCovering, nil
	case "covered":
		return store.MatchCovered, nil
	}
	return 0, badParam("match", "%q is not exact, covering or covered", truncate(v))
}

// validName checks provider and region names: short, printable, no
// separators.
func validName(param, v string, allowEmpty bool) error {
	if v == "" {
		if allowEmpty {
			return nil
		}
		return badParam(param, "empty")
	}
	if len(v) > maxNameLen {
		return badParam(param, "longer than %d characters", maxNameLen)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return badParam(param, "%q contains characters other than letters, digits, '-', '_' and '.'", truncate(v))
		}
	}
	return nil
}

// validID checks an event ID: IDs are generated by the analyzer from
// kind/group/start and contain only URL-safe characters.
func validID(v string) error {
	if v == "" || len(v) > maxIDLen {
		return badParam("id", "event id must be 1-%d characters", maxIDLen)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:~", r)) {
			return badParam("id", "%q contains characters not used in event ids", truncate(v))
		}
	}
	return nil
}

// truncate keeps echoed input short in error messages.
func truncate(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// Cursors of listings the API paginates itself (the store returns them
// whole): the sort key of the last item, base64url-encoded with a kind
// prefix so a cursor of one listing is refused by another.
func encodeCursor(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + key))
}

func decodeCursor(kind, c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", badParam("cursor", "invalid cursor")
	}
	key, ok := strings.CutPrefix(string(b), kind+":")
	if !ok {
		// Not one of ours, or one of another listing's: either way not
		// a cursor this listing can continue from.
		return "", badParam("cursor", "invalid cursor")
	}
	return key, nil
}
