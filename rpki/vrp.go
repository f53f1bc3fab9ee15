// Package rpki does route origin validation (RFC 6811) against Validated
// ROA Payloads exported by a relying-party validator: rpki-client's `-j`
// JSON and Routinator's `json`/`jsonext` ({"roas":[{"prefix","maxLength",
// "asn"}]}, ASNs as numbers or "AS…" strings). A Refresher keeps the table
// fresh from a file or URL like the provider ranges.
package rpki

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// VRP is one Validated ROA Payload: origin ASN may announce Prefix and its
// more-specifics up to MaxLength bits.
type VRP struct {
	Prefix    netip.Prefix
	MaxLength int
	ASN       uint32
}

// ParseError is a VRP file that could not be used; Entry is the index of
// the offending entry in "roas" (-1 when the document itself is bad).
type ParseError struct {
	Entry  int
	Prefix string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Entry < 0 {
		return fmt.Sprintf("rpki: parse VRPs: %v", e.Err)
	}
	return fmt.Sprintf("rpki: parse VRPs: roas[%d] (prefix %q): %v", e.Entry, e.Prefix, e.Err)
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

type rawROA struct {
	Prefix    string          `json:"prefix"`
	MaxLength json.RawMessage `json:"maxLength"`
	ASN       json.RawMessage `json:"asn"`
}

// Parse reads a validator's JSON export. A malformed entry fails the whole
// file: a partial table would turn valid routes invalid.
func Parse(data []byte) ([]VRP, error) {
	var doc struct {
		ROAs *[]rawROA `json:"roas"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, &ParseError{Entry: -1, Err: fmt.Errorf("not JSON: %w", err)}
	}
	if doc.ROAs == nil {
		return nil, &ParseError{Entry: -1, Err: errors.New(`no "roas" array (want rpki-client -j or Routinator json/jsonext output)`)}
	}
	out := make([]VRP, 0, len(*doc.ROAs))
	for i, r := range *doc.ROAs {
		v, err := r.vrp()
		if err != nil {
			return nil, &ParseError{Entry: i, Prefix: r.Prefix, Err: err}
		}
		out = append(out, v)
	}
	return out, nil
}

func (r rawROA) vrp() (VRP, error) {
	p, err := netip.ParsePrefix(r.Prefix)
	if err != nil {
		return VRP{}, fmt.Errorf("bad prefix: %w", err)
	}
	if p != p.Masked() {
		return VRP{}, fmt.Errorf("prefix has host bits set (want %s)", p.Masked())
	}
	asn, err := parseASN(r.ASN)
	if err != nil {
		return VRP{}, err
	}
	maxLen := p.Bits()
	if len(r.MaxLength) > 0 && !bytes.Equal(r.MaxLength, []byte("null")) {
		if err := json.Unmarshal(r.MaxLength, &maxLen); err != nil {
			return VRP{}, fmt.Errorf("maxLength %s is not a whole number", r.MaxLength)
		}
	}
	if maxLen < p.Bits() || maxLen > p.Addr().BitLen() {
		return VRP{}, fmt.Errorf("maxLength %d outside %d..%d", maxLen, p.Bits(), p.Addr().BitLen())
	}
	return VRP{Prefix: p, MaxLength: maxLen, ASN: asn}, nil
}

// parseASN takes 13335, "13335" or "AS13335".
func parseASN(raw json.RawMessage) (uint32, error) {
	if len(raw) == 0 {
		return 0, errors.New("no asn")
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("bad asn %s", raw)
		}
		if len(s) > 2 && strings.EqualFold(s[:2], "AS") {
			s = s[2:]
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad asn %s", raw)
	}
	return uint32(n), nil
}
