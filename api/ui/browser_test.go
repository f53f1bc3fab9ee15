package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"routewatch/internal/testenv"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
	"routewatch/service"
)

// browser is one headless chromium tab that records console errors,
// uncaught exceptions and failed requests for the whole test.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	mu   sync.Mutex
	errs []string
	urls []string
	// authHeaders counts API requests that carried an Authorization header.
	authHeaders int
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("ROUTEWATCH_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

func newBrowser(t *testing.T, width, height int64) *browser {
	t.Helper()
	chrome := testenv.Command(t, "chromium")
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(width), int(height)))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first action starts the browser: no timeout on it (it would
	// stop the browser), a bounded context for everything after.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelTimeout)
	b := &browser{t: t, ctx: tctx, dir: screenshotDir(t)}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatal(err)
	}
	enable := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, log.Enable, cdp.Empty{})
		return err
	})
	b.run(enable)
	return b
}

func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.errs = append(b.errs, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		b.errs = append(b.errs, fmt.Sprintf("exception: %s", e.ExceptionDetails.Text))
	case *log.EventEntryAdded:
		if e.Entry.Level == "error" || e.Entry.Level == "warning" {
			b.errs = append(b.errs, fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case *network.EventLoadingFailed:
		// A page load ends the previous page's open stream: canceled.
		if !e.Canceled {
			b.errs = append(b.errs, fmt.Sprintf("request failed: %s %s", e.ErrorText, e.RequestID))
		}
	case *network.EventResponseReceived:
		if e.Response.Status >= 400 {
			b.errs = append(b.errs, fmt.Sprintf("HTTP %d %s", int(e.Response.Status), e.Response.URL))
		}
	case *network.EventRequestWillBeSent:
		b.urls = append(b.urls, e.Request.URL)
		if _, ok := e.Request.Headers["Authorization"]; ok && strings.Contains(e.Request.URL, "/api/") {
			b.authHeaders++
		}
	}
}

// noErrors fails the test on anything recorded so far and resets.
func (b *browser) noErrors(page string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Errorf("%s: %s", page, e)
	}
	b.errs = nil
}

func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("chromium: %v", err)
	}
}

// waitPage waits until the client-side router has rendered page.
func waitPage(page string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"][data-page="` + page + `"]`))
}

// eval evaluates js in the page and decodes its value.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// eval evaluates js and decodes its JSON value into out (nil: drop).
func (b *browser) eval(js string, out any) {
	b.t.Helper()
	raw := eval[[]byte](b, js)
	if out != nil && raw != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("evaluate %s: decode %s: %v", js, raw, err)
		}
	}
}

// evalStep is an action that evaluates js and drops its value.
func evalStep(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[[]byte](js)(ctx, t)
		return chromedp.Void{}, err
	}
}

// wait polls a JS condition (e.g. for live content) for up to d.
func (b *browser) wait(js string, d time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.t.Fatalf("waiting for %s: %v", js, err)
	}
}

func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}

// shotElement saves a smaller picture of a page's main column (for the
// README) at 1100 px wide, scaled to 75 %.
func (b *browser) shotElement(name, url string) {
	b.t.Helper()
	b.run(chromedp.EmulateViewport(1100, 900), chromedp.Navigate(url), waitPage("event"))
	png, err := chromedp.Run(b.ctx, chromedp.ScreenshotScale(chromedp.CSS("main"), 0.75))
	if err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}

// phoneFits checks the page does not scroll sideways at 390 px.
func (b *browser) phoneFits(page string) {
	b.t.Helper()
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 391 {
		b.t.Errorf("%s: page is %d px wide on a 390-px phone", page, w)
	}
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

type eventsAnswer struct {
	Events []route.Event `json:"events"`
}

// outageScenario is the second scenario next to the demo: an outage of a
// region of its own, a day before the demo's shift, replayed at startup.
func outageScenario(t *testing.T) (mrt, ranges string, sc *scenario.Scenario) {
	var prefixes []netip.Prefix
	for i := range 40 {
		prefixes = append(prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i), 0}), 24))
	}
	sc = scenario.Outage(scenario.Options{Seed: 7, Start: time.Date(2021, 12, 14, 9, 0, 0, 0, time.UTC),
		Regions: []scenario.Region{{Provider: "aws", Region: "eu-central-1", Prefixes: prefixes}}})
	dir := t.TempDir()
	mrt, ranges = filepath.Join(dir, "outage.mrt"), filepath.Join(dir, "outage.ip-ranges.json")
	for _, f := range []struct {
		path  string
		write func(io.Writer) error
	}{{mrt, sc.Write}, {ranges, sc.WriteRanges}} {
		w, err := os.Create(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.write(w); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return mrt, ranges, sc
}

// startServe runs the assembled serve with the demo (fed live, at demo
// speed) and the outage scenario replayed at startup; it returns the base
// URL once the outage's event is in the API.
func startServe(t *testing.T) string {
	t.Helper()
	mrt, ranges, _ := outageScenario(t)
	cfg := service.Default()
	cfg.Demo = true
	cfg.Replay.Files = []string{mrt}
	cfg.Ranges.Specs = []string{ranges}
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	*cfg.Collector.Enabled = false
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + cfg.API.Listen
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the outage scenario's event never reached the API")
		}
		res, err := http.Get(base + "/api/v1/events?kind=withdrawal")
		if err != nil {
			continue
		}
		var ans eventsAnswer
		err = json.NewDecoder(res.Body).Decode(&ans)
		res.Body.Close()
		if err == nil && len(ans.Events) > 0 && ans.Events[0].End != nil {
			break
		}
	}
	// The demo's table follows the replay; the overview draws its tiles
	// at load (and again on event changes only), so the pages are tested
	// once the demo's regions are in, seconds before its shift opens.
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the demo's regions never reached the API")
		}
		if providerRegions(base) >= 2 {
			return base
		}
	}
}

// providerRegions counts the provider regions GET /api/v1/providers lists.
func providerRegions(base string) int {
	res, err := http.Get(base + "/api/v1/providers")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var ans struct {
		Providers []struct {
			Regions []json.RawMessage `json:"regions"`
		} `json:"providers"`
	}
	if json.NewDecoder(res.Body).Decode(&ans) != nil {
		return 0
	}
	n := 0
	for _, p := range ans.Providers {
		n += len(p.Regions)
	}
	return n
}

// demoShift waits for the demo's path shift in the API; resolved: until
// it has ended.
func demoShift(t *testing.T, base string, resolved bool) route.Event {
	t.Helper()
	for end := time.Now().Add(90 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		var ans eventsAnswer
		getJSON(t, base+"/api/v1/events?kind=path_shift&region=us-west-2", &ans)
		if len(ans.Events) > 0 && (!resolved || ans.Events[0].End != nil) {
			return ans.Events[0]
		}
	}
	t.Fatal("the demo's path shift did not reach the API in time")
	return route.Event{}
}
