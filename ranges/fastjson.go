package ranges

import (
	"bytes"
	"strings"
)

// A fast path for AWS ip-ranges files (the big ones: 2–3 MB, ~10^4–10^5
// entries), which encoding/json decoded twice (the format probe, then the
// file) through reflection. jscan is a strict scanner of plain JSON
// that accepts only a subset of what encoding/json accepts: strings
// of the fields it reads must be printable ASCII without escapes, field
// names must match exactly (encoding/json also matches them
// case-insensitively), and known keys appear once with the expected
// types. Anything else makes the fast path give up (ok false), and Parse
// takes the encoding/json path, whose results and errors are the
// reference; on what it accepts, the fast path yields the same entries
// and the same entry errors.

type jscan struct {
	d []byte
	i int
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *jscan) ws() {
	for s.i < len(s.d) && isJSONSpace(s.d[s.i]) {
		s.i++
	}
}

// peek returns the next non-space byte (0 at the end).
func (s *jscan) peek() byte {
	s.ws()
	if s.i < len(s.d) {
		return s.d[s.i]
	}
	return 0
}

// eat consumes c if it is the next non-space byte.
func (s *jscan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// plainString reads a string of printable ASCII without escapes.
func (s *jscan) plainString() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.d) {
		c := s.d[s.i]
		switch {
		case c == '"':
			s.i++
			return s.d[start : s.i-1], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// skipString skips any valid JSON string.
func (s *jscan) skipString() bool {
	if !s.eat('"') {
		return false
	}
	for s.i < len(s.d) {
		c := s.d[s.i]
		s.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i >= len(s.d) {
				return false
			}
			e := s.d[s.i]
			s.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if s.i+4 > len(s.d) {
					return false
				}
				for _, h := range s.d[s.i : s.i+4] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool   { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (s *jscan) digits() bool {
	start := s.i
	for s.i < len(s.d) && isDigit(s.d[s.i]) {
		s.i++
	}
	return s.i > start
}

// skipNumber skips a number of JSON's grammar.
func (s *jscan) skipNumber() bool {
	if s.i < len(s.d) && s.d[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.d) && s.d[s.i] == '0' {
		s.i++
	} else if !s.digits() {
		return false
	}
	if s.i < len(s.d) && s.d[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(s.d) && (s.d[s.i] == 'e' || s.d[s.i] == 'E') {
		s.i++
		if s.i < len(s.d) && (s.d[s.i] == '+' || s.d[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// skip skips any JSON value (depth-limited).
func (s *jscan) skip(depth int) bool {
	if depth > 100 {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		return s.skipString()
	case c == '{':
		s.i++
		if s.eat('}') {
			return true
		}
		for {
			if !s.skipString() || !s.eat(':') || !s.skip(depth+1) {
				return false
			}
			if s.eat('}') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		if s.eat(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if s.eat(']') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == '-' || isDigit(c):
		return s.skipNumber()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(s.d[s.i:], []byte(lit)) {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// object reads an object whose keys are plain strings, calling field for
// each key with the scanner at its value; field must consume the value.
func (s *jscan) object(field func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	for {
		k, ok := s.plainString()
		if !ok || !s.eat(':') || !field(k) {
			return false
		}
		if s.eat('}') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// array calls elem for each element, with the scanner at it.
func (s *jscan) array(elem func(i int) bool) bool {
	if !s.eat('[') {
		return false
	}
	if s.eat(']') {
		return true
	}
	for i := 0; ; i++ {
		if !elem(i) {
			return false
		}
		if s.eat(']') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// foldsTo reports whether key matches one of names case-insensitively
// but not exactly (encoding/json would take it; the fast path gives up).
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if len(key) == len(n) && string(key) != n && strings.EqualFold(string(key), n) {
			return true
		}
	}
	return false
}

// probeKeys are the top-level keys parseJSON's probe looks at.
var probeKeys = []string{"prefixes", "ipv6_prefixes", "createDate", "creationTime", "values", "regions"}

// awsTop finds the spans of an AWS file's two lists; ok false when the
// document is not one the fast path takes.
func awsTop(data []byte) (v4, v6 []byte, ok bool) {
	s := jscan{d: data}
	seen := map[string]bool{}
	var createDate bool
	ok = s.object(func(k []byte) bool {
		if foldsTo(k, probeKeys...) || seen[string(k)] {
			return false
		}
		start := s.peek()
		from := s.i
		switch string(k) {
		case "prefixes", "ipv6_prefixes":
			if start != '[' {
				return false
			}
		case "createDate":
			if start != '"' {
				return false
			}
			createDate = true
		case "creationTime", "values", "regions":
			return false // another format: the reference path decides
		}
		if !s.skip(0) {
			return false
		}
		switch string(k) {
		case "prefixes":
			v4 = data[from:s.i]
		case "ipv6_prefixes":
			v6 = data[from:s.i]
		}
		seen[string(k)] = true
		return true
	})
	s.ws()
	if !ok || s.i != len(data) || (v6 == nil && !createDate) {
		return nil, nil, false
	}
	return v4, v6, true
}

// awsFields are the fields of an AWS entry.
var awsFields = []string{"ip_prefix", "ipv6_prefix", "region", "service", "network_border_group"}

// parseAWSFast is parseAWS for the well-formed documents awsTop takes;
// ok false means the reference path must decide.
func (p *parser) parseAWSFast(data []byte) (out []Entry, ok bool) {
	v4, v6, ok := awsTop(data)
	if !ok {
		return nil, false
	}
	out = make([]Entry, 0, (len(v4)+len(v6))/100)
	for _, l := range []struct {
		list, key string
		span      []byte
		want6     bool
	}{{"prefixes", "ip_prefix", v4, false}, {"ipv6_prefixes", "ipv6_prefix", v6, true}} {
		if l.span == nil {
			continue
		}
		s := jscan{d: l.span}
		ok := s.array(func(i int) bool {
			var f [4][]byte // prefix, region, service, border group
			var got [4]bool
			if !s.object(func(k []byte) bool {
				j := -1
				switch string(k) {
				case l.key:
					j = 0
				case "region":
					j = 1
				case "service":
					j = 2
				case "network_border_group":
					j = 3
				}
				if j < 0 {
					return !foldsTo(k, awsFields...) && s.skip(0)
				}
				if got[j] {
					return false
				}
				got[j] = true
				v, ok := s.plainString()
				f[j] = v
				return ok
			}) {
				return false
			}
			return p.addAWS(&out, l.list, i, string(f[0]), p.internBytes(f[1]), p.internBytes(f[2]), p.internBytes(f[3]), l.want6) == nil
		})
		if !ok {
			// Malformed entries too: the reference path names the
			// first problem as it would without the fast path.
			return nil, false
		}
	}
	return out, true
}
