package archive

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Layout is how a collector project publishes its archive: where the RIB
// dumps and the update files of a collector are under its root URL, and
// how often each is written. File names carry the UTC start time of what
// they hold.
type Layout struct {
	Name         string
	RIBEvery     time.Duration
	UpdatesEvery time.Duration
	// ribPath and updatesPath give a file's path below the collector's
	// root for its start time.
	ribPath, updatesPath func(t time.Time) string
}

// RIS is RIPE RIS: ROOT/YYYY.MM/bview.YYYYMMDD.HHMM.gz every 8 hours
// (00:00, 08:00, 16:00) and ROOT/YYYY.MM/updates.YYYYMMDD.HHMM.gz every 5
// minutes.
var RIS = Layout{
	Name: "RIS", RIBEvery: 8 * time.Hour, UpdatesEvery: 5 * time.Minute,
	ribPath: func(t time.Time) string {
		return t.Format("2006.01") + "/bview." + t.Format("20060102.1504") + ".gz"
	},
	updatesPath: func(t time.Time) string {
		return t.Format("2006.01") + "/updates." + t.Format("20060102.1504") + ".gz"
	},
}

// RouteViews is the RouteViews project: ROOT/bgpdata/YYYY.MM/RIBS/rib.YYYYMMDD.HHMM.bz2
// every 2 hours and ROOT/bgpdata/YYYY.MM/UPDATES/updates.YYYYMMDD.HHMM.bz2
// every 15 minutes.
var RouteViews = Layout{
	Name: "RouteViews", RIBEvery: 2 * time.Hour, UpdatesEvery: 15 * time.Minute,
	ribPath: func(t time.Time) string {
		return "bgpdata/" + t.Format("2006.01") + "/RIBS/rib." + t.Format("20060102.1504") + ".bz2"
	},
	updatesPath: func(t time.Time) string {
		return "bgpdata/" + t.Format("2006.01") + "/UPDATES/updates." + t.Format("20060102.1504") + ".bz2"
	},
}

// Public archive roots.
const (
	risRoot        = "https://data.ris.ripe.net/"
	routeViewsRoot = "https://archive.routeviews.org"
)

var (
	risName        = regexp.MustCompile(`^rrc([01][0-9]|2[0-6])$`)
	routeViewsName = regexp.MustCompile(`^route-views([0-9]+|\.[a-z0-9-]+)$`)
	// safeName keeps collector names usable as a cache folder.
	safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Collector is one collector's archive: its name, layout and root URL.
type Collector struct {
	Name   string
	Layout Layout
	Root   string // no trailing slash
}

// ResolveCollector finds the archive of a collector by name: RIS
// rrc00…rrc26 at data.ris.ripe.net/rrcNN, RouteViews route-views2 (no
// collector folder), route-views3…, route-views.linx … at
// archive.routeviews.org/<name>. A baseURL replaces the root (mirrors,
// tests); with one any name is accepted: "rrc…" names use the RIS
// layout, others the RouteViews layout.
func ResolveCollector(name, baseURL string) (Collector, error) {
	if !safeName.MatchString(name) {
		return Collector{}, fmt.Errorf("archive: collector %q: not a collector name", name)
	}
	ris := strings.HasPrefix(name, "rrc")
	c := Collector{Name: name, Layout: RouteViews}
	if ris {
		c.Layout = RIS
	}
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Collector{}, fmt.Errorf("archive: collector %s: base URL %q: want http(s)://host/…", name, baseURL)
		}
		if u.User != nil {
			// Credentials would end up in logs and cache paths.
			return Collector{}, fmt.Errorf("archive: collector %s: base URL must not carry credentials", name)
		}
		c.Root = strings.TrimRight(baseURL, "/")
		return c, nil
	}
	switch {
	case ris && risName.MatchString(name):
		c.Root = risRoot + name
	case name == "route-views2":
		c.Root = routeViewsRoot
	case routeViewsName.MatchString(name):
		c.Root = routeViewsRoot + "/" + name
	default:
		return Collector{}, fmt.Errorf("archive: unknown collector %q (RIS rrc00…rrc26, RouteViews route-views2, route-views.linx, …; "+
			"other names need --base-url %s=URL)", name, name)
	}
	return c, nil
}

// FileKind tells a RIB dump from an update file.
type FileKind uint8

const (
	KindRIB FileKind = iota + 1
	KindUpdates
)

func (k FileKind) String() string {
	if k == KindRIB {
		return "RIB"
	}
	return "updates"
}

// File is one archive file of a collector.
type File struct {
	Collector string
	Kind      FileKind
	Start     time.Time // UTC start of what it holds, from its name
	URL       string
	// Path is where the file lives in a cache: collector/<path below the
	// root>.
	Path string
}

func (c Collector) file(kind FileKind, t time.Time) File {
	t = t.UTC()
	rel := c.Layout.updatesPath(t)
	if kind == KindRIB {
		rel = c.Layout.ribPath(t)
	}
	return File{Collector: c.Name, Kind: kind, Start: t, URL: c.Root + "/" + rel, Path: c.Name + "/" + rel}
}

// RIBAtOrBefore returns the RIB dump that starts at or before t, and the
// n-th earlier one for back > 0.
func (c Collector) RIBAtOrBefore(t time.Time, back int) File {
	start := floor(t, c.Layout.RIBEvery).Add(-time.Duration(back) * c.Layout.RIBEvery)
	return c.file(KindRIB, start)
}

// Updates returns the update files that hold records of [from, to): the
// one that contains from, then every following one that starts before to.
func (c Collector) Updates(from, to time.Time) []File {
	var out []File
	for t := floor(from, c.Layout.UpdatesEvery); t.Before(to); t = t.Add(c.Layout.UpdatesEvery) {
		out = append(out, c.file(KindUpdates, t))
	}
	return out
}

// floor rounds t down to a multiple of step since the Unix epoch, in UTC.
func floor(t time.Time, step time.Duration) time.Time {
	s := int64(step / time.Second)
	u := t.Unix()
	u -= ((u % s) + s) % s
	return time.Unix(u, 0).UTC()
}
