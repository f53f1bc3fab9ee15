package archive_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"routewatch/archive"
	"routewatch/internal/archivetest"
	"routewatch/internal/testenv"
	"routewatch/mrtdata"
	"routewatch/route"
)

// benchTree writes one hour (16:00–17:00) of four collectors from the
// shared RIS files, retimed into place: a 2002 RIS RIB dump as every RIB,
// the 2016 RIS update file as every RIS 5-minute file and the 2007 one as
// every RouteViews 15-minute file (RouteViews files bzip2, Debian's
// bzip2).
func benchTree(b *testing.B) (string, []archive.Collector, []archive.File) {
	shared := filepath.Join(testenv.SharedData(b), "mrt")
	rib := testenv.Gunzip(b, filepath.Join(shared, "bview.20020722.2337.gz"))
	risUpd := testenv.Gunzip(b, filepath.Join(shared, "updates.20160811.1600.gz"))
	rvUpd := testenv.Gunzip(b, filepath.Join(shared, "updates.20070211.0141.gz"))
	bz := testenv.Command(b, "bzip2")
	dir := b.TempDir()
	start := time.Date(2021, 12, 15, 16, 0, 0, 0, time.UTC)
	var cs []archive.Collector
	var files []archive.File
	for _, n := range []string{"rrc00", "rrc01", "route-views2", "route-views.linx"} {
		c, err := archive.ResolveCollector(n, "")
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
		f := c.RIBAtOrBefore(start, 0)
		if err := archivetest.WriteFile(dir, c, f, archivetest.Retime(rib, start.Sub(time.Date(2002, 7, 22, 23, 37, 0, 0, time.UTC))), bz); err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
		upd, orig := risUpd, time.Date(2016, 8, 11, 16, 0, 0, 0, time.UTC)
		if c.Layout.Name != archive.RIS.Name {
			upd, orig = rvUpd, time.Date(2007, 2, 11, 1, 41, 0, 0, time.UTC)
		}
		for _, u := range c.Updates(start, start.Add(time.Hour)) {
			if err := archivetest.WriteFile(dir, c, u, archivetest.Retime(upd, u.Start.Sub(orig)), bz); err != nil {
				b.Fatal(err)
			}
			files = append(files, u)
		}
	}
	return dir, cs, files
}

// slowServer serves dir like a distant archive: 100 ms to the first byte
// and 4 MiB/s per connection.
func slowServer(b *testing.B, dir string) *httptest.Server {
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		files.ServeHTTP(&throttled{ResponseWriter: w}, r)
	}))
	b.Cleanup(srv.Close)
	return srv
}

type throttled struct{ http.ResponseWriter }

func (t *throttled) Write(p []byte) (int, error) {
	const chunk = 64 << 10
	n := 0
	for len(p) > 0 {
		c := min(len(p), chunk)
		m, err := t.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		time.Sleep(time.Duration(c) * time.Second / (4 << 20))
		p = p[c:]
	}
	return n, nil
}

// BenchmarkWindowPrefetch: the four collectors' hour through Archive.Run
// (downloads ahead of decoding, collectors in parallel, k-way merge).
// BenchmarkWindowSequential: the same files streamed one after the other
// (what `replay URL URL …` does), for comparison.
func BenchmarkWindowPrefetch(b *testing.B) {
	dir, cs, _ := benchTree(b)
	srv := slowServer(b, dir)
	cfg := archive.Config{
		From: time.Date(2021, 12, 15, 16, 0, 0, 0, time.UTC), To: time.Date(2021, 12, 15, 17, 0, 0, 0, time.UTC),
		BaseURLs: map[string]string{},
	}
	for _, c := range cs {
		cfg.Collectors = append(cfg.Collectors, c.Name)
		cfg.BaseURLs[c.Name] = srv.URL + "/" + c.Name
	}
	var routes int64
	c0 := cpuTime()
	for b.Loop() {
		a, err := archive.New(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		out := make(chan route.Batch, 16)
		done := make(chan struct{})
		go func() {
			for range out {
			}
			close(done)
		}()
		if err := a.Run(context.Background(), out); err != nil {
			b.Fatal(err)
		}
		close(out)
		<-done
		routes = a.Stats().Routes
	}
	b.ReportMetric(float64(routes)*float64(b.N)/b.Elapsed().Seconds(), "routes/s")
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}

func BenchmarkWindowSequential(b *testing.B) {
	dir, _, files := benchTree(b)
	srv := slowServer(b, dir)
	var routes int64
	c0 := cpuTime()
	for b.Loop() {
		routes = 0
		for _, f := range files {
			rc, err := mrtdata.Open(context.Background(), srv.URL+"/"+f.Path)
			if err != nil {
				b.Fatal(err)
			}
			r := mrtdata.NewReader(rc, f.Path)
			for {
				_, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil && !errors.Is(err, mrtdata.ErrCorrupt) {
					b.Fatal(err)
				}
			}
			rc.Close()
			routes += r.Stats().Routes
		}
	}
	b.ReportMetric(float64(routes)*float64(b.N)/b.Elapsed().Seconds(), "routes/s")
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the process's user+system time (the server's included: it
// sleeps rather than spins).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
