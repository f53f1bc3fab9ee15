package archive_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"routewatch/archive"
	"routewatch/internal/archivetest"
	"routewatch/internal/testenv"
	"routewatch/mrtdata"
	"routewatch/mrtdata/scenario"
	"routewatch/rislive"
	"routewatch/route"
)

var windowStart = time.Date(2021, 12, 15, 16, 0, 0, 0, time.UTC)

// fixture is a scenario written as two collectors' archives (RIS rrc00,
// gzip; RouteViews route-views2, bzip2) and served over HTTP.
type fixture struct {
	sc     *scenario.Scenario
	tree   archivetest.Tree
	srv    *httptest.Server
	mu     sync.Mutex
	hits   map[string]int
	flaky  map[string]bool // first GET of these paths is cut short
	ranges int             // Range requests seen
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sc, err := scenario.Build("te_shift", scenario.Options{Seed: 1, Start: windowStart, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var cs []archive.Collector
	for _, n := range []string{"rrc00", "route-views2"} {
		c, err := archive.ResolveCollector(n, "")
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	tree, err := archivetest.Write(t.TempDir(), sc, cs, testenv.Command(t, "bzip2"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sc: sc, tree: tree, hits: map[string]int{}, flaky: map[string]bool{}}
	files := http.FileServer(http.Dir(tree.Dir))
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.hits[r.URL.Path]++
		first := f.hits[r.URL.Path] == 1
		cut := f.flaky[strings.TrimPrefix(r.URL.Path, "/")] && first
		if r.Header.Get("Range") != "" {
			f.ranges++
		}
		f.mu.Unlock()
		if cut {
			b, err := os.ReadFile(tree.Path(strings.TrimPrefix(r.URL.Path, "/")))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			// Announce the whole file, send half: the connection drops.
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b[:len(b)/2])
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) config(cache string) archive.Config {
	return archive.Config{
		Collectors: []string{"rrc00", "route-views2"},
		BaseURLs:   map[string]string{"rrc00": f.srv.URL + "/rrc00", "route-views2": f.srv.URL + "/route-views2"},
		CacheDir:   cache,
		From:       windowStart.Add(5 * time.Minute),
		To:         f.sc.End.Add(time.Minute),
	}
}

// collect runs a and returns every batch's updates and states.
func collect(t *testing.T, a *archive.Archive) ([]route.Update, []route.PeerState, error) {
	t.Helper()
	out := make(chan route.Batch, 4)
	var ups []route.Update
	var sts []route.PeerState
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range out {
			ups = append(ups, b.Updates...)
			sts = append(sts, b.States...)
		}
	}()
	err := a.Run(context.Background(), out)
	close(out)
	<-done
	return ups, sts, err
}

// handRead reads files with mrtdata directly (each collector's files in
// order, collectors merged with mrtdata.Merger), the way a replay of the
// same files given by hand sees them.
func handRead(t *testing.T, byCollector [][]string, names []string, to time.Time) []route.Update {
	t.Helper()
	var streams []mrtdata.RecordStream
	for _, files := range byCollector {
		streams = append(streams, &chain{t: t, files: files})
	}
	m := mrtdata.NewMerger(streams...)
	var out []route.Update
	for {
		rec, i, err := m.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("hand read: %v", err)
		}
		if !rec.Time.Before(to) {
			continue
		}
		for _, u := range rec.Updates {
			u.Source = names[i]
			out = append(out, u)
		}
	}
}

// chain reads files one after the other (a truncated file ends where it
// ends, as in the archive reader).
type chain struct {
	t     *testing.T
	files []string
	cur   *mrtdata.Reader
	rc    io.Closer
}

func (c *chain) Next() (mrtdata.Record, error) {
	for {
		if c.cur == nil {
			if len(c.files) == 0 {
				return mrtdata.Record{}, io.EOF
			}
			rc, err := mrtdata.Open(context.Background(), c.files[0])
			if err != nil {
				c.t.Fatal(err)
			}
			c.cur, c.rc = mrtdata.NewReader(rc, c.files[0]), rc
			c.t.Cleanup(func() { rc.Close() })
			c.files = c.files[1:]
		}
		rec, err := c.cur.Next()
		if err == nil || errors.Is(err, mrtdata.ErrCorrupt) {
			return rec, err
		}
		c.rc.Close()
		c.cur = nil
	}
}

func TestWindowFromLocalArchive(t *testing.T) {
	f := newFixture(t)
	ris := f.tree.Files["rrc00"]
	rv := f.tree.Files["route-views2"]
	if len(ris) < 8 || len(rv) < 3 {
		t.Fatalf("tree too small: %d RIS files, %d RouteViews files", len(ris), len(rv))
	}
	// A gap (RIS has them), a truncated RouteViews file, and a download
	// that drops halfway and must be resumed.
	missing := ris[3]
	if err := os.Remove(f.tree.Path(missing)); err != nil {
		t.Fatal(err)
	}
	truncated := rv[2]
	b, err := os.ReadFile(f.tree.Path(truncated))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.tree.Path(truncated), b[:len(b)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	f.flaky[ris[0]] = true

	cache := t.TempDir()
	a, err := archive.New(f.config(cache), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := collect(t, a)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	st := a.Stats()
	t.Logf("%s; problems: %q", st, st.Problems)
	t.Run("files chosen", func(t *testing.T) {
		// Every file of the tree but the missing one was requested; the
		// RIB at 16:00 is the one at or before the window's start (16:05).
		for _, p := range append(append([]string{}, ris...), rv...) {
			if f.hits["/"+p] == 0 && p != missing {
				t.Errorf("%s not requested", p)
			}
		}
		if f.hits["/"+missing] == 0 {
			t.Errorf("missing file %s not requested", missing)
		}
		if !strings.HasSuffix(ris[0], "bview.20211215.1600.gz") || !strings.HasSuffix(rv[0], "RIBS/rib.20211215.1600.bz2") {
			t.Errorf("RIB files %s, %s", ris[0], rv[0])
		}
	})
	t.Run("gaps and truncation reported", func(t *testing.T) {
		if st.Missing != 1 || st.Truncated != 1 || st.Failed != 0 || st.Complete() {
			t.Fatalf("stats %+v: want 1 missing, 1 truncated", st)
		}
		joined := strings.Join(st.Problems, "\n")
		if !strings.Contains(joined, filepath.Base(missing)) || !strings.Contains(joined, filepath.Base(truncated)) {
			t.Fatalf("problems do not name the files: %q", st.Problems)
		}
	})
	t.Run("resumed with Range", func(t *testing.T) {
		if f.hits["/"+ris[0]] != 2 || f.ranges == 0 {
			t.Fatalf("flaky RIB: %d requests, %d Range requests", f.hits["/"+ris[0]], f.ranges)
		}
	})
	t.Run("merged in order, equal to the files read by hand", func(t *testing.T) {
		var byC [][]string
		for _, files := range [][]string{ris, rv} {
			var paths []string
			for _, p := range files {
				if p != missing {
					paths = append(paths, f.tree.Path(p))
				}
			}
			byC = append(byC, paths)
		}
		want := handRead(t, byC, []string{"rrc00", "route-views2"}, f.config("").To)
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%d updates, want %d", len(got), len(want))
		}
		for i := range got {
			if i > 0 && got[i].Time.Before(got[i-1].Time) {
				t.Fatalf("update %d at %s before %s", i, got[i].Time, got[i-1].Time)
			}
			g, w := got[i], want[i]
			if g.Time != w.Time || g.Peer != w.Peer || g.Prefix != w.Prefix || g.Withdraw != w.Withdraw || g.Source != w.Source ||
				!reflect.DeepEqual(g.Attrs, w.Attrs) {
				t.Fatalf("update %d:\n got %+v\nwant %+v", i, g, w)
			}
		}
	})
	t.Run("second run from the cache", func(t *testing.T) {
		before := map[string]int{}
		for k, v := range f.hits {
			before[k] = v
		}
		a2, err := archive.New(f.config(cache), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := collect(t, a2)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(got) {
			t.Fatalf("%d updates from the cache, want %d", len(again), len(got))
		}
		for p, n := range f.hits {
			if n != before[p] && "/"+missing != p {
				t.Errorf("%s fetched again (%d → %d)", p, before[p], n)
			}
		}
		if s := a2.Stats(); s.Cached != s.Files {
			t.Errorf("%d of %d files from the cache", s.Cached, s.Files)
		}
	})
}

func TestMissingRIB(t *testing.T) {
	f := newFixture(t)
	rib := f.tree.Files["rrc00"][0]
	// An older RIB (8 h before) exists: with a fallback it is used.
	older := strings.Replace(rib, "bview.20211215.1600", "bview.20211215.0800", 1)
	if err := os.Rename(f.tree.Path(rib), f.tree.Path(older)); err != nil {
		t.Fatal(err)
	}
	t.Run("fatal", func(t *testing.T) {
		a, err := archive.New(f.config(t.TempDir()), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = collect(t, a)
		if !errors.Is(err, archive.ErrMissing) || !strings.Contains(err.Error(), "rrc00") || !strings.Contains(err.Error(), "RIB") {
			t.Fatalf("err = %v, want a missing rrc00 RIB", err)
		}
	})
	t.Run("fallback to the one before", func(t *testing.T) {
		cfg := f.config(t.TempDir())
		cfg.RIBFallback = 1
		a, err := archive.New(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ups, _, err := collect(t, a)
		if err != nil {
			t.Fatal(err)
		}
		// 08:00 … 15:55 are not in the tree: all missing, reported.
		st := a.Stats()
		if st.Missing != 1+8*12 || len(ups) == 0 {
			t.Fatalf("stats %+v, %d updates", st, len(ups))
		}
	})
}

func TestResolveCollector(t *testing.T) {
	tests := []struct {
		name, base, wantRoot, wantLayout, wantErr string
	}{
		{"rrc00", "", "https://data.ris.ripe.net/rrc00", "RIS", ""},
		{"rrc26", "", "https://data.ris.ripe.net/rrc26", "RIS", ""},
		{"rrc27", "", "", "", "unknown collector"},
		{"route-views2", "", "https://archive.routeviews.org", "RouteViews", ""},
		{"route-views.linx", "", "https://archive.routeviews.org/route-views.linx", "RouteViews", ""},
		{"route-views6", "", "https://archive.routeviews.org/route-views6", "RouteViews", ""},
		{"mycollector", "", "", "", "--base-url mycollector=URL"},
		{"mycollector", "http://mirror.example/rv/", "http://mirror.example/rv", "RouteViews", ""},
		{"rrc99", "http://mirror.example/ris", "http://mirror.example/ris", "RIS", ""},
		{"rrc00", "ftp://mirror.example", "", "", "base URL"},
		{"rrc00", "https://user:pw@mirror.example", "", "", "credentials"},
		{"../etc", "http://mirror.example", "", "", "not a collector name"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.base, func(t *testing.T) {
			c, err := archive.ResolveCollector(tt.name, tt.base)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.Root != tt.wantRoot || c.Layout.Name != tt.wantLayout {
				t.Fatalf("got %+v, %v", c, err)
			}
		})
	}
}

func TestFilesOfWindow(t *testing.T) {
	ris, _ := archive.ResolveCollector("rrc00", "")
	rv, _ := archive.ResolveCollector("route-views.linx", "")
	rv2, _ := archive.ResolveCollector("route-views2", "")
	from := time.Date(2021, 12, 15, 15, 0, 0, 0, time.UTC)
	to := time.Date(2021, 12, 15, 16, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"RIS RIB", ris.RIBAtOrBefore(from, 0).URL, "https://data.ris.ripe.net/rrc00/2021.12/bview.20211215.0800.gz"},
		{"RIS RIB before", ris.RIBAtOrBefore(from, 1).URL, "https://data.ris.ripe.net/rrc00/2021.12/bview.20211215.0000.gz"},
		{"RIS RIB exact", ris.RIBAtOrBefore(time.Date(2021, 12, 15, 16, 0, 0, 0, time.UTC), 0).URL, "https://data.ris.ripe.net/rrc00/2021.12/bview.20211215.1600.gz"},
		{"RIS RIB month", ris.RIBAtOrBefore(time.Date(2022, 1, 1, 7, 59, 0, 0, time.UTC), 1).URL, "https://data.ris.ripe.net/rrc00/2021.12/bview.20211231.1600.gz"},
		{"RIS first update", ris.Updates(from, to)[0].URL, "https://data.ris.ripe.net/rrc00/2021.12/updates.20211215.1500.gz"},
		{"RIS last update", last(ris.Updates(from, to)).URL, "https://data.ris.ripe.net/rrc00/2021.12/updates.20211215.1625.gz"},
		{"RIS update count", strconv.Itoa(len(ris.Updates(from, to))), "18"},
		{"RV RIB", rv.RIBAtOrBefore(from.Add(time.Minute), 0).URL, "https://archive.routeviews.org/route-views.linx/bgpdata/2021.12/RIBS/rib.20211215.1400.bz2"},
		{"RV updates", last(rv.Updates(from, to)).URL, "https://archive.routeviews.org/route-views.linx/bgpdata/2021.12/UPDATES/updates.20211215.1615.bz2"},
		{"RV update count", strconv.Itoa(len(rv.Updates(from, to))), "6"},
		{"route-views2", rv2.RIBAtOrBefore(from, 0).URL, "https://archive.routeviews.org/bgpdata/2021.12/RIBS/rib.20211215.1400.bz2"},
		{"cache path", rv2.RIBAtOrBefore(from, 0).Path, "route-views2/bgpdata/2021.12/RIBS/rib.20211215.1400.bz2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func last(fs []archive.File) archive.File { return fs[len(fs)-1] }

// Live is the RIS Live client's bootstrap.
var _ rislive.Bootstrapper = (*archive.Live)(nil)

func TestLiveBootstrap(t *testing.T) {
	f := newFixture(t)
	now := f.sc.End.Add(30 * time.Second)
	cfg := f.config(t.TempDir())
	live, err := archive.NewLive(cfg, func() time.Time { return now }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan route.Batch, 4)
	var ups []route.Update
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range out {
			ups = append(ups, b.Updates...)
		}
	}()
	until, err := live.Bootstrap(context.Background(), out)
	close(out)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) == 0 || until.IsZero() || until.After(now) || !until.Equal(ups[len(ups)-1].Time) {
		t.Fatalf("%d updates, until %s (now %s)", len(ups), until, now)
	}
	for _, u := range ups {
		if u.Peer.Collector != u.Source || (u.Source != "rrc00" && u.Source != "route-views2") {
			t.Fatalf("update %+v: collector %q, source %q", u, u.Peer.Collector, u.Source)
		}
	}
}
