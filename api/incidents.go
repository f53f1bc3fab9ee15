package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"routewatch/route"
	"routewatch/store"
)

// maxIncidentScan bounds how many events GET /incidents reads to group
// them (the newest first within from/to).
const maxIncidentScan = 10000

// incidentView is one incident: the events one transit-side cause
// explains in the same window.
type incidentView struct {
	ID     string      `json:"id"`
	Cause  route.Cause `json:"cause"`
	Start  time.Time   `json:"start"`
	End    *time.Time  `json:"end"`
	Events []eventView `json:"events"`
}

type incidentsView struct {
	Incidents []incidentView `json:"incidents"`
	// Truncated says the scan stopped at maxIncidentScan events: narrow
	// from/to.
	Truncated bool `json:"truncated"`
}

// getIncidents lists incidents with their events, newest start first.
// An incident is open while one of its events is.
func (s *Server) getIncidents(c echo.Context) error {
	q := c.QueryParams()
	if err := checkQuery(q, "status", "from", "to"); err != nil {
		return err
	}
	var f store.EventFilter
	var err error
	if v, ok := single(q, "from"); ok {
		if f.From, _, err = parseTime("from", v); err != nil {
			return err
		}
	}
	if v, ok := single(q, "to"); ok {
		if f.To, _, err = parseTime("to", v); err != nil {
			return err
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return badParam("to", "to must be after from")
	}
	status := store.StatusAny
	if v, ok := single(q, "status"); ok {
		if status, err = parseStatus(v); err != nil {
			return err
		}
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	byID := map[string]*incidentView{}
	var order []string
	scanned := 0
	f.Page.Limit = store.MaxLimit
	for {
		evs, next, err := s.st.Events(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Incident == "" {
				continue
			}
			v := byID[e.Incident]
			if v == nil {
				v = &incidentView{ID: e.Incident, Cause: e.Cause, Start: e.Start.UTC()}
				byID[e.Incident] = v
				order = append(order, e.Incident)
			}
			v.Events = append(v.Events, viewEvent(e))
		}
		scanned += len(evs)
		if next == "" || scanned >= maxIncidentScan {
			break
		}
		f.Page.Cursor = next
	}
	out := incidentsView{Incidents: []incidentView{}, Truncated: scanned >= maxIncidentScan}
	for _, id := range order {
		v := byID[id]
		open := false
		for _, e := range v.Events {
			if e.Start.Before(v.Start) {
				v.Start = e.Start
			}
			if e.End == nil {
				open = true
			} else if v.End == nil || e.End.After(*v.End) {
				end := *e.End
				v.End = &end
			}
		}
		if open {
			v.End = nil
		}
		if status == store.StatusOpen && !open || status == store.StatusResolved && open {
			continue
		}
		slices.SortFunc(v.Events, func(x, y eventView) int { return x.Start.Compare(y.Start) })
		out.Incidents = append(out.Incidents, *v)
	}
	slices.SortStableFunc(out.Incidents, func(x, y incidentView) int { return y.Start.Compare(x.Start) })
	return writeJSON(c, http.StatusOK, out)
}
