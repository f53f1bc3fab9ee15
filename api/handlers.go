package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"routewatch/route"
	"routewatch/store"
)

// maxImport bounds one POST /events batch.
const maxImport = 1000

func (s *Server) reqCtx(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
}

// prefixParam reads the prefix from /prefixes/{addr}/{len} or the escaped
// single-segment form /prefixes/{addr%2Flen}.
func prefixParam(c echo.Context) (netip.Prefix, string, error) {
	addr, bits := c.Param("addr"), c.Param("len")
	raw := addr
	if bits != "" {
		raw = addr + "/" + bits
	}
	// Echo routes on the escaped path, so parameters are still escaped.
	un, err := url.PathUnescape(raw)
	if err != nil {
		return netip.Prefix{}, "", badParam("prefix", "invalid escaping in prefix")
	}
	p, err := parsePrefix("prefix", un)
	return p, un, err
}

func (s *Server) tags(p netip.Prefix) []tagView {
	if s.matcher == nil {
		return []tagView{}
	}
	return viewTags(s.matcher.Match(p))
}

func (s *Server) getPrefix(c echo.Context) error {
	p, requested, err := prefixParam(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	if err := checkQuery(q, "match", "at", "limit", "cursor"); err != nil {
		return err
	}
	mv, _ := single(q, "match")
	m, err := parseMatch(mv)
	if err != nil {
		return err
	}
	pg, err := parsePage(q)
	if err != nil {
		return err
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	top := capTags(s.matchTags(p), pg.Limit)
	val := s.rov()
	v := prefixView{Prefix: p.String(), Requested: requested, Match: mv, Tags: viewTags(top), Prefixes: []prefixRoutesView{}}
	if v.Match == "" {
		v.Match = "exact"
	}
	if at, ok := single(q, "at"); ok {
		t, before, err := parseTime("at", at)
		if err != nil {
			return err
		}
		if m != store.MatchExact {
			return badParam("at", "at can only be combined with match=exact")
		}
		if pg.Cursor != "" {
			return badParam("cursor", "a point-in-time lookup has a single page")
		}
		pr, err := s.st.RoutesAt(ctx, p, t)
		if before || errors.Is(err, store.ErrNotFound) {
			return &Error{Status: http.StatusNotFound, Message: "history does not reach back to " + at, Parameter: "at", Err: err}
		}
		if err != nil {
			return err
		}
		v.At = &t
		if len(pr.Routes) > 0 {
			v.Prefixes = append(v.Prefixes, viewPrefixRoutes(pr, s.matcher, val, pg.Limit))
		}
		return writeJSON(c, http.StatusOK, v)
	}
	// The store pages in prefix order, so a covered lookup of a short
	// prefix (0.0.0.0/0) loads one page, not the table.
	prs, next, err := s.st.RoutesPage(ctx, p, m, pg)
	if err != nil {
		return err
	}
	// An unchanged answer is served as encoded before (respCache).
	var fp strings.Builder
	if s.rc == nil || !fingerprint(&fp, top, prs, next, s.matcher, pg.Limit, val) {
		fp.Reset()
	}
	return s.writeCached(c, fp.String(), func() any {
		v.NextCursor = next
		for _, pr := range prs {
			// An exact lookup of a prefix nobody announces answers with no
			// entries rather than an entry without routes.
			if len(pr.Routes) == 0 {
				continue
			}
			v.Prefixes = append(v.Prefixes, viewPrefixRoutes(pr, s.matcher, val, pg.Limit))
		}
		return v
	})
}

func (s *Server) getHistory(c echo.Context) error {
	p, _, err := prefixParam(c)
	if err != nil {
		return err
	}
	pg, err := pageQuery(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	val := s.rov()
	hs, next, err := s.st.History(ctx, p, pg)
	if err != nil {
		return err
	}
	v := historyView{Prefix: p.String(), Entries: make([]historyEntryView, len(hs)), NextCursor: next}
	for i, h := range hs {
		v.Entries[i] = viewHistory(h, p, val)
	}
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) getEvents(c echo.Context) error {
	q := c.QueryParams()
	if err := checkQuery(q, "provider", "region", "kind", "status", "from", "to", "limit", "cursor"); err != nil {
		return err
	}
	var f store.EventFilter
	var err error
	if f.Page, err = parsePage(q); err != nil {
		return err
	}
	if v, ok := single(q, "provider"); ok {
		if err := validName("provider", v, false); err != nil {
			return err
		}
		f.Provider = v
	}
	if v, ok := single(q, "region"); ok {
		if err := validName("region", v, false); err != nil {
			return err
		}
		f.Region = v
	}
	if v, ok := single(q, "kind"); ok {
		if f.Kind, err = parseKind(v); err != nil {
			return err
		}
	}
	if v, ok := single(q, "status"); ok {
		if f.Status, err = parseStatus(v); err != nil {
			return err
		}
	}
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
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	// The version is read first: a page read after it is at least as new,
	// so a body cached under it is never older than the version says.
	ver := ""
	if s.rc != nil {
		if ver, err = s.st.EventsVersion(ctx); err != nil {
			return err
		}
	}
	// A cached page saves the store read too.
	if body, ok := s.rc.get(c.Request().RequestURI, ver); ok && ver != "" {
		s.m.respHit.Inc()
		return writeBody(c, http.StatusOK, body)
	}
	evs, next, err := s.st.Events(ctx, f)
	if err != nil {
		return err
	}
	return s.writeCached(c, ver, func() any { return viewEvents(evs, next) })
}

func viewEvents(evs []route.Event, next string) eventsView {
	v := eventsView{Events: make([]eventView, len(evs)), NextCursor: next}
	for i, e := range evs {
		v.Events[i] = viewEvent(e)
	}
	return v
}

// writeCached answers with the body cached for this request URI under fp,
// or builds, encodes and caches it. An empty fp (some part unversioned, or
// the cache off) always builds and caches nothing.
func (s *Server) writeCached(c echo.Context, fp string, build func() any) error {
	if fp == "" || s.rc == nil {
		return writeJSON(c, http.StatusOK, build())
	}
	key := c.Request().RequestURI
	if body, ok := s.rc.get(key, fp); ok {
		s.m.respHit.Inc()
		return writeBody(c, http.StatusOK, body)
	}
	s.m.respMiss.Inc()
	body, err := encodeJSON(build())
	if err != nil {
		return err
	}
	s.rc.put(key, fp, body)
	return writeBody(c, http.StatusOK, body)
}

func (s *Server) getEvent(c echo.Context) error {
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
	return writeJSON(c, http.StatusOK, viewEvent(e))
}

type importView struct {
	Stored int `json:"stored"`
}

// postEvents imports events: a JSON array, or `replay --format json`
// output as is (one event per line). It changes state, so it needs the admin scope.
func (s *Server) postEvents(c echo.Context) error {
	if err := checkQuery(c.QueryParams()); err != nil {
		return err
	}
	ct := c.Request().Header.Get(echo.HeaderContentType)
	switch mt, _, _ := strings.Cut(ct, ";"); strings.ToLower(strings.TrimSpace(mt)) {
	case echo.MIMEApplicationJSON, mimeNDJSON, mimeJSONL:
	default:
		return &Error{Status: http.StatusUnsupportedMediaType, Message: "content type must be application/json (an array) or application/x-ndjson (one event per line)", Parameter: "body"}
	}
	body, err := readBody(c.Request().Body)
	if err != nil {
		return err // MaxBytesError maps to 413
	}
	evs, err := decodeEvents(body)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return badParam("body", "give 1-%d events", maxImport)
	}
	for i, e := range evs {
		if err := validID(e.ID); err != nil {
			return badParam("body", "events[%d].id: %s", i, err.(*Error).Message)
		}
		if _, err := parseKind(string(e.Kind)); err != nil {
			return badParam("body", "events[%d].kind: %s", i, err.(*Error).Message)
		}
		if e.Start.IsZero() {
			return badParam("body", "events[%d].start: missing", i)
		}
		if e.Prefixes < 0 || e.Peers < 0 {
			return badParam("body", "events[%d]: negative prefixes or peers", i)
		}
		for _, tr := range e.Transitions {
			if tr.Prefixes < 0 {
				return badParam("body", "events[%d].transitions: negative prefixes", i)
			}
		}
		if e.End != nil && e.End.Before(e.Start) {
			return badParam("body", "events[%d].end: before start", i)
		}
		if err := validName("body", e.Provider, true); err != nil {
			return badParam("body", "events[%d].provider: %s", i, err.(*Error).Message)
		}
		if err := validName("body", e.Region, true); err != nil {
			return badParam("body", "events[%d].region: %s", i, err.(*Error).Message)
		}
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	if err := s.st.PutEvents(ctx, evs); err != nil {
		return err
	}
	s.logger.Info("api: events imported", "count", len(evs), "client", c.RealIP())
	return writeJSON(c, http.StatusOK, importView{Stored: len(evs)})
}

func (s *Server) getProviders(c echo.Context) error {
	if err := checkQuery(c.QueryParams()); err != nil {
		return err
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	gs, err := s.st.Groups(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(gs, func(a, b store.GroupSummary) int {
		if c := strings.Compare(a.Provider, b.Provider); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	})
	v := providersView{Providers: []providerView{}}
	for _, g := range gs {
		if n := len(v.Providers); n == 0 || v.Providers[n-1].Provider != g.Provider {
			v.Providers = append(v.Providers, providerView{Provider: g.Provider, Regions: []groupView{}})
		}
		p := &v.Providers[len(v.Providers)-1]
		p.Prefixes += g.Prefixes
		p.Visible += g.Visible
		p.PeerPaths += g.PeerPaths
		p.ChangesLastHour += g.Changes
		p.Regions = append(p.Regions, viewGroup(g))
	}
	for i := range v.Providers {
		v.Providers[i].Visibility = ratio(v.Providers[i].Visible, v.Providers[i].Prefixes)
	}
	return writeJSON(c, http.StatusOK, v)
}

// regionParam maps the path segment to a region: "-" stands for the
// empty region of providers that publish none (e.g. Cloudflare).
func regionParam(c echo.Context) (string, error) {
	r, err := url.PathUnescape(c.Param("region"))
	if err != nil {
		return "", badParam("region", "invalid escaping")
	}
	if r == "-" {
		return "", nil
	}
	return r, validName("region", r, false)
}

// maxOpenEvents bounds the open events listed with a region.
const maxOpenEvents = 50

func (s *Server) getRegion(c echo.Context) error {
	provider, err := url.PathUnescape(c.Param("provider"))
	if err != nil {
		return badParam("provider", "invalid escaping")
	}
	if err := validName("provider", provider, false); err != nil {
		return err
	}
	region, err := regionParam(c)
	if err != nil {
		return err
	}
	pg, err := pageQuery(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	g, err := s.st.Group(ctx, provider, region)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: "no watched prefixes seen for " + provider + "/" + region, Err: err}
	}
	if err != nil {
		return err
	}
	vs, next, err := s.st.GroupPrefixes(ctx, provider, region, pg)
	if err != nil {
		return err
	}
	v := regionView{groupView: viewGroup(g), OpenEvents: []eventView{},
		PrefixVisibility: make([]prefixVisibilityView, len(vs)), NextCursor: next}
	for i, pv := range vs {
		v.PrefixVisibility[i] = viewPrefixVisibility(pv)
	}
	// The store filter treats "" as "any region": filter exactly here.
	evs, _, err := s.st.Events(ctx, store.EventFilter{Provider: provider, Region: region, Status: store.StatusOpen, Page: store.Page{Limit: maxOpenEvents}})
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.Region == region {
			v.OpenEvents = append(v.OpenEvents, viewEvent(e))
		}
	}
	return writeJSON(c, http.StatusOK, v)
}

// parsePeerCursor reads the peer a peers page ended with: store.PeerKey
// (every vantage point field), or "addr|asn" from cursors handed out before
// vantage points.
func parsePeerCursor(key string) (route.Peer, error) {
	if as, an, ok := strings.Cut(key, "|"); ok {
		a, aerr := netip.ParseAddr(as)
		n, nerr := strconv.ParseUint(an, 10, 32)
		if aerr != nil || nerr != nil {
			return route.Peer{}, errors.Join(aerr, nerr)
		}
		return route.Peer{Addr: a, ASN: uint32(n)}, nil
	}
	return store.ParsePeerKey(key)
}

func (s *Server) getPeers(c echo.Context) error {
	q := c.QueryParams()
	if err := checkQuery(q, "limit", "cursor"); err != nil {
		return err
	}
	pg, err := parsePage(q)
	if err != nil {
		return err
	}
	var after *route.Peer
	if pg.Cursor != "" {
		key, err := decodeCursor("peer", pg.Cursor)
		if err != nil {
			return err
		}
		p, err := parsePeerCursor(key)
		if err != nil {
			return badParam("cursor", "invalid cursor")
		}
		after = &p
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	ps, err := s.st.Peers(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(ps, func(a, b store.PeerInfo) int { return store.ComparePeers(a.Peer, b.Peer) })
	now := s.now()
	v := peersView{Peers: []peerInfoView{}}
	for i, p := range ps {
		if after != nil && store.ComparePeers(p.Peer, *after) <= 0 {
			continue
		}
		if len(v.Peers) == pg.Limit {
			last := ps[i-1].Peer
			v.NextCursor = encodeCursor("peer", store.PeerKey(last))
			break
		}
		v.Peers = append(v.Peers, viewPeerInfo(p, now))
	}
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) getASNPrefixes(c echo.Context) error {
	raw, err := url.PathUnescape(c.Param("asn"))
	if err != nil {
		return badParam("asn", "invalid escaping")
	}
	asn, err := parseASN("asn", raw)
	if err != nil {
		return err
	}
	pg, err := pageQuery(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	ps, next, err := s.st.PrefixesByASN(ctx, asn, pg)
	if err != nil {
		return err
	}
	v := asnView{ASN: asn, Prefixes: make([]asnPrefixView, len(ps)), NextCursor: next}
	for i, p := range ps {
		v.Prefixes[i] = asnPrefixView{Prefix: p.String(), Tags: s.tags(p)}
	}
	return writeJSON(c, http.StatusOK, v)
}

// pageQuery reads a listing that takes only limit and cursor.
func pageQuery(c echo.Context) (store.Page, error) {
	q := c.QueryParams()
	if err := checkQuery(q, "limit", "cursor"); err != nil {
		return store.Page{}, err
	}
	return parsePage(q)
}
