package bmpstation

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/osrg/gobgp/v4/pkg/packet/bmp"
)

// This file frames and classifies BMP messages (RFC 7854 4.1): pure
// functions over bytes, no sockets. Bodies are decoded in body.go.

// BMP message types (RFC 7854 4.1).
const (
	typeRouteMonitoring = 0
	typeStatistics      = 1
	typePeerDown        = 2
	typePeerUp          = 3
	typeInitiation      = 4
	typeTermination     = 5
	typeRouteMirroring  = 6
	typeMax             = typeRouteMirroring
)

var typeNames = [...]string{"route_monitoring", "statistics_report", "peer_down", "peer_up", "initiation", "termination", "route_mirroring"}

const (
	headerLen     = 6
	peerHeaderLen = 42
	bmpVersion    = 3
	// MaxMessage is the largest BMP message accepted (1 MiB): a BGP
	// UPDATE is at most 64 KiB even with extended messages, so anything
	// bigger is a broken or hostile sender.
	MaxMessage = 1 << 20
)

// Reasons a router's connection is closed (the malformed metric's labels).
const (
	reasonBadVersion    = "bad_version"
	reasonBadLength     = "bad_length"
	reasonTooLong       = "too_long"
	reasonTruncated     = "truncated"
	reasonUnknownType   = "unknown_type"
	reasonBadPeerHeader = "bad_peer_header"
	reasonBadBGP        = "bad_bgp_pdu"
	reasonBadTLV        = "bad_tlv"
	reasonBadPeerUp     = "bad_peer_up"
)

var malformedReasons = []string{reasonBadVersion, reasonBadLength, reasonTooLong, reasonTruncated,
	reasonUnknownType, reasonBadPeerHeader, reasonBadBGP, reasonBadTLV, reasonBadPeerUp}

// DecodeError is malformed BMP input: the station counts it by Reason and
// closes that router's connection.
type DecodeError struct {
	// Offset is the stream offset of the message's first byte.
	Offset int64
	// Type is the BMP message type (-1 when the header was unreadable).
	Type   int
	Reason string
	Err    error
}

func (e *DecodeError) Error() string {
	t := "header"
	if e.Type >= 0 && e.Type <= typeMax {
		t = typeNames[e.Type]
	} else if e.Type > typeMax {
		t = fmt.Sprintf("type %d", e.Type)
	}
	return fmt.Sprintf("bmpstation: decode %s at offset %d: %s: %v", t, e.Offset, e.Reason, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

func malformed(typ int, reason string, format string, args ...any) *DecodeError {
	return &DecodeError{Type: typ, Reason: reason, Err: fmt.Errorf(format, args...)}
}

// readMessage reads one BMP message into buf (grown as needed) and returns
// it. io.EOF means the stream ended cleanly between messages; anything
// else malformed is a *DecodeError (Offset left to the caller).
func readMessage(r *bufio.Reader, buf []byte) ([]byte, error) {
	h, err := r.Peek(headerLen)
	if err != nil {
		if errors.Is(err, io.EOF) && len(h) == 0 {
			return nil, io.EOF
		}
		if errors.Is(err, io.EOF) {
			return nil, malformed(-1, reasonTruncated, "stream ended inside a message header")
		}
		return nil, err
	}
	length, err := checkHeader(h)
	if err != nil {
		return nil, err
	}
	if cap(buf) < length {
		buf = make([]byte, length)
	}
	buf = buf[:length]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, malformed(int(h[5]), reasonTruncated, "stream ended inside a %d-byte message", length)
		}
		return nil, err
	}
	return buf, nil
}

// checkHeader validates the common header and returns the message length.
func checkHeader(h []byte) (int, error) {
	if len(h) < headerLen {
		return 0, malformed(-1, reasonTruncated, "%d-byte header", len(h))
	}
	typ := int(h[5])
	if h[0] != bmpVersion {
		return 0, malformed(typ, reasonBadVersion, "version %d, want 3", h[0])
	}
	length := binary.BigEndian.Uint32(h[1:5])
	if length > MaxMessage {
		return 0, malformed(typ, reasonTooLong, "length %d over %d", length, MaxMessage)
	}
	if typ > typeMax {
		return 0, malformed(typ, reasonUnknownType, "unknown message type %d", typ)
	}
	min := uint32(headerLen)
	if typ != typeInitiation && typ != typeTermination {
		min += peerHeaderLen
	}
	if length < min {
		return 0, malformed(typ, reasonBadLength, "length %d below the %d-byte minimum", length, min)
	}
	return int(length), nil
}

// peerKey identifies a monitored peer within one BMP session (RFC 7854
// 4.2): a Loc-RIB instance (type 3) has no address.
type peerKey struct {
	typ  uint8
	rd   uint64
	addr netip.Addr
}

// peerHeader is the decoded per-peer header with the flags read the way
// the peer type defines them (RFC 9069 reuses 0x80 as F for type 3).
type peerHeader struct {
	key      peerKey
	asn      uint32
	bgpID    netip.Addr
	v6       bool // V: IPv6 peer address (types 0–2)
	post     bool // L: post-policy (types 0–2)
	twoByte  bool // A: legacy 2-byte AS_PATH (types 0–2)
	out      bool // O: Adj-RIB-Out (RFC 8671, types 0–2)
	filtered bool // F: filtered Loc-RIB (RFC 9069, type 3)
}

// Per-peer header flags.
const (
	flagV = 0x80
	flagL = 0x40
	flagA = 0x20
	flagO = 0x10
	flagF = 0x80 // type 3
)

func decodePeerHeader(typ int, b []byte) (peerHeader, *bmp.BMPPeerHeader, error) {
	var gh bmp.BMPPeerHeader
	if err := gh.DecodeFromBytes(b); err != nil {
		return peerHeader{}, nil, malformed(typ, reasonBadPeerHeader, "%v", err)
	}
	if gh.PeerType > bmp.BMP_PEER_TYPE_LOCAL_RIB {
		return peerHeader{}, nil, malformed(typ, reasonBadPeerHeader, "unknown peer type %d", gh.PeerType)
	}
	ph := peerHeader{key: peerKey{typ: gh.PeerType, rd: gh.PeerDistinguisher}, asn: gh.PeerAS, bgpID: gh.PeerBGPID}
	if gh.PeerType == bmp.BMP_PEER_TYPE_LOCAL_RIB {
		ph.filtered = gh.Flags&flagF != 0
		return ph, &gh, nil
	}
	ph.v6 = gh.Flags&flagV != 0
	ph.post = gh.Flags&flagL != 0
	ph.twoByte = gh.Flags&flagA != 0
	ph.out = gh.Flags&flagO != 0
	ph.key.addr = gh.PeerAddress.Unmap()
	if !ph.key.addr.IsValid() {
		return peerHeader{}, nil, malformed(typ, reasonBadPeerHeader, "no peer address")
	}
	return ph, &gh, nil
}
