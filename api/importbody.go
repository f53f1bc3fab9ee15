package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	"routewatch/route"
)

// Content types POST /api/v1/events accepts: a JSON array of events, or
// one event per line (what `routewatch replay --format json` prints).
const (
	mimeNDJSON = "application/x-ndjson"
	mimeJSONL  = "application/jsonl"
)

// readBody reads a request body, mapping client faults to 4xx: a body not
// received within the server's read timeout is 408, a malformed (e.g. bad
// chunked encoding) or cut-short body is 400. A body over the limit stays
// an *http.MaxBytesError (413).
func readBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(r)
	if err == nil {
		return body, nil
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return nil, err
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return nil, &Error{Status: http.StatusRequestTimeout, Message: "request body not received in time", Parameter: "body"}
	}
	return nil, &Error{Status: http.StatusBadRequest, Message: "request body malformed or cut short", Parameter: "body"}
}

// decodeEvents decodes a JSON array of events or a stream of event
// objects (NDJSON), strictly: unknown fields are errors. Messages name the
// event by index and the field by its JSON name.
func decodeEvents(body []byte) ([]route.Event, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, badParam("body", "no events: give a JSON array or one event object per line")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	array := trimmed[0] == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return nil, badParam("body", "%s", describeJSONError(err))
		}
	}
	var evs []route.Event
	for dec.More() {
		if len(evs) == maxImport {
			return nil, badParam("body", "more than %d events: split the import", maxImport)
		}
		var e route.Event
		if err := dec.Decode(&e); err != nil {
			return nil, badParam("body", "events[%d]: %s", len(evs), describeJSONError(err))
		}
		evs = append(evs, e)
	}
	if array {
		if _, err := dec.Token(); err != nil {
			return nil, badParam("body", "after events[%d]: %s", len(evs), describeJSONError(err))
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		what := "trailing data after the events"
		if array {
			what = "trailing data after the JSON array"
		}
		return nil, badParam("body", "%s", what)
	}
	return evs, nil
}

// describeJSONError turns encoding/json's errors into messages that name
// JSON kinds and field names, not Go types.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		got := te.Value
		if got == "" {
			got = "something else"
		}
		if te.Field == "" {
			return fmt.Sprintf("want %s, got %s", jsonKind(te.Type), got)
		}
		return fmt.Sprintf("%s: want %s, got %s", te.Field, jsonKind(te.Type), got)
	case errors.As(err, &pe):
		return fmt.Sprintf("%q is not an RFC 3339 time (e.g. 2021-12-15T15:14:03Z)", pe.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "JSON cut short"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	switch {
	case strings.HasPrefix(msg, "netip.ParsePrefix"):
		return "not a prefix (e.g. 192.0.2.0/24)"
	case strings.HasPrefix(msg, "netip.ParseAddr"), strings.HasPrefix(msg, "ParseAddr"):
		return "not an IP address"
	case strings.HasPrefix(msg, "unknown field"):
		return msg
	}
	return "invalid value"
}

// jsonKind names the JSON value a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another value"
}
