package ranges

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// versionedServer serves one body with an ETag (or Last-Modified) and
// answers conditional requests with 304 while the body is unchanged.
type versionedServer struct {
	mu          sync.Mutex
	body        string
	etag        string
	lastMod     string
	status      int // non-zero: answer this instead
	conditional int // requests that carried a validator
}

func (v *versionedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
		v.conditional++
	}
	if v.status != 0 {
		http.Error(w, "down", v.status)
		return
	}
	if v.etag != "" {
		w.Header().Set("ETag", v.etag)
		if r.Header.Get("If-None-Match") == v.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if v.lastMod != "" {
		w.Header().Set("Last-Modified", v.lastMod)
		if r.Header.Get("If-Modified-Since") == v.lastMod {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Write([]byte(v.body))
}

func (v *versionedServer) set(f func(v *versionedServer)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v)
}

func matches(s *Set, p string) bool { return s.Match(netip.MustParsePrefix(p)) != nil }

func TestRefresher(t *testing.T) {
	for _, validator := range []string{"etag", "last-modified"} {
		t.Run(validator, func(t *testing.T) {
			vs := &versionedServer{body: "10.0.0.0/8\n"}
			setVersion := func(v *versionedServer, n string) {
				if validator == "etag" {
					v.etag = `"` + n + `"`
				} else {
					v.lastMod = "Mon, 0" + n + " Jan 2026 00:00:00 GMT"
				}
			}
			vs.set(func(v *versionedServer) { setVersion(v, "1") })
			srv := httptest.NewServer(vs)
			defer srv.Close()

			var logs bytes.Buffer
			reg := prometheus.NewRegistry()
			spec := "cf=" + srv.URL + "/ips"
			r := NewRefresher([]string{spec}, time.Hour, Options{}, slog.New(slog.NewTextHandler(&logs, nil)), reg)
			ctx := context.Background()

			if r.Set() == nil || r.Set().Len() != 0 {
				t.Fatal("before the first refresh the set must be empty, not nil")
			}
			step := func(name string, wantErr bool, wantPrefix string, wantConditional int) {
				t.Helper()
				err := r.Refresh(ctx)
				if (err != nil) != wantErr {
					t.Fatalf("%s: err %v, want error %v", name, err, wantErr)
				}
				if !matches(r.Set(), wantPrefix) {
					t.Fatalf("%s: set does not match %s", name, wantPrefix)
				}
				vs.mu.Lock()
				defer vs.mu.Unlock()
				if vs.conditional != wantConditional {
					t.Fatalf("%s: %d conditional requests, want %d", name, vs.conditional, wantConditional)
				}
			}
			step("first load", false, "10.0.0.0/8", 0)
			first := r.Set()
			step("unchanged", false, "10.0.0.0/8", 1)
			if r.Set() != first {
				t.Error("an unchanged source rebuilt the set")
			}
			vs.set(func(v *versionedServer) { v.body = "192.0.2.0/24\n"; setVersion(v, "2") })
			step("changed", false, "192.0.2.0/24", 2)
			if matches(r.Set(), "10.0.0.0/8") {
				t.Error("old range still in force after an update")
			}
			vs.set(func(v *versionedServer) { v.body = "192.0.2.0/24\n999.0.0.0/8\n"; setVersion(v, "3") })
			step("malformed keeps last good", true, "192.0.2.0/24", 3)
			vs.set(func(v *versionedServer) { v.status = http.StatusInternalServerError })
			step("HTTP error keeps last good", true, "192.0.2.0/24", 4)
			vs.set(func(v *versionedServer) { v.status = 0; v.body = "" })
			step("empty body keeps last good", true, "192.0.2.0/24", 5)

			if got := testutil.ToFloat64(r.failures.WithLabelValues(spec)); got != 3 {
				t.Errorf("failures counter %v, want 3", got)
			}
			for result, want := range map[string]float64{"updated": 2, "not_modified": 1, "error": 3} {
				if got := testutil.ToFloat64(r.refreshes.WithLabelValues(spec, result)); got != want {
					t.Errorf("refreshes{result=%s} = %v, want %v", result, got, want)
				}
			}
			if n, err := testutil.GatherAndCount(reg, "routewatch_ranges_refresh_failures_total", "routewatch_ranges_prefixes"); err != nil || n != 2 {
				t.Errorf("registered series %d, err %v", n, err)
			}
			if !strings.Contains(logs.String(), "999.0.0.0/8") || !strings.Contains(logs.String(), "line 2") {
				t.Errorf("the malformed refresh was not logged with its reason:\n%s", logs.String())
			}
		})
	}
}

func TestRefresherFileAndPartialFailure(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	bad := filepath.Join(dir, "bad.txt")
	write := func(name, body string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(name, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write(good, "10.0.0.0/8\n", t0)
	write(bad, "nonsense\n", t0)
	r := NewRefresher([]string{"a=" + good, "b=" + bad}, time.Hour, Options{}, nil, nil)
	if err := r.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "bad.txt") {
		t.Fatalf("err %v, want one naming bad.txt", err)
	}
	if !matches(r.Set(), "10.0.0.0/8") {
		t.Fatal("the good source is not in force while the other fails")
	}
	write(bad, "192.0.2.0/24\n", t0.Add(time.Minute))
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !matches(r.Set(), "10.0.0.0/8") || !matches(r.Set(), "192.0.2.0/24") {
		t.Fatal("both sources should be in force")
	}
	before := r.Set()
	if err := r.Refresh(context.Background()); err != nil || r.Set() != before {
		t.Fatalf("unchanged files rebuilt the set (err %v)", err)
	}
	write(good, "garbage\n", t0.Add(2*time.Minute))
	if err := r.Refresh(context.Background()); err == nil {
		t.Fatal("no error for a broken file")
	}
	if !matches(r.Set(), "10.0.0.0/8") || r.Set() != before {
		t.Fatal("the last good entries of the broken file are gone")
	}
}

func TestRefresherRun(t *testing.T) {
	vs := &versionedServer{body: "10.0.0.0/8\n", etag: `"1"`}
	srv := httptest.NewServer(vs)
	defer srv.Close()
	r := NewRefresher([]string{"x=" + srv.URL}, 10*time.Millisecond, Options{}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		vs.mu.Lock()
		n := vs.conditional
		vs.mu.Unlock()
		if n >= 2 && matches(r.Set(), "10.0.0.0/8") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not refresh on its interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
}

func TestRefresherNoSpecs(t *testing.T) {
	r := NewRefresher(nil, 0, Options{}, nil, nil)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Set().Len() != 0 || r.Set().watch[16509] == nil {
		t.Error("a refresher without sources should carry only the default watch list")
	}
}
