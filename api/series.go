package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"routewatch/route"
	"routewatch/store"
)

// Series bounds: an event's series reads at most this many prefixes and
// history entries per prefix, and has at most maxSeriesPoints points.
const (
	maxSeriesPrefixes = 2000
	maxSeriesHistory  = 5000
	maxSeriesPoints   = 150
	maxGraphSlots     = 2000
)

// seriesSteps are the sampling steps a series may use, smallest first.
var seriesSteps = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 24 * time.Hour}

type seriesPointView struct {
	Time              time.Time `json:"time"`
	DeviatingPrefixes int       `json:"deviating_prefixes"`
	DeviatingPeers    int       `json:"deviating_vantage_points"`
	WithdrawnPrefixes int       `json:"withdrawn_prefixes"`
	WithdrawnPeers    int       `json:"withdrawn_vantage_points"`
}

type upstreamChangeView struct {
	FromUpstream  uint32 `json:"from_upstream"`
	ToUpstream    uint32 `json:"to_upstream"`
	Prefixes      int    `json:"prefixes"`
	VantagePoints int    `json:"vantage_points"`
}

type graphNodeView struct {
	ASN  uint32 `json:"asn"`
	Role string `json:"role"` // vantage_point, transit, origin
}

type graphEdgeView struct {
	From   uint32 `json:"from"`
	To     uint32 `json:"to"`
	State  string `json:"state"` // removed, added, kept
	Routes int    `json:"routes"`
}

type graphView struct {
	Nodes []graphNodeView `json:"nodes"`
	Edges []graphEdgeView `json:"edges"`
}

// seriesView is GET /events/{id}/series: what the event page draws. A
// point counts, at its time, the examined prefixes whose path at some
// vantage point differs from the path it had at "from" (deviating) or is
// gone (withdrawn), and the vantage points (sessions) concerned. Before
// and after compare each path just before the event's start with the path
// at the series' peak.
type seriesView struct {
	EventID     string               `json:"event_id"`
	From        time.Time            `json:"from"`
	To          time.Time            `json:"to"`
	StepSeconds int                  `json:"step_seconds"`
	Start       time.Time            `json:"start"`
	Detected    time.Time            `json:"detected"`
	End         *time.Time           `json:"end"`
	Peak        *time.Time           `json:"peak"`
	Examined    int                  `json:"prefixes_examined"`
	Truncated   bool                 `json:"truncated"`
	Points      []seriesPointView    `json:"points"`
	Upstreams   []upstreamChangeView `json:"upstreams"`
	Graph       graphView            `json:"graph"`
}

func (s *Server) getSeries(c echo.Context) error {
	id, err := url.PathUnescape(c.Param("id"))
	if err != nil {
		return badParam("id", "invalid escaping")
	}
	if err := validID(id); err != nil {
		return err
	}
	if err := checkQuery(c.QueryParams()); err != nil {
		return err
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	e, err := s.st.Event(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: "no event " + id, Err: err}
	}
	if err != nil {
		return err
	}
	prefixes, truncated, err := s.eventPrefixes(ctx, e)
	if err != nil {
		return err
	}
	slots, err := s.eventSlots(ctx, prefixes)
	if err != nil {
		return err
	}
	v := buildSeries(e, slots)
	v.Examined, v.Truncated = len(prefixes), truncated || v.Truncated
	return writeJSON(c, http.StatusOK, v)
}

// eventPrefixes are the prefixes a series examines: the group's (when the
// event has one) and the event's samples.
func (s *Server) eventPrefixes(ctx context.Context, e route.Event) ([]netip.Prefix, bool, error) {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		if !seen[p] && len(out) < maxSeriesPrefixes {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range e.SamplePrefixes {
		add(p)
	}
	if e.Provider == "" {
		return out, false, nil
	}
	pg := store.Page{Limit: store.MaxLimit}
	for {
		vs, next, err := s.st.GroupPrefixes(ctx, e.Provider, e.Region, pg)
		if errors.Is(err, store.ErrNotFound) {
			return out, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		for _, v := range vs {
			add(v.Prefix)
		}
		if next == "" {
			return out, false, nil
		}
		if len(out) >= maxSeriesPrefixes {
			return out, true, nil
		}
		pg.Cursor = next
	}
}

// slot is one (prefix, peer, path-ID)'s changes, oldest first.
type slot struct {
	prefix  netip.Prefix
	peer    route.Peer
	entries []store.HistoryEntry
}

func (s *Server) eventSlots(ctx context.Context, prefixes []netip.Prefix) ([]*slot, error) {
	type key struct {
		peer   route.Peer
		pathID uint32
	}
	var out []*slot
	for _, p := range prefixes {
		bySlot := map[key]*slot{}
		pg := store.Page{Limit: store.MaxLimit}
		n := 0
		for n < maxSeriesHistory {
			hs, next, err := s.st.History(ctx, p, pg)
			if err != nil {
				return nil, err
			}
			for _, h := range hs {
				k := key{h.Peer, h.PathID}
				sl := bySlot[k]
				if sl == nil {
					sl = &slot{prefix: p, peer: h.Peer}
					bySlot[k] = sl
					out = append(out, sl)
				}
				sl.entries = append(sl.entries, h)
			}
			n += len(hs)
			if next == "" {
				break
			}
			pg.Cursor = next
		}
	}
	for _, sl := range out {
		slices.SortStableFunc(sl.entries, func(a, b store.HistoryEntry) int { return a.Time.Compare(b.Time) })
	}
	return out, nil
}

// stateAt is the slot's path at t, given its path before any entry.
func (sl *slot) stateAt(t time.Time, base *route.Attrs) *route.Attrs {
	st := base
	for _, h := range sl.entries {
		if h.Time.After(t) {
			break
		}
		st = h.New
	}
	return st
}

// baseAt is the slot's path at t: the Old of the first entry after t, or
// the last New at or before t.
func (sl *slot) baseAt(t time.Time) *route.Attrs {
	for i, h := range sl.entries {
		if h.Time.After(t) {
			if i == 0 {
				return h.Old
			}
			return sl.entries[i-1].New
		}
	}
	if n := len(sl.entries); n > 0 {
		return sl.entries[n-1].New
	}
	return nil
}

// seriesWindow picks the time range and step of an event's series.
func seriesWindow(e route.Event, slots []*slot) (from, to time.Time, step time.Duration) {
	last := e.Detected
	if e.End != nil {
		last = *e.End
	} else {
		for _, sl := range slots {
			if n := len(sl.entries); n > 0 && sl.entries[n-1].Time.After(last) {
				last = sl.entries[n-1].Time
			}
		}
	}
	if last.Before(e.Start) {
		last = e.Start
	}
	pad := max(10*time.Minute, last.Sub(e.Start)/3)
	from, to = e.Start.Add(-pad), last.Add(pad)
	step = seriesSteps[len(seriesSteps)-1]
	for _, st := range seriesSteps {
		if to.Sub(from)/st <= maxSeriesPoints {
			step = st
			break
		}
	}
	from = from.Truncate(step)
	if r := to.Truncate(step); r.Before(to) {
		to = r.Add(step)
	}
	return from, to, step
}

func deviates(cur, base *route.Attrs) (deviating, withdrawn bool) {
	switch {
	case cur == nil && base == nil:
		return false, false
	case cur == nil:
		return false, true
	case base == nil:
		return true, false
	}
	return !cur.ASPath.Equal(base.ASPath), false
}

func buildSeries(e route.Event, slots []*slot) seriesView {
	from, to, step := seriesWindow(e, slots)
	v := seriesView{EventID: e.ID, From: from.UTC(), To: to.UTC(), StepSeconds: int(step / time.Second),
		Start: e.Start.UTC(), Detected: e.Detected.UTC(), End: timePtr(derefTime(e.End)),
		Points: []seriesPointView{}, Upstreams: []upstreamChangeView{}, Graph: graphView{Nodes: []graphNodeView{}, Edges: []graphEdgeView{}}}
	n := int(to.Sub(from)/step) + 1
	devPeers, wdPeers := make([]map[route.Peer]bool, n), make([]map[route.Peer]bool, n)
	// affected counts, per point, the prefixes deviating or withdrawn
	// (each once) and affectedPeers the vantage points.
	affected, affectedPeers := make([]int, n), make([]map[route.Peer]bool, n)
	for i := range n {
		devPeers[i], wdPeers[i], affectedPeers[i] = map[route.Peer]bool{}, map[route.Peer]bool{}, map[route.Peer]bool{}
		v.Points = append(v.Points, seriesPointView{Time: from.Add(time.Duration(i) * step).UTC()})
	}
	// Slots are grouped by prefix (eventSlots appends prefix by prefix).
	for i := 0; i < len(slots); {
		j := i
		for j < len(slots) && slots[j].prefix == slots[i].prefix {
			j++
		}
		for k := range n {
			t := v.Points[k].Time
			dev, wd := false, false
			for _, sl := range slots[i:j] {
				base := sl.baseAt(from)
				d, w := deviates(sl.stateAt(t, base), base)
				if d || w {
					affectedPeers[k][sl.peer] = true
				}
				if d {
					dev = true
					devPeers[k][sl.peer] = true
				}
				if w {
					wd = true
					wdPeers[k][sl.peer] = true
				}
			}
			if dev || wd {
				affected[k]++
			}
			if dev {
				v.Points[k].DeviatingPrefixes++
			}
			if wd {
				v.Points[k].WithdrawnPrefixes++
			}
		}
		i = j
	}
	for k := range v.Points {
		v.Points[k].DeviatingPeers, v.Points[k].WithdrawnPeers = len(devPeers[k]), len(wdPeers[k])
	}
	peak := pickPeak(e, v.Points, affected, affectedPeers)
	if peak >= 0 {
		pt := v.Points[peak].Time
		v.Peak = &pt
		v.Upstreams, v.Graph, v.Truncated = beforeAfter(slots, e.Start.Add(-time.Second), pt)
	}
	return v
}

// pickPeak chooses the series point the "after" side of before/after is
// taken at; -1 when nothing deviated during the event. affected and
// affectedPeers count each point's prefixes and vantage points that
// deviate or are withdrawn (each once).
func pickPeak(e route.Event, points []seriesPointView, affected []int, affectedPeers []map[route.Peer]bool) int {
	inEvent := func(t time.Time) bool { return !t.Before(e.Start) && (e.End == nil || !t.After(*e.End)) }
	maxPrefixes, maxPeers, top := 0, 0, -1
	for k := range points {
		if !inEvent(points[k].Time) {
			continue
		}
		if top < 0 || affected[k] > affected[top] {
			top = k
		}
		maxPrefixes, maxPeers = max(maxPrefixes, affected[k]), max(maxPeers, len(affectedPeers[k]))
	}
	// The peak is the middle one of the event's points at (nearly, 95 %)
	// its largest extent in prefixes and vantage points: the state the
	// event settled in, not the path hunting at its start or a transient
	// at its end. Else the point with most prefixes.
	var near []int
	for k, pt := range points {
		if maxPrefixes > 0 && inEvent(pt.Time) && affected[k]*20 >= maxPrefixes*19 && len(affectedPeers[k])*20 >= maxPeers*19 {
			near = append(near, k)
		}
	}
	peak := top
	if len(near) > 0 {
		peak = near[len(near)/2]
	}
	if maxPrefixes == 0 {
		return -1
	}
	return peak
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
