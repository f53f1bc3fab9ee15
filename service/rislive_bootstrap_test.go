package service

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"routewatch/alert"
	"routewatch/archive"
	"routewatch/internal/archivetest"
	"routewatch/internal/rislivetest"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

// TestServeRISLiveBootstrap runs serve with RIS Live pointed at the local
// RIS Live server and its bootstrap at a local archive tree (rrc00 in the
// RIS layout): the RIB and update files give the baseline — a regional
// shift and its return inside those files are re-syncs, no event — then
// the live stream sends the shift again and the path_shift reaches the API
// and a generic webhook on a local receiver.
func TestServeRISLiveBootstrap(t *testing.T) {
	// The tree's RIB is the latest at or before now, or the one before
	// (the RIB fallback), and its updates end hours before now, so that
	// the live stream's times (the last two hours) come after them.
	now := time.Now().UTC()
	start := now.Add(-4*time.Hour - 10*time.Minute).Truncate(8 * time.Hour)
	sc := scenario.TEShift(scenario.Options{Seed: 1, Start: start})
	dir := t.TempDir()
	rangesFile := filepath.Join(dir, "ip-ranges.json")
	f, err := os.Create(rangesFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.WriteRanges(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rrc00, err := archive.ResolveCollector("rrc00", "")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := archivetest.Write(filepath.Join(dir, "archive"), sc, []archive.Collector{rrc00}, "")
	if err != nil {
		t.Fatal(err)
	}
	var hmu sync.Mutex
	served := map[string]bool{}
	files := http.FileServer(http.Dir(tree.Dir))
	archiveSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hmu.Lock()
		served[r.URL.Path] = true
		hmu.Unlock()
		files.ServeHTTP(w, r)
	}))
	defer archiveSrv.Close()

	var mu sync.Mutex
	var hooks []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	defer receiver.Close()

	srv := rislivetest.NewServer(t)
	cfg := loopbackConfig(t)
	cfg.Ranges.Specs = []string{rangesFile}
	cfg.Ranges.WatchASNs = map[string][]uint32{}
	*cfg.Collector.Enabled = false
	cfg.RISLive.Enabled = true
	cfg.RISLive.URL = srv.URL()
	cfg.RISLive.Bootstrap = RISLiveBootstrap{Collectors: []string{"rrc00"}, BaseURLs: map[string]string{"rrc00": archiveSrv.URL + "/rrc00"}}
	cfg.Alert.AllowPrivateTargets = true
	cfg.Alert.Sinks = []alert.SinkConfig{{Name: "hook", Type: alert.Generic, URL: receiver.URL, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, stop := startService(t, cfg)

	conn := srv.Accept(t)
	waitUntil(t, "the bootstrap", func() bool { return counter(t, svc, "routewatch_rislive_bootstraps_total", "ok") == 1 })
	if n := counter(t, svc, "routewatch_rislive_bootstraps_total", "error"); n != 0 {
		t.Fatalf("%v failed bootstraps", n)
	}
	hmu.Lock()
	for _, rel := range tree.Files["rrc00"] {
		if !served["/"+rel] {
			t.Errorf("the bootstrap did not read %s", rel)
		}
	}
	hmu.Unlock()
	api := "http://" + cfg.API.Listen
	waitUntil(t, "the pipeline to take the bootstrap", func() bool {
		return int(sumCounter(t, svc, "routewatch_updates_total")) == len(sc.Updates)
	})
	waitUntil(t, "the bootstrap's routes in the API", func() bool {
		resp, err := http.Get(api + "/api/v1/prefixes/" + sc.Updates[0].Prefix.String())
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b), sc.Updates[0].Peer.Addr.String())
	})
	if n := sumCounter(t, svc, "routewatch_event_changes_total"); n != 0 {
		t.Errorf("%v event changes from the bootstrap (re-syncs)", n)
	}
	if evs := apiEvents(t, api, ""); len(evs) != 0 {
		t.Fatalf("events from the bootstrap (re-syncs): %+v", evs)
	}

	// Live: the scenario's changes again, two hours later on the clock.
	shift := now.Add(-2 * time.Hour).Truncate(time.Second).Sub(start)
	for _, it := range sc.Items() {
		if it.Update != nil {
			u := *it.Update
			if u.TableDump {
				continue
			}
			u.Time = u.Time.Add(shift)
			conn.Send(string(rislivetest.Encode("rrc00", "UPDATE", u.Peer, u.Time, []route.Update{u}, nil)))
			continue
		}
		st := *it.State
		st.Time = st.Time.Add(shift)
		if st.Down() || st.Up() {
			conn.Send(string(rislivetest.Encode("rrc00", "RIS_PEER_STATE", st.Peer, st.Time, nil, &st)))
		}
	}
	want := sc.Expected[0]
	var ev route.Event
	waitUntil(t, "the path_shift in the API", func() bool {
		for _, e := range apiEvents(t, api, string(want.Kind)) {
			if e.Provider == want.Provider && e.Region == want.Region {
				ev = e
				return true
			}
		}
		return false
	})
	if !ev.Start.After(sc.End) || ev.Peers < 2 {
		t.Errorf("event %+v: want a live event (after %s) at several peers", ev, sc.End)
	}
	waitUntil(t, "the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooks {
			if strings.Contains(h, ev.ID) {
				return true
			}
		}
		return false
	})
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// apiEvents lists the API's events (of kind, "" for all).
func apiEvents(t *testing.T, api, kind string) []route.Event {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/events?kind=" + kind)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Events []route.Event `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("events: %v", err)
	}
	return body.Events
}

// counter reads a counter of the service's registry by its one label value.
func counter(t *testing.T, svc *Service, name, label string) float64 {
	t.Helper()
	mfs, err := svc.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// sumCounter sums a counter of the service's registry over its labels.
func sumCounter(t *testing.T, svc *Service, name string) float64 {
	t.Helper()
	mfs, err := svc.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
