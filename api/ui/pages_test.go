package ui_test

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"routewatch/route"
)

// TestBrowserPages drives chromium through every page of the UI served by
// serve with the demo running live and the outage scenario replayed.
func TestBrowserPages(t *testing.T) {
	b := newBrowser(t, 1280, 800)
	base := startServe(t)
	checkHeaders(t, base)

	// Overview before the demo's shift opens: the outage's region and its
	// resolved event are there; the shift then appears without a reload.
	b.run(chromedp.Navigate(base+"/"), waitPage("overview"))
	var before struct {
		Open    int  `json:"open"`
		Outage  bool `json:"outage"`
		Tiles   int  `json:"tiles"`
		Heading bool `json:"heading"`
	}
	b.eval(`({open: document.querySelectorAll('.open-events tr[data-event]').length,
		outage: !!document.querySelector('[data-group="aws/eu-central-1"]') && document.querySelector('.recent-events').textContent.includes('aws/eu-central-1'),
		tiles: document.querySelectorAll('.tile').length, heading: document.querySelector('h1').textContent === 'Overview'})`, &before)
	if before.Open != 0 {
		t.Fatalf("the demo's event was already open when the page loaded (%d open): cannot test the live update", before.Open)
	}
	if !before.Outage || !before.Heading || before.Tiles < 2 {
		t.Errorf("overview before the shift: %+v", before)
	}
	b.eval(`window.__sameDocument = true`, nil)
	b.wait(`!!document.querySelector('.open-events tr[data-event] a') && document.querySelector('.open-events').textContent.includes('aws/us-west-2')`, 60*time.Second)
	var same bool
	b.eval(`window.__sameDocument === true && performance.getEntriesByType('navigation').length === 1`, &same)
	if !same {
		t.Error("the open event appeared only after a reload")
	}
	b.wait(`document.getElementById('live').textContent.includes('live')`, 5*time.Second)
	b.shot("overview-1280")
	b.noErrors("overview")

	shift := demoShift(t, base, true)
	b.wait(`!document.querySelector('.open-events')`, 10*time.Second) // resolved live too
	checkTimeline(t, b, base, shift)
	checkEventPage(t, b, shift)
	checkPrefixPage(t, b, base, shift)
	checkPeersPage(t, b, base)
	checkOutage(t, b, base)

	b.shotElement("event-readme", base+"/events/"+url.PathEscape(shift.ID))

	// Phone layout: every page fits 390 px and renders.
	b.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	for _, p := range []struct{ name, path string }{
		{"overview", "/"}, {"timeline", "/timeline"}, {"event", "/events/" + url.PathEscape(shift.ID)},
		{"prefix", "/prefix/" + shift.SamplePrefixes[0].String()}, {"peers", "/peers"},
	} {
		b.run(chromedp.Navigate(base+p.path), waitPage(p.name))
		b.phoneFits(p.name)
		b.shot(p.name + "-390")
		b.noErrors(p.name + " (phone)")
	}
	// Offline: the pages loaded nothing from anywhere else.
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.urls {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the UI loaded %s", u)
		}
	}
}

// checkHeaders: the pages and assets carry a CSP without inline script
// or style, and the API's openness is unchanged.
func checkHeaders(t *testing.T, base string) {
	t.Helper()
	for _, path := range []string{"/", "/timeline", "/events/x", "/prefix/192.0.2.0/24", "/ui/app.js", "/ui/style.css"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if res.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "style-src 'self'") ||
			strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: %d, CSP %q", path, res.StatusCode, csp)
		}
	}
	for _, path := range []string{"/ui/nothing.js", "/ui/", "/nothing"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

func checkTimeline(t *testing.T, b *browser, base string, shift route.Event) {
	t.Helper()
	b.run(chromedp.Navigate(base+"/timeline"), waitPage("timeline"))
	var bar struct {
		Found       bool   `json:"found"`
		Start       string `json:"start"`
		End         string `json:"end"`
		Lanes       int    `json:"lanes"`
		Withdrawals int    `json:"withdrawals"`
	}
	b.eval(fmt.Sprintf(`(() => {
		const r = document.querySelector('rect.bar[data-id=%q]'), svg = document.querySelector('svg.timeline');
		if (!r) return {found: false};
		return {found: true, start: r.dataset.start, end: r.dataset.end,
			lanes: svg.querySelectorAll('.lane-label').length, withdrawals: svg.querySelectorAll('rect.bar.k-withdrawal').length};
	})()`, shift.ID), &bar)
	if !bar.Found {
		t.Fatalf("timeline: no bar for event %s", shift.ID)
	}
	var geo map[string]float64
	b.eval(fmt.Sprintf(`(() => { const r = document.querySelector('rect.bar[data-id=%q]'), svg = document.querySelector('svg.timeline');
		return {x: +r.getAttribute('x'), w: +r.getAttribute('width'), t0: +svg.dataset.t0, t1: +svg.dataset.t1, x0: +svg.dataset.x0, pw: +svg.dataset.w}; })()`, shift.ID), &geo)
	if bar.Start != shift.Start.UTC().Format(time.RFC3339) || bar.End != shift.End.UTC().Format(time.RFC3339) {
		t.Errorf("bar spans %s-%s, event %s-%s", bar.Start, bar.End, shift.Start, shift.End)
	}
	// Read the bar's minutes back from its pixels.
	msPerPx := (geo["t1"] - geo["t0"]) / geo["pw"]
	startAt := time.UnixMilli(int64(geo["t0"] + (geo["x"]-geo["x0"])*msPerPx)).UTC()
	endAt := time.UnixMilli(int64(geo["t0"] + (geo["x"]+geo["w"]-geo["x0"])*msPerPx)).UTC()
	if d := startAt.Sub(shift.Start); math.Abs(d.Minutes()) > 1 {
		t.Errorf("bar starts at %s on screen, event starts %s", startAt, shift.Start)
	}
	if d := endAt.Sub(*shift.End); math.Abs(d.Minutes()) > 1 {
		t.Errorf("bar ends at %s on screen, event ends %s", endAt, shift.End)
	}
	if bar.Lanes < 2 || bar.Withdrawals < 1 {
		t.Errorf("timeline: %d lanes, %d withdrawal bars; want both scenarios' lanes", bar.Lanes, bar.Withdrawals)
	}
	// Zoom in with the keyboard and back out with the button.
	var span0, span1 float64
	b.eval(`+document.querySelector('svg.timeline').dataset.t1 - +document.querySelector('svg.timeline').dataset.t0`, &span0)
	b.run(chromedp.Focus(chromedp.CSS(`svg.timeline`)), chromedp.KeyEvent("+"))
	b.eval(`+document.querySelector('svg.timeline').dataset.t1 - +document.querySelector('svg.timeline').dataset.t0`, &span1)
	if !(span1 < span0*0.6) {
		t.Errorf("+ did not zoom in: span %v -> %v", span0, span1)
	}
	b.run(chromedp.Click(chromedp.CSS(`#tl-fit`)))
	// Filter by kind: only withdrawals stay.
	b.run(evalStep(`(s => { s.value = 'withdrawal'; s.dispatchEvent(new Event('change', {bubbles: true})); })(document.getElementById('tl-kind'))`))
	var kinds []string
	b.eval(`[...new Set([...document.querySelectorAll('rect.bar')].map(r => r.getAttribute('class')))]`, &kinds)
	if len(kinds) != 1 || !strings.Contains(kinds[0], "k-withdrawal") {
		t.Errorf("kind filter withdrawal shows bars %v", kinds)
	}
	b.run(evalStep(`(s => { s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true})); })(document.getElementById('tl-kind'))`))
	b.shot("timeline-1280")
	b.noErrors("timeline")

	// Keyboard: Tab from the top of the page reaches the bars; Enter on
	// the shift's bar opens its event page.
	b.run(evalStep(`document.activeElement.blur(); window.scrollTo(0,0)`))
	reached := false
	for range 40 {
		b.run(chromedp.KeyEvent(kb.Tab))
		id := eval[string](b, `document.activeElement.dataset ? (document.activeElement.dataset.id || '') : ''`)
		if id == shift.ID {
			reached = true
			break
		}
	}
	if !reached {
		t.Fatal("Tab never reached the event's bar")
	}
	b.run(chromedp.KeyEvent(kb.Enter), waitPage("event"))
	var path string
	b.eval(`location.pathname`, &path)
	if path != "/events/"+url.PathEscape(shift.ID) {
		t.Errorf("Enter on the bar opened %s", path)
	}
}

func checkEventPage(t *testing.T, b *browser, shift route.Event) {
	t.Helper()
	var g struct {
		Nodes         []string `json:"nodes"`
		Removed       int      `json:"removed"`
		Added         int      `json:"added"`
		RemovedDash   string   `json:"removedDash"`
		AddedDash     string   `json:"addedDash"`
		RemovedColour string   `json:"removedColour"`
		AddedColour   string   `json:"addedColour"`
		Legend        string   `json:"legend"`
		Marks         []string `json:"marks"`
		StartMark     string   `json:"startMark"`
		EndMark       string   `json:"endMark"`
		Upstreams     string   `json:"upstreams"`
		Samples       int      `json:"samples"`
		Peers         int      `json:"peers"`
		JSONLink      string   `json:"json"`
	}
	b.eval(`(() => {
		const cs = (sel, p) => { const e = document.querySelector(sel); return e ? getComputedStyle(e)[p] : ''; };
		return {nodes: [...document.querySelectorAll('.asgraph .node')].map(n => n.dataset.asn),
			removed: document.querySelectorAll('.asgraph .edge.removed').length, added: document.querySelectorAll('.asgraph .edge.added').length,
			removedDash: cs('.asgraph .edge.removed', 'strokeDasharray'), addedDash: cs('.asgraph .edge.added', 'strokeDasharray'),
			removedColour: cs('.asgraph .edge.removed', 'stroke'), addedColour: cs('.asgraph .edge.added', 'stroke'),
			legend: document.querySelector('.graph-wrap .legend').textContent,
			marks: [...document.querySelectorAll('.chart .mark')].map(m => m.dataset.mark),
			startMark: (document.querySelector('.chart .mark[data-mark=start]') || {dataset: {}}).dataset.time || '',
			endMark: (document.querySelector('.chart .mark[data-mark=end]') || {dataset: {}}).dataset.time || '',
			upstreams: document.querySelector('table.upstreams').textContent,
			samples: document.querySelectorAll('.samples a.prefix-link').length, peers: document.querySelectorAll('.peers-list li').length,
			json: document.querySelector('a.json-link').getAttribute('href')};
	})()`, &g)
	for _, asn := range []string{"3356", "2914", "16509"} {
		if !slices.Contains(g.Nodes, asn) {
			t.Errorf("graph has no node AS%s (nodes %v)", asn, g.Nodes)
		}
	}
	if g.Removed == 0 || g.Added == 0 {
		t.Errorf("graph: %d removed, %d added edges", g.Removed, g.Added)
	}
	if g.RemovedDash == "none" || g.RemovedDash == "" || g.AddedDash != "none" || g.RemovedColour == g.AddedColour {
		t.Errorf("removed edges (%s, dash %s) and added edges (%s, dash %s) look alike", g.RemovedColour, g.RemovedDash, g.AddedColour, g.AddedDash)
	}
	if !strings.Contains(g.Legend, "removed") || !strings.Contains(g.Legend, "added") {
		t.Errorf("graph legend %q", g.Legend)
	}
	if g.StartMark != shift.Start.UTC().Format(time.RFC3339) || g.EndMark != shift.End.UTC().Format(time.RFC3339) || !slices.Contains(g.Marks, "detected") {
		t.Errorf("chart marks %v start %q end %q; event %s-%s", g.Marks, g.StartMark, g.EndMark, shift.Start, shift.End)
	}
	if !strings.Contains(g.Upstreams, "AS3356") || !strings.Contains(g.Upstreams, "AS2914") {
		t.Errorf("upstream table %q", g.Upstreams)
	}
	if g.Samples != len(shift.SamplePrefixes) || g.Peers != len(shift.AffectedPeers) {
		t.Errorf("%d sample links, %d peers; event has %d, %d", g.Samples, g.Peers, len(shift.SamplePrefixes), len(shift.AffectedPeers))
	}
	if g.JSONLink != "/api/v1/events/"+url.PathEscape(shift.ID) {
		t.Errorf("JSON link %q", g.JSONLink)
	}
	b.shot("event-1280")
	// The before/after toggle hides the other side's edges.
	var shown struct{ Added, Removed int }
	b.run(chromedp.Click(chromedp.CSS(`input[name=graph-view][value=before]`)))
	b.eval(`({Added: [...document.querySelectorAll('.asgraph .edge.added')].filter(e => getComputedStyle(e).display !== 'none').length,
		Removed: [...document.querySelectorAll('.asgraph .edge.removed')].filter(e => getComputedStyle(e).display !== 'none').length})`, &shown)
	if shown.Added != 0 || shown.Removed == 0 {
		t.Errorf("'before' shows %d added and %d removed edges", shown.Added, shown.Removed)
	}
	b.run(chromedp.Click(chromedp.CSS(`input[name=graph-view][value=after]`)))
	b.eval(`({Added: [...document.querySelectorAll('.asgraph .edge.added')].filter(e => getComputedStyle(e).display !== 'none').length,
		Removed: [...document.querySelectorAll('.asgraph .edge.removed')].filter(e => getComputedStyle(e).display !== 'none').length})`, &shown)
	if shown.Added == 0 || shown.Removed != 0 {
		t.Errorf("'after' shows %d added and %d removed edges", shown.Added, shown.Removed)
	}
	b.shot("event-after-1280")
	b.noErrors("event")
}

type prefixAnswer struct {
	Prefixes []struct {
		Routes []struct {
			Peer struct {
				Addr string `json:"addr"`
			} `json:"peer"`
		} `json:"routes"`
	} `json:"prefixes"`
}

func routePeers(a prefixAnswer) []string {
	var out []string
	for _, pr := range a.Prefixes {
		for _, r := range pr.Routes {
			out = append(out, r.Peer.Addr)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func checkPrefixPage(t *testing.T, b *browser, base string, shift route.Event) {
	t.Helper()
	// From the event page: the first sample prefix's link.
	p := shift.SamplePrefixes[0]
	b.run(chromedp.Click(chromedp.CSS(`.samples a.prefix-link`)), waitPage("prefix"))
	var now prefixAnswer
	getJSON(t, base+"/api/v1/prefixes/"+p.String(), &now)
	want := routePeers(now)
	var rows []string
	b.eval(`[...document.querySelectorAll('table.routes tr[data-peer]')].map(r => r.dataset.peer).sort()`, &rows)
	if len(want) < 10 || !slices.Equal(rows, want) {
		t.Errorf("prefix page lists vantage points %v, the API %v", rows, want)
	}
	var marks int
	b.eval(`document.querySelectorAll('svg.history .hist-mark').length`, &marks)
	if marks == 0 {
		t.Error("prefix page: no history marks")
	}
	b.shot("prefix-1280")
	// ?at= during the shift: the paths of that time, via 2914.
	at := shift.Detected.Add(5 * time.Minute).UTC().Format(time.RFC3339)
	b.run(chromedp.Navigate(base+"/prefix/"+p.String()+"?at="+url.QueryEscape(at)), waitPage("prefix"))
	var then prefixAnswer
	getJSON(t, base+"/api/v1/prefixes/"+p.String()+"?at="+url.QueryEscape(at), &then)
	var atRows []string
	var text string
	b.eval(`[...document.querySelectorAll('table.routes tr[data-peer]')].map(r => r.dataset.peer).sort()`, &atRows)
	b.eval(`document.querySelector('table.routes').textContent`, &text)
	if !slices.Equal(atRows, routePeers(then)) || !strings.Contains(text, "2914") {
		t.Errorf("?at=%s lists %v (API %v); text has 2914: %v", at, atRows, routePeers(then), strings.Contains(text, "2914"))
	}
	b.shot("prefix-at-1280")
	b.noErrors("prefix")
}

func checkPeersPage(t *testing.T, b *browser, base string) {
	t.Helper()
	b.run(chromedp.Click(chromedp.CSS(`nav a[href="/peers"]`)), waitPage("peers"))
	var ans struct {
		Peers []struct {
			Peer struct {
				Addr string `json:"addr"`
			} `json:"peer"`
		} `json:"peers"`
	}
	getJSON(t, base+"/api/v1/peers", &ans)
	var n int
	b.eval(`document.querySelectorAll('table.peers tr[data-peer]').length`, &n)
	if n != len(ans.Peers) || n < 10 {
		t.Errorf("peers page lists %d peers, API %d", n, len(ans.Peers))
	}
	b.shot("peers-1280")
	b.noErrors("peers")
}

// checkOutage: the second scenario's withdrawal has its event page with
// withdrawn prefixes in the chart.
func checkOutage(t *testing.T, b *browser, base string) {
	t.Helper()
	var ans eventsAnswer
	getJSON(t, base+"/api/v1/events?kind=withdrawal", &ans)
	e := ans.Events[0]
	b.run(chromedp.Navigate(base+"/events/"+url.PathEscape(e.ID)), waitPage("event"))
	var wd struct {
		Points  int  `json:"points"`
		EndMark bool `json:"end"`
		Gone    bool `json:"gone"`
	}
	b.eval(`({points: (document.querySelector('.chart polyline[data-series=withdrawn_prefixes]') || {getAttribute: () => ''}).getAttribute('points').split(' ').length,
		end: !!document.querySelector('.chart .mark[data-mark=end]'), gone: document.querySelector('table.upstreams').textContent.includes('none')})`, &wd)
	if wd.Points < 10 || !wd.EndMark || !wd.Gone {
		t.Errorf("outage event page: %+v", wd)
	}
	b.shot("event-outage-1280")
	b.noErrors("outage event")
}
