package rislive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"routewatch/route"
)

// Kind is the type of one server message.
type Kind string

// Server message types (RIS Live manual, "Server messages"), and the BGP
// message types of a ris_message.
const (
	KindMessage      Kind = "ris_message"
	KindError        Kind = "ris_error"
	KindSubscribeOK  Kind = "ris_subscribe_ok"
	KindPong         Kind = "pong"
	KindRRCList      Kind = "ris_rrc_list"
	TypeUpdate            = "UPDATE"
	TypeOpen              = "OPEN"
	TypeNotification      = "NOTIFICATION"
	TypeKeepalive         = "KEEPALIVE"
	TypePeerState         = "RIS_PEER_STATE"
	endOfRIBPrefix        = "eor"
	sourcePrefix          = "rislive:"
)

// Message is one decoded server message. Only the fields of its Kind are
// set: a ris_message carries Host, Peer, Time and, by Type, Updates
// (UPDATE), State (RIS_PEER_STATE or an UPDATE's End-of-RIB marker); a
// ris_error carries Error.
type Message struct {
	Kind Kind
	// Type is the BGP message type of a ris_message (UPDATE, OPEN, …).
	Type string
	// Host is the RRC, named as in the archives (CollectorName).
	Host string
	Peer route.Peer
	Time time.Time
	// Updates share one *route.Attrs per announcement group; withdrawals
	// come first, as in the BGP UPDATE.
	Updates []route.Update
	// State is a session change (RIS_PEER_STATE) or an End-of-RIB marker.
	State *route.PeerState
	// Error is the text of a ris_error.
	Error string
}

// DecodeError says why a message could not be decoded; Reason is a short
// stable label for metrics.
type DecodeError struct {
	Reason string
	Err    error
}

func (e *DecodeError) Error() string { return "rislive: decode: " + e.Reason + ": " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// Decode failure reasons.
const (
	ReasonJSON    = "json"     // not JSON, truncated, or fields of the wrong type
	ReasonType    = "type"     // no or unknown envelope type
	ReasonField   = "field"    // a required field is missing or invalid
	ReasonPrefix  = "prefix"   // an announced or withdrawn prefix does not parse
	ReasonNextHop = "next_hop" // a next hop does not parse
)

func decodeErr(reason string, format string, args ...any) *DecodeError {
	return &DecodeError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Decoder turns RIS Live server messages into route types. It is pure
// (bytes in, values out) and keeps only a small cache of source names; it
// is not safe for concurrent use.
type Decoder struct {
	hosts map[string]hostNames // as sent -> collector name and source
}

type hostNames struct{ collector, source string }

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{hosts: make(map[string]hostNames)} }

// CollectorName is the RRC's name as the archives spell it: RIS Live's
// host "rrc00.ripe.net" (or "rrc00") is "rrc00".
func CollectorName(host string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".ripe.net")
}

// envelope is every server message in one pass: data holds the fields
// of a ris_message and the message of a ris_error.
type envelope struct {
	Type Kind         `json:"type"`
	Data *wireMessage `json:"data"`
}

type wireMessage struct {
	Timestamp     float64            `json:"timestamp"`
	Peer          string             `json:"peer"`
	PeerASN       flexASN            `json:"peer_asn"`
	Host          string             `json:"host"`
	Type          string             `json:"type"`
	Path          wirePath           `json:"path"`
	Community     [][2]uint32        `json:"community"`
	Origin        string             `json:"origin"`
	MED           *uint32            `json:"med"`
	Aggregator    string             `json:"aggregator"`
	Announcements []wireAnnouncement `json:"announcements"`
	Withdrawals   []string           `json:"withdrawals"`
	State         string             `json:"state"`
	// Message is the text of a ris_error.
	Message string `json:"message"`
}

type wireAnnouncement struct {
	NextHop  string   `json:"next_hop"`
	Prefixes []string `json:"prefixes"`
}

// flexASN is an ASN sent as a JSON string ("3333", as RIS Live does) or a
// number.
type flexASN uint32

func (a *flexASN) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "" || s == "null" {
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("peer_asn %q: %w", s, err)
	}
	*a = flexASN(n)
	return nil
}

// wirePath is a RIS Live path: ASNs, and AS_SETs as nested arrays,
// parsed by hand (reflection per element is most of a message's cost).
type wirePath struct{ segs route.ASPath }

func (p *wirePath) UnmarshalJSON(b []byte) error {
	segs, err := parsePath(b)
	if err != nil {
		return fmt.Errorf("path: %w", err)
	}
	p.segs = segs
	return nil
}

var errPath = errors.New("not an array of ASNs and arrays of ASNs")

// parsePath parses `[1,2,[3,4],5]`: runs of ASNs become AS_SEQUENCEs, each
// nested array an AS_SET. null is an empty path.
func parsePath(b []byte) (route.ASPath, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, errPath
	}
	var out route.ASPath
	inSet := false
	i := 1
	expectValue := true
	for i < len(b)-1 {
		c := b[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ',':
			if expectValue {
				return nil, errPath
			}
			expectValue = true
			i++
		case c == '[' && !inSet && expectValue:
			out = append(out, route.Segment{Type: route.ASSet, ASNs: []uint32{}})
			inSet = true
			i++
		case c == ']' && inSet && (!expectValue || len(out[len(out)-1].ASNs) == 0):
			inSet, expectValue = false, false
			i++
		case c >= '0' && c <= '9' && expectValue:
			j := i
			var n uint64
			for j < len(b)-1 && b[j] >= '0' && b[j] <= '9' {
				n = n*10 + uint64(b[j]-'0')
				if n > math.MaxUint32 {
					return nil, errPath
				}
				j++
			}
			i, expectValue = j, false
			switch k := len(out); {
			case inSet:
				out[k-1].ASNs = append(out[k-1].ASNs, uint32(n))
			case k > 0 && out[k-1].Type == route.ASSequence:
				out[k-1].ASNs = append(out[k-1].ASNs, uint32(n))
			default:
				out = append(out, route.Segment{Type: route.ASSequence, ASNs: []uint32{uint32(n)}})
			}
		default:
			return nil, errPath
		}
	}
	if inSet || (expectValue && len(out) > 0) {
		return nil, errPath
	}
	return out, nil
}

// Decode decodes one server message.
func (d *Decoder) Decode(b []byte) (Message, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return Message{}, &DecodeError{Reason: ReasonJSON, Err: err}
	}
	switch env.Type {
	case KindMessage:
		if env.Data == nil {
			return Message{}, decodeErr(ReasonField, "ris_message without data")
		}
		return d.decodeRIS(env.Data)
	case KindError:
		if env.Data == nil {
			return Message{Kind: KindError}, nil
		}
		return Message{Kind: KindError, Error: env.Data.Message}, nil
	case KindPong, KindSubscribeOK, KindRRCList:
		return Message{Kind: env.Type}, nil
	case "":
		return Message{}, decodeErr(ReasonType, "no message type")
	}
	return Message{}, decodeErr(ReasonType, "unknown message type %.40q", string(env.Type))
}

func (d *Decoder) decodeRIS(w *wireMessage) (Message, error) {
	addr, err := netip.ParseAddr(w.Peer)
	if err != nil {
		return Message{}, decodeErr(ReasonField, "peer %.60q: %w", w.Peer, err)
	}
	if w.Timestamp <= 0 || math.IsInf(w.Timestamp, 0) || w.Timestamp > 9e9 {
		return Message{}, decodeErr(ReasonField, "timestamp %v", w.Timestamp)
	}
	sec, frac := math.Modf(w.Timestamp)
	host := d.names(w.Host).collector
	if host == "" {
		return Message{}, decodeErr(ReasonField, "no host")
	}
	m := Message{
		Kind: KindMessage, Type: w.Type, Host: host,
		Peer: route.Peer{Addr: addr.Unmap(), ASN: uint32(w.PeerASN), Collector: host},
		Time: time.Unix(int64(sec), int64(frac*1e9)).UTC(),
	}
	switch w.Type {
	case TypeUpdate:
		return d.decodeUpdate(m, w)
	case TypePeerState:
		st := route.PeerState{Time: m.Time, Source: d.source(m.Host), Peer: m.Peer, Reason: "RIS_PEER_STATE " + w.State}
		switch w.State {
		case "connected":
			st.Old, st.New = route.StateIdle, route.StateEstablished
		case "down":
			st.Old, st.New = route.StateEstablished, route.StateIdle
		default:
			return Message{}, decodeErr(ReasonField, "RIS_PEER_STATE state %.40q", w.State)
		}
		m.State = &st
	case TypeOpen, TypeNotification, TypeKeepalive:
	default:
		return Message{}, decodeErr(ReasonType, "ris_message type %.40q", w.Type)
	}
	return m, nil
}

func (d *Decoder) names(host string) hostNames {
	n, ok := d.hosts[host]
	if !ok {
		if len(d.hosts) > 1024 { // hosts are a few dozen RRCs; bound garbage
			clear(d.hosts)
		}
		c := CollectorName(host)
		n = hostNames{collector: c, source: sourcePrefix + c}
		d.hosts[host] = n
	}
	return n
}

func (d *Decoder) source(host string) string { return d.names(host).source }

func (d *Decoder) decodeUpdate(m Message, w *wireMessage) (Message, error) {
	src := d.source(m.Host)
	n := len(w.Withdrawals)
	for _, a := range w.Announcements {
		n += len(a.Prefixes)
	}
	m.Updates = make([]route.Update, 0, n)
	eor := false
	for _, s := range w.Withdrawals {
		if s == endOfRIBPrefix {
			eor = true
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			return Message{}, err
		}
		m.Updates = append(m.Updates, route.Update{Time: m.Time, Source: src, Peer: m.Peer, Prefix: p, Withdraw: true})
	}
	if len(w.Announcements) > 0 {
		base, err := attrs(w)
		if err != nil {
			return Message{}, err
		}
		// IPv6 announcements list the same prefixes under the global and
		// the link-local next hop: keep the first (global) one only.
		var seen map[netip.Prefix]struct{}
		if n-len(w.Withdrawals) > 16 {
			seen = make(map[netip.Prefix]struct{}, n)
		}
		first := len(m.Updates)
		for _, a := range w.Announcements {
			nh, err := netip.ParseAddr(a.NextHop)
			if err != nil && a.NextHop != "" {
				return Message{}, decodeErr(ReasonNextHop, "%.60q: %w", a.NextHop, err)
			}
			at := base
			if len(w.Announcements) > 1 {
				c := *base
				at = &c
			}
			at.NextHop = nh.Unmap()
			for _, s := range a.Prefixes {
				if s == endOfRIBPrefix {
					eor = true
					continue
				}
				p, err := parsePrefix(s)
				if err != nil {
					return Message{}, err
				}
				if seen != nil {
					if _, dup := seen[p]; dup {
						continue
					}
					seen[p] = struct{}{}
				} else if announced(m.Updates[first:], p) {
					continue
				}
				m.Updates = append(m.Updates, route.Update{Time: m.Time, Source: src, Peer: m.Peer, Prefix: p, Attrs: at})
			}
		}
	}
	if eor {
		m.State = &route.PeerState{Time: m.Time, Source: src, Peer: m.Peer,
			Old: route.StateEstablished, New: route.StateEstablished, EndOfRIB: true, Reason: "End-of-RIB"}
	}
	return m, nil
}

func announced(ups []route.Update, p netip.Prefix) bool {
	for i := range ups {
		if ups[i].Prefix == p {
			return true
		}
	}
	return false
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, decodeErr(ReasonPrefix, "%.60q: %w", s, err)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, decodeErr(ReasonPrefix, "%.60q: IPv4-mapped", s)
	}
	return p.Masked(), nil
}

func attrs(w *wireMessage) (*route.Attrs, error) {
	a := &route.Attrs{ASPath: w.Path.segs}
	switch strings.ToUpper(w.Origin) {
	case "IGP", "":
		a.Origin = route.OriginIGP
	case "EGP":
		a.Origin = route.OriginEGP
	case "INCOMPLETE":
		a.Origin = route.OriginIncomplete
	default:
		return nil, decodeErr(ReasonField, "origin %.40q", w.Origin)
	}
	if w.MED != nil {
		a.MED, a.HasMED = *w.MED, true
	}
	if len(w.Community) > 0 {
		a.Communities = make([]route.Community, 0, len(w.Community))
		for _, c := range w.Community {
			if c[0] > math.MaxUint16 || c[1] > math.MaxUint16 {
				return nil, decodeErr(ReasonField, "community %d:%d", c[0], c[1])
			}
			a.Communities = append(a.Communities, route.Community(c[0]<<16|c[1]))
		}
	}
	if w.Aggregator != "" {
		// "65000:192.0.2.1"
		asn, ip, ok := strings.Cut(w.Aggregator, ":")
		n, err := strconv.ParseUint(asn, 10, 32)
		addr, err2 := netip.ParseAddr(ip)
		if !ok || errors.Join(err, err2) != nil {
			return nil, decodeErr(ReasonField, "aggregator %.60q", w.Aggregator)
		}
		a.Aggregator = &route.Aggregator{ASN: uint32(n), Addr: addr}
	}
	return a, nil
}
