package api

import (
	"net/netip"
	"strconv"
	"time"

	"routewatch/route"
	"routewatch/store"
)

// The JSON views below are the API's resource shapes (documented in
// openapi.json). Domain types are converted here so that the wire format
// is explicit and stable; slices are never null.

type attrsView struct {
	ASPath         string   `json:"as_path"`
	ASPathLength   int      `json:"as_path_length"`
	OriginASN      *uint32  `json:"origin_asn"`
	UpstreamASN    *uint32  `json:"upstream_asn"`
	OriginPrepends int      `json:"origin_prepends"`
	Origin         string   `json:"origin"`
	NextHop        string   `json:"next_hop"`
	MED            *uint32  `json:"med"`
	LocalPref      *uint32  `json:"local_pref"`
	Atomic         bool     `json:"atomic_aggregate"`
	Aggregator     *aggView `json:"aggregator"`
	Communities    []string `json:"communities"`
	Large          []string `json:"large_communities"`
}

type aggView struct {
	ASN  uint32 `json:"asn"`
	Addr string `json:"addr"`
}

func u32(v uint32) *uint32 { return &v }

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func viewAttrs(a *route.Attrs) *attrsView {
	if a == nil {
		return nil
	}
	v := &attrsView{
		ASPath:         a.ASPath.String(),
		ASPathLength:   a.ASPath.Len(),
		OriginPrepends: a.ASPath.OriginPrepends(),
		Origin:         a.Origin.String(),
		NextHop:        addrString(a.NextHop),
		Atomic:         a.AtomicAggregate,
		Communities:    make([]string, len(a.Communities)),
		Large:          make([]string, len(a.LargeCommunities)),
	}
	if o, ok := a.ASPath.Origin(); ok {
		v.OriginASN = u32(o)
	}
	if u, ok := a.ASPath.Upstream(); ok {
		v.UpstreamASN = u32(u)
	}
	if a.HasMED {
		v.MED = u32(a.MED)
	}
	if a.HasLocalPref {
		v.LocalPref = u32(a.LocalPref)
	}
	if a.Aggregator != nil {
		v.Aggregator = &aggView{ASN: a.Aggregator.ASN, Addr: addrString(a.Aggregator.Addr)}
	}
	for i, c := range a.Communities {
		v.Communities[i] = strconv.FormatUint(uint64(c>>16), 10) + ":" + strconv.FormatUint(uint64(c&0xffff), 10)
	}
	for i, c := range a.LargeCommunities {
		v.Large[i] = strconv.FormatUint(uint64(c.Global), 10) + ":" +
			strconv.FormatUint(uint64(c.Local1), 10) + ":" + strconv.FormatUint(uint64(c.Local2), 10)
	}
	return v
}

type peerView struct {
	Addr      string `json:"addr"`
	ASN       uint32 `json:"asn"`
	Collector string `json:"collector,omitempty"`
	// BMP vantage points only (see route.Peer).
	Router        string     `json:"router,omitempty"`
	Distinguisher uint64     `json:"distinguisher,omitempty"`
	View          route.View `json:"view,omitempty"`
}

func viewPeer(p route.Peer) peerView {
	return peerView{Addr: addrString(p.Addr), ASN: p.ASN, Collector: p.Collector, Router: p.Router, Distinguisher: p.Distinguisher, View: p.View}
}

type tagView struct {
	Provider    string `json:"provider"`
	Region      string `json:"region"`
	Service     string `json:"service"`
	BorderGroup string `json:"network_border_group"`
	Match       string `json:"match"`
}

func viewTags(ts []route.Tag) []tagView {
	out := make([]tagView, len(ts))
	for i, t := range ts {
		out[i] = tagView{Provider: t.Provider, Region: t.Region, Service: t.Service, BorderGroup: t.BorderGroup, Match: t.Match.String()}
	}
	return out
}

type routeView struct {
	Peer   peerView   `json:"peer"`
	PathID uint32     `json:"path_id"`
	Since  *time.Time `json:"since"`
	Stale  bool       `json:"stale"`
	Path   *attrsView `json:"path"`
	// RPKI is the route's origin validation state with the VRPs in force
	// at read time ("" without VRPs).
	RPKI route.ROVState `json:"rpki"`
}

func viewRoute(r store.Route, p netip.Prefix, v Validator) routeView {
	a := r.Attrs
	return routeView{Peer: viewPeer(r.Peer), PathID: r.PathID, Since: timePtr(r.Since), Stale: r.Stale, Path: viewAttrs(&a),
		RPKI: validate(v, p, &a)}
}

// validate is the ROV state of p announced with a (ROVNone without VRPs
// or without a path).
func validate(v Validator, p netip.Prefix, a *route.Attrs) route.ROVState {
	if v == nil || a == nil {
		return route.ROVNone
	}
	return v.ValidatePath(p, a.ASPath)
}

// capTags keeps the first limit tags: a short covering prefix can match
// thousands of ranges, and a page's limit bounds them too.
func capTags(ts []route.Tag, limit int) []route.Tag {
	if limit > 0 && len(ts) > limit {
		return ts[:limit]
	}
	return ts
}

// timePtr renders the zero time as null.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

type prefixRoutesView struct {
	Prefix string      `json:"prefix"`
	Tags   []tagView   `json:"tags"`
	Peers  int         `json:"peers_seeing"`
	Routes []routeView `json:"routes"`
}

func viewPrefixRoutes(pr store.PrefixRoutes, m Matcher, val Validator, tagLimit int) prefixRoutesView {
	tags := pr.Tags
	if len(tags) == 0 && m != nil {
		tags = m.Match(pr.Prefix)
	}
	v := prefixRoutesView{Prefix: pr.Prefix.String(), Tags: viewTags(capTags(tags, tagLimit)), Routes: make([]routeView, len(pr.Routes))}
	seeing := map[route.Peer]bool{}
	for i, r := range pr.Routes {
		v.Routes[i] = viewRoute(r, pr.Prefix, val)
		if !r.Stale {
			seeing[r.Peer] = true
		}
	}
	v.Peers = len(seeing)
	return v
}

type prefixView struct {
	Prefix     string             `json:"prefix"`
	Requested  string             `json:"requested"`
	Match      string             `json:"match"`
	At         *time.Time         `json:"at"`
	Tags       []tagView          `json:"tags"`
	Prefixes   []prefixRoutesView `json:"prefixes"`
	NextCursor string             `json:"next_cursor"`
}

type historyEntryView struct {
	Time   time.Time  `json:"time"`
	Peer   peerView   `json:"peer"`
	PathID uint32     `json:"path_id"`
	Change string     `json:"change"`
	Old    *attrsView `json:"old"`
	New    *attrsView `json:"new"`
	// RPKI is the state of the new path with the VRPs in force at read
	// time ("" for a withdrawal or without VRPs).
	RPKI route.ROVState `json:"rpki"`
}

// changeName classifies a history entry the way an engineer reads it.
func changeName(old, new *route.Attrs) string {
	switch {
	case old == nil && new == nil:
		return "none"
	case old == nil:
		return "announce"
	case new == nil:
		return "withdraw"
	case !old.ASPath.Equal(new.ASPath):
		return "path_change"
	}
	return "attribute_change"
}

func viewHistory(h store.HistoryEntry, p netip.Prefix, v Validator) historyEntryView {
	return historyEntryView{
		Time: h.Time.UTC(), Peer: viewPeer(h.Peer), PathID: h.PathID,
		Change: changeName(h.Old, h.New), Old: viewAttrs(h.Old), New: viewAttrs(h.New), RPKI: validate(v, p, h.New),
	}
}

type historyView struct {
	Prefix     string             `json:"prefix"`
	Entries    []historyEntryView `json:"entries"`
	NextCursor string             `json:"next_cursor"`
}

// eventView mirrors route.Event (the event contract) field for field; it
// exists only to render nil slices as [] and times in UTC.
type eventView struct {
	ID             string             `json:"id"`
	Kind           route.EventKind    `json:"kind"`
	Provider       string             `json:"provider"`
	Region         string             `json:"region"`
	Service        string             `json:"service"`
	Start          time.Time          `json:"start"`
	Detected       time.Time          `json:"detected"`
	End            *time.Time         `json:"end"`
	Prefixes       int                `json:"prefixes"`
	Peers          int                `json:"peers"`
	Sessions       int                `json:"sessions"`
	Summary        string             `json:"summary"`
	Transitions    []route.Transition `json:"transitions"`
	Signals        []route.Signal     `json:"signals"`
	Origins        []uint32           `json:"origins"`
	RPKI           *route.ROVCounts   `json:"rpki,omitempty"`
	Cause          route.Cause        `json:"cause"`
	Incident       string             `json:"incident"`
	AffectedPeers  []peerView         `json:"affected_peers"`
	SamplePrefixes []string           `json:"sample_prefixes"`
}

func viewEvent(e route.Event) eventView {
	v := eventView{
		ID: e.ID, Kind: e.Kind, Provider: e.Provider, Region: e.Region, Service: e.Service,
		Start: e.Start.UTC(), Detected: e.Detected.UTC(), Prefixes: e.Prefixes, Peers: e.Peers, Sessions: e.Sessions, Summary: e.Summary,
		Transitions: append([]route.Transition{}, e.Transitions...),
		Signals:     append([]route.Signal{}, e.Signals...),
		Origins:     append([]uint32{}, e.Origins...),
		RPKI:        e.RPKI,
		Cause:       e.Cause, Incident: e.Incident,
		AffectedPeers:  make([]peerView, len(e.AffectedPeers)),
		SamplePrefixes: make([]string, len(e.SamplePrefixes)),
	}
	if e.End != nil {
		end := e.End.UTC()
		v.End = &end
	}
	for i, p := range e.AffectedPeers {
		v.AffectedPeers[i] = viewPeer(p)
	}
	for i, p := range e.SamplePrefixes {
		v.SamplePrefixes[i] = p.String()
	}
	return v
}

type eventsView struct {
	Events     []eventView `json:"events"`
	NextCursor string      `json:"next_cursor"`
}

type groupView struct {
	Provider        string     `json:"provider"`
	Region          string     `json:"region"`
	Prefixes        int        `json:"prefixes"`
	Visible         int        `json:"visible"`
	Visibility      float64    `json:"visibility"`
	PeerPaths       int        `json:"peer_paths"`
	AvgPeers        float64    `json:"avg_peers_per_prefix"`
	ChangesLastHour int        `json:"changes_last_hour"`
	LastChange      *time.Time `json:"last_change"`
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	// Three decimals keep golden files stable and are plenty for a share.
	return float64(int(float64(a)/float64(b)*1000+0.5)) / 1000
}

func viewGroup(g store.GroupSummary) groupView {
	return groupView{
		Provider: g.Provider, Region: g.Region, Prefixes: g.Prefixes, Visible: g.Visible,
		Visibility: ratio(g.Visible, g.Prefixes), PeerPaths: g.PeerPaths, AvgPeers: ratio(g.PeerPaths, g.Prefixes),
		ChangesLastHour: g.Changes, LastChange: timePtr(g.LastChange),
	}
}

type providerView struct {
	Provider        string      `json:"provider"`
	Prefixes        int         `json:"prefixes"`
	Visible         int         `json:"visible"`
	Visibility      float64     `json:"visibility"`
	PeerPaths       int         `json:"peer_paths"`
	ChangesLastHour int         `json:"changes_last_hour"`
	Regions         []groupView `json:"regions"`
}

type providersView struct {
	Providers []providerView `json:"providers"`
}

// prefixVisibilityView is one prefix of a region and how many peers see
// it now.
type prefixVisibilityView struct {
	Prefix string `json:"prefix"`
	Peers  int    `json:"peers"`
	Stale  int    `json:"stale"`
	Paths  int    `json:"paths"`
}

func viewPrefixVisibility(v store.PrefixVisibility) prefixVisibilityView {
	return prefixVisibilityView{Prefix: v.Prefix.String(), Peers: v.Peers, Stale: v.Stale, Paths: v.Paths}
}

// regionView pages the per-prefix list; "prefixes" is already the count.
type regionView struct {
	groupView
	OpenEvents       []eventView            `json:"open_events"`
	PrefixVisibility []prefixVisibilityView `json:"prefix_visibility"`
	NextCursor       string                 `json:"next_cursor"`
}

type peerInfoView struct {
	Peer          peerView   `json:"peer"`
	Source        string     `json:"source"`
	State         string     `json:"state"`
	StateSince    *time.Time `json:"state_since"`
	UptimeSeconds *int64     `json:"uptime_seconds"`
	LastUpdate    *time.Time `json:"last_update"`
	Prefixes      int        `json:"prefixes"`
	Flaps         int        `json:"flaps"`
	SysDescr      string     `json:"sys_descr,omitempty"`
}

func viewPeerInfo(p store.PeerInfo, now time.Time) peerInfoView {
	v := peerInfoView{
		Peer: viewPeer(p.Peer), Source: p.Source, State: p.State.String(), StateSince: timePtr(p.StateSince),
		LastUpdate: timePtr(p.LastUpdate), Prefixes: p.Prefixes, Flaps: p.Flaps, SysDescr: p.SysDescr,
	}
	if p.State == route.StateEstablished && !p.StateSince.IsZero() {
		up := int64(now.Sub(p.StateSince) / time.Second)
		if up < 0 {
			up = 0
		}
		v.UptimeSeconds = &up
	}
	return v
}

type peersView struct {
	Peers      []peerInfoView `json:"peers"`
	NextCursor string         `json:"next_cursor"`
}

type asnPrefixView struct {
	Prefix string    `json:"prefix"`
	Tags   []tagView `json:"tags"`
}

type asnView struct {
	ASN        uint32          `json:"asn"`
	Prefixes   []asnPrefixView `json:"prefixes"`
	NextCursor string          `json:"next_cursor"`
}
