package archive_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"routewatch/archive"
	"routewatch/route"
)

// TestStalledDownload: a server that sends the headers and some bytes of
// a RIB, then nothing, fails the read after StallTimeout (every resume
// attempt stalls too): the bootstrap ends with an error instead of
// hanging.
func TestStalledDownload(t *testing.T) {
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Header().Set("Content-Length", "1000000")
		_, _ = w.Write(make([]byte, 100))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stalled until the client gives up
	}))
	defer srv.Close()
	a, err := archive.New(archive.Config{Collectors: []string{"rrc00"}, BaseURLs: map[string]string{"rrc00": srv.URL + "/rrc00"},
		StallTimeout: 50 * time.Millisecond, CacheDir: t.TempDir()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan route.Batch, 16)
	if err := a.Bootstrap(t.Context(), windowStart, windowStart, out); err == nil {
		t.Fatal("no error from a stalled RIB")
	}
	if gets.Load() < 2 {
		t.Errorf("%d GETs: the stalled download was not resumed", gets.Load())
	}
}
