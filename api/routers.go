package api

import (
	"cmp"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"routewatch/route"
	"routewatch/store"
)

// routerView is one BMP router, gathered from its vantage points (the
// store's peers with Source "bmp" and this Peer.Router).
type routerView struct {
	Router   string `json:"router"`
	Address  string `json:"address"`
	SysName  string `json:"sys_name"`
	SysDescr string `json:"sys_descr"`
	// State is "up" while any of its vantage points is Established.
	State string `json:"state"`
	// Since is when its earliest vantage point still up came up, or when
	// the last one went down.
	Since         *time.Time `json:"since"`
	VantagePoints int        `json:"vantage_points"`
	UpVantage     int        `json:"vantage_points_up"`
	// MonitoredPeers counts distinct monitored peers (a peer in two RIB
	// views once).
	MonitoredPeers int `json:"monitored_peers"`
	Prefixes       int `json:"prefixes"`
}

type routersView struct {
	Routers []routerView `json:"routers"`
}

func (s *Server) getRouters(c echo.Context) error {
	if err := checkQuery(c.QueryParams()); err != nil {
		return err
	}
	ctx, cancel := s.reqCtx(c)
	defer cancel()
	ps, err := s.st.Peers(ctx)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, routersView{Routers: viewRouters(ps)})
}

// viewRouters groups BMP vantage points by router, ordered by name.
func viewRouters(ps []store.PeerInfo) []routerView {
	byName := map[string]*routerView{}
	peers := map[string]map[netip.Addr]bool{}
	for _, p := range ps {
		if p.Source != "bmp" || p.Peer.Router == "" {
			continue
		}
		r := byName[p.Peer.Router]
		if r == nil {
			r = newRouterView(p.Peer.Router)
			byName[p.Peer.Router] = r
			peers[p.Peer.Router] = map[netip.Addr]bool{}
		}
		r.VantagePoints++
		r.Prefixes += p.Prefixes
		peers[p.Peer.Router][p.Peer.Addr] = true
		if p.SysDescr != "" {
			r.SysDescr = p.SysDescr
		}
		mergeRouterState(r, p)
	}
	out := make([]routerView, 0, len(byName))
	for name, r := range byName {
		r.MonitoredPeers = len(peers[name])
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b routerView) int { return cmp.Compare(a.Router, b.Router) })
	return out
}

// newRouterView splits the station's router name, "sysName@address" or
// the address alone.
func newRouterView(name string) *routerView {
	r := &routerView{Router: name, Address: name, State: "down"}
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		r.SysName, r.Address = name[:i], name[i+1:]
	}
	return r
}

func mergeRouterState(r *routerView, p store.PeerInfo) {
	since := p.StateSince
	if p.State != route.StateEstablished {
		if r.State == "down" && !since.IsZero() && (r.Since == nil || since.After(*r.Since)) {
			r.Since = &since
		}
		return
	}
	r.UpVantage++
	if r.State == "down" {
		r.State, r.Since = "up", nil
	}
	if !since.IsZero() && (r.Since == nil || since.Before(*r.Since)) {
		r.Since = &since
	}
}
