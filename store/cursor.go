package store

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// One cursor scheme for every listing. A cursor is opaque to callers: the
// listing's kind plus the position to resume at, base64url. A cursor of
// one listing is refused by another (ErrBadCursor), and both backends
// produce and accept the same cursors.
type cursorKind string

// Listings and what their position is.
const (
	cursorRoutes  cursorKind = "r1" // RoutesPage: the last prefix returned (netip.Prefix text)
	cursorHistory cursorKind = "h1" // History: the sequence number to continue below
	cursorASN     cursorKind = "a1" // PrefixesByASN: the last prefix key (prefixKey)
	cursorEvents  cursorKind = "e1" // Events: the last event member (eventMember)
	cursorGroup   cursorKind = "g1" // GroupPrefixes: the last prefix key (prefixKey)
)

// next is the cursor that resumes a listing of this kind at pos.
func (k cursorKind) next(pos string) string { return encodeCursor(string(k), pos) }

// parse returns the position in c ("" for the first page, c == ""), or
// ErrBadCursor when c is not a cursor of this listing or valid refuses
// its position.
func (k cursorKind) parse(c string, valid func(pos string) bool) (string, error) {
	if c == "" {
		return "", nil
	}
	pos, err := decodeCursor(string(k), c)
	if err != nil {
		return "", err
	}
	if !valid(pos) {
		return "", ErrBadCursor
	}
	return pos, nil
}

func encodeCursor(kind, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + pos))
}

func decodeCursor(kind, c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	pos, ok := strings.CutPrefix(string(b), kind+":")
	if !ok || pos == "" {
		return "", ErrBadCursor
	}
	return pos, nil
}

// Position checks for parse.
func validPrefixKey(pos string) bool { _, err := parsePrefixKey(pos); return err == nil }

func validSeq(pos string) bool {
	n, err := strconv.ParseUint(pos, 10, 64)
	return err == nil && n > 0
}

// parseHistoryCursor returns the sequence number a History page continues
// below (0: from the newest).
func parseHistoryCursor(c string) (uint64, error) {
	pos, err := cursorHistory.parse(c, validSeq)
	if err != nil || pos == "" {
		return 0, err
	}
	n, _ := strconv.ParseUint(pos, 10, 64)
	return n, nil
}
