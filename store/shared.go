package store

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"routewatch/route"
)

// ErrInvalid is wrapped by errors for input that can never be stored (an
// invalid prefix or peer, an announcement without attributes, an empty
// id): retrying does not help.
var ErrInvalid = errors.New("invalid")

// Retention bounds what both backends keep. Zero fields take the defaults.
type Retention struct {
	// HistoryCount is the number of changes kept per prefix.
	HistoryCount int `yaml:"history_count"`
	// HistoryAge drops changes older than this, measured against the
	// newest change of the same prefix (update time, not wall clock, so
	// replays behave like live data).
	HistoryAge time.Duration `yaml:"history_age"`
	// ResolvedEvents caps resolved events; the oldest (by start) go first.
	ResolvedEvents int `yaml:"resolved_events"`
	// FinishedDeliveries is how many finished outbox IDs are remembered
	// so a re-enqueue of an already sent delivery stays a no-op.
	FinishedDeliveries int `yaml:"finished_deliveries"`
}

// Retention defaults.
const (
	DefaultHistoryCount       = 100
	DefaultHistoryAge         = 7 * 24 * time.Hour
	DefaultResolvedEvents     = 10000
	DefaultFinishedDeliveries = 10000
	// SessionHistoryLen is how many session changes are kept per peer.
	SessionHistoryLen = 100
)

func (r Retention) withDefaults() Retention {
	if r.HistoryCount <= 0 {
		r.HistoryCount = DefaultHistoryCount
	}
	if r.HistoryAge <= 0 {
		r.HistoryAge = DefaultHistoryAge
	}
	if r.ResolvedEvents <= 0 {
		r.ResolvedEvents = DefaultResolvedEvents
	}
	if r.FinishedDeliveries <= 0 {
		r.FinishedDeliveries = DefaultFinishedDeliveries
	}
	return r
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// prefixKey is a byte string that sorts prefixes by family (IPv4 first),
// address, then length. Redis sorted sets use it as a lex member, Memory
// sorts with it, so both backends order prefixes identically.
func prefixKey(p netip.Prefix) string {
	p = p.Masked()
	a := p.Addr()
	var b []byte
	if a.Is4() {
		v := a.As4()
		b = append([]byte{4}, v[:]...)
	} else {
		v := a.As16()
		b = append([]byte{6}, v[:]...)
	}
	return string(append(b, byte(p.Bits())))
}

func parsePrefixKey(k string) (netip.Prefix, error) {
	b := []byte(k)
	switch {
	case len(b) == 6 && b[0] == 4:
		a := netip.AddrFrom4([4]byte(b[1:5]))
		return checkedPrefix(a, int(b[5]))
	case len(b) == 18 && b[0] == 6:
		a := netip.AddrFrom16([16]byte(b[1:17]))
		return checkedPrefix(a, int(b[17]))
	}
	return netip.Prefix{}, fmt.Errorf("store: bad prefix key %q", k)
}

func checkedPrefix(a netip.Addr, bits int) (netip.Prefix, error) {
	p, err := a.Prefix(bits)
	if err != nil || p != netip.PrefixFrom(a, bits) {
		return netip.Prefix{}, fmt.Errorf("store: bad prefix key %s/%d", a, bits)
	}
	return p, nil
}

// eventMember orders events by start then id as a fixed-width string.
func eventMember(start time.Time, id string) string {
	return startKey(start) + "|" + id
}

func startKey(t time.Time) string {
	n := t.UnixNano()
	if n < 0 || t.IsZero() {
		n = 0
	}
	return fmt.Sprintf("%020d", n)
}

func validEventMember(m string) bool {
	k, id, ok := strings.Cut(m, "|")
	if !ok || len(k) != 20 || id == "" {
		return false
	}
	for _, c := range k {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func eventStatusOK(e *route.Event, s Status) bool {
	switch s {
	case StatusOpen:
		return e.Open()
	case StatusResolved:
		return !e.Open()
	}
	return true
}

// eventMatches applies every filter field except the cursor.
func eventMatches(e *route.Event, f *EventFilter) bool {
	if f.Provider != "" && e.Provider != f.Provider {
		return false
	}
	if f.Region != "" && e.Region != f.Region {
		return false
	}
	if f.Kind != "" && e.Kind != f.Kind {
		return false
	}
	if !eventStatusOK(e, f.Status) {
		return false
	}
	if !f.From.IsZero() && e.Start.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && !e.Start.Before(f.To) {
		return false
	}
	return true
}

// routeKey identifies one path of one peer for a prefix (add-path aware).
type routeKey struct {
	Peer   route.Peer
	PathID uint32
}

// routeField is the Redis hash field of a path: "addr asn pathid", then
// the vantage point token (vantage.go) when the peer has one. Fields of
// plain peers are what format version 1 wrote, so old data still reads.
func routeField(k routeKey) string {
	f := k.Peer.Addr.String() + " " + strconv.FormatUint(uint64(k.Peer.ASN), 10) + " " + strconv.FormatUint(uint64(k.PathID), 10)
	if e := vantageOf(k.Peer).ext(); e != "" {
		f += " " + e
	}
	return f
}

func parseRouteField(f string) (routeKey, error) {
	parts := strings.Split(f, " ")
	if len(parts) != 3 && len(parts) != 4 {
		return routeKey{}, fmt.Errorf("store: bad route field %q", f)
	}
	a, err := netip.ParseAddr(parts[0])
	if err != nil {
		return routeKey{}, fmt.Errorf("store: bad route field %q: %w", f, err)
	}
	asn, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return routeKey{}, fmt.Errorf("store: bad route field %q: %w", f, err)
	}
	id, err := strconv.ParseUint(parts[2], 10, 32)
	if err != nil {
		return routeKey{}, fmt.Errorf("store: bad route field %q: %w", f, err)
	}
	v := vantage{Addr: a}
	if len(parts) == 4 {
		if parts[3] == "" {
			return routeKey{}, fmt.Errorf("store: bad route field %q", f)
		}
		if v, err = parseExt(a, parts[3]); err != nil {
			return routeKey{}, fmt.Errorf("store: bad route field %q: %w", f, err)
		}
	}
	return routeKey{Peer: v.peer(uint32(asn)), PathID: uint32(id)}, nil
}

// fieldVantage is the vantage point of a route field, without decoding
// the rest (group summaries read every field of every prefix).
func fieldVantage(f string) (vantage, error) {
	as, rest, _ := strings.Cut(f, " ")
	a, err := netip.ParseAddr(as)
	if err != nil {
		return vantage{}, fmt.Errorf("%w: route field %q", ErrCorrupt, f)
	}
	_, rest, _ = strings.Cut(rest, " ")
	_, ext, _ := strings.Cut(rest, " ")
	return parseExt(a, ext)
}

// peerStatus is what staleness needs to know about a peer. A peer with no
// recorded session state (e.g. only seen in an MRT RIB dump) is never
// stale.
type peerStatus struct {
	Known bool
	State route.SessionState
	Epoch uint64
}

// stale: the session is down, or the path predates the current session
// and has not been re-announced since.
func (ps peerStatus) stale(routeEpoch uint64) bool {
	if !ps.Known {
		return false
	}
	return ps.State != route.StateEstablished || routeEpoch < ps.Epoch
}

// histRec is a history entry with its per-prefix sequence number, which
// history cursors use (sequence numbers are dense: trimming only removes
// the oldest).
type histRec struct {
	Seq   uint64
	Entry HistoryEntry
}

// reconstruct undoes the changes newer than at (hist is newest first) on
// top of the current routes. Since of a restored path is the time of the
// older retained entry that set it, else zero.
func reconstruct(p netip.Prefix, tags []route.Tag, cur []Route, hist []histRec, at time.Time) PrefixRoutes {
	state := make(map[routeKey]Route, len(cur))
	for _, r := range cur {
		r.Stale = false
		state[routeKey{r.Peer, r.PathID}] = r
	}
	restored := map[routeKey]bool{}
	i := 0
	for ; i < len(hist) && hist[i].Entry.Time.After(at); i++ {
		e := hist[i].Entry
		k := routeKey{e.Peer, e.PathID}
		if e.Old == nil {
			delete(state, k)
			delete(restored, k)
			continue
		}
		state[k] = Route{Peer: e.Peer, PathID: e.PathID, Attrs: *e.Old}
		restored[k] = true
	}
	for ; i < len(hist) && len(restored) > 0; i++ {
		e := hist[i].Entry
		k := routeKey{e.Peer, e.PathID}
		if restored[k] {
			r := state[k]
			r.Since = e.Time
			state[k] = r
			delete(restored, k)
		}
	}
	out := PrefixRoutes{Prefix: p, Tags: tags, Routes: make([]Route, 0, len(state))}
	for _, r := range state {
		out.Routes = append(out.Routes, r)
	}
	sortRoutes(out.Routes)
	return out
}

func sortRoutes(rs []Route) {
	sort.Slice(rs, func(i, j int) bool { return routeLess(&rs[i], &rs[j]) })
}

// routeLess orders routes by peer (comparePeers), then path ID.
func routeLess(a, b *Route) bool {
	if c := comparePeers(a.Peer, b.Peer); c != 0 {
		return c < 0
	}
	return a.PathID < b.PathID
}

// pathHasASN reports whether asn appears anywhere in the path (sets too).
func pathHasASN(p route.ASPath, asn uint32) bool {
	for _, s := range p {
		for _, a := range s.ASNs {
			if a == asn {
				return true
			}
		}
	}
	return false
}

func pathASNs(p route.ASPath) []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	for _, s := range p {
		for _, a := range s.ASNs {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

func tagGroups(tags []route.Tag) []route.Group {
	var out []route.Group
	seen := map[route.Group]bool{}
	for _, t := range tags {
		g := t.Group()
		if t.Provider == "" || seen[g] {
			continue
		}
		seen[g] = true
		out = append(out, g)
	}
	return out
}

// changeWindow counts changes per minute so "changes in the last hour" is
// bounded memory in both backends (minute resolution).
const changeWindowMinutes = 60

func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

func countWindow(buckets map[int64]int64, last time.Time) int {
	lm := minuteOf(last)
	n := int64(0)
	for m, c := range buckets {
		if m > lm-changeWindowMinutes && m <= lm {
			n += c
		}
	}
	return int(n)
}

func sortGroups(gs []GroupSummary) {
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].Provider != gs[j].Provider {
			return gs[i].Provider < gs[j].Provider
		}
		return gs[i].Region < gs[j].Region
	})
}

// validUpdate rejects what cannot be stored; the batch fails as a whole
// before anything is written.
func validUpdate(u *route.Update) error {
	if !u.Prefix.IsValid() {
		return fmt.Errorf("%w prefix %v", ErrInvalid, u.Prefix)
	}
	if !u.Peer.Addr.IsValid() {
		return fmt.Errorf("%w peer address for %v", ErrInvalid, u.Prefix)
	}
	if !u.Withdraw && u.Attrs == nil {
		return fmt.Errorf("%w announcement of %v: no attributes", ErrInvalid, u.Prefix)
	}
	return nil
}
