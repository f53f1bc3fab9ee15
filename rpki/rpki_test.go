package rpki

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/route"
)

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFormats(t *testing.T) {
	want := []VRP{
		{netip.MustParsePrefix("205.251.192.0/23"), 23, 16509},
		{netip.MustParsePrefix("54.212.0.0/15"), 24, 16509},
		{netip.MustParsePrefix("198.18.0.0/15"), 24, 0},
		{netip.MustParsePrefix("2606:4700::/32"), 48, 13335},
	}
	for _, name := range []string{"rpki-client.json", "routinator-jsonext.json"} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(mustRead(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d VRPs, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("vrp %d = %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
	t.Run("routinator json without maxLength", func(t *testing.T) {
		got, err := Parse([]byte(`{"roas":[{"asn":"AS64500","prefix":"192.0.2.0/24"}]}`))
		if err != nil || len(got) != 1 || got[0].MaxLength != 24 {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

func TestParseErrorsNameTheEntry(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"not json", `{"roas":`, "not JSON"},
		{"no roas", `{"metadata":{}}`, `no "roas" array`},
		{"bad prefix", `{"roas":[{"asn":1,"prefix":"192.0.2.0/24","maxLength":24},{"asn":1,"prefix":"300.0.0.0/8","maxLength":8}]}`, `roas[1] (prefix "300.0.0.0/8"): bad prefix`},
		{"host bits", `{"roas":[{"asn":1,"prefix":"192.0.2.1/24","maxLength":24}]}`, "host bits set (want 192.0.2.0/24)"},
		{"maxLength short", `{"roas":[{"asn":1,"prefix":"192.0.2.0/24","maxLength":16}]}`, "maxLength 16 outside 24..32"},
		{"maxLength long", `{"roas":[{"asn":1,"prefix":"2001:db8::/32","maxLength":129}]}`, "maxLength 129 outside 32..128"},
		{"maxLength text", `{"roas":[{"asn":1,"prefix":"192.0.2.0/24","maxLength":"x"}]}`, `maxLength "x" is not a whole number`},
		{"asn text", `{"roas":[{"asn":"ASx","prefix":"192.0.2.0/24","maxLength":24}]}`, `bad asn "ASx"`},
		{"asn too big", `{"roas":[{"asn":4294967296,"prefix":"192.0.2.0/24","maxLength":24}]}`, "bad asn 4294967296"},
		{"asn missing", `{"roas":[{"prefix":"192.0.2.0/24","maxLength":24}]}`, "no asn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v: want *ParseError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	vrps, err := Parse(mustRead(t, "rpki-client.json"))
	if err != nil {
		t.Fatal(err)
	}
	tab := NewTable(vrps)
	seq := func(asns ...uint32) route.ASPath { return route.ASPath{{Type: route.ASSequence, ASNs: asns}} }
	tests := []struct {
		name   string
		prefix string
		path   route.ASPath
		want   route.ROVState
	}{
		{"exact and origin", "205.251.192.0/23", seq(6939, 16509), route.ROVValid},
		{"more specific past maxLength (the 2018 hijack's /24s)", "205.251.193.0/24", seq(6939, 10297), route.ROVInvalid},
		{"more specific past maxLength, right origin", "205.251.193.0/24", seq(6939, 16509), route.ROVInvalid},
		{"within maxLength", "54.213.0.0/24", seq(3356, 16509), route.ROVValid},
		{"wrong origin", "54.212.0.0/15", seq(3356, 64500), route.ROVInvalid},
		{"not covered", "8.8.8.0/24", seq(3356, 15169), route.ROVNotFound},
		{"covering prefix is not covered", "54.0.0.0/8", seq(3356, 16509), route.ROVNotFound},
		{"AS0 authorizes nobody", "198.18.0.0/16", seq(3356, 0), route.ROVInvalid},
		{"as_set origin", "205.251.192.0/23", route.ASPath{{Type: route.ASSequence, ASNs: []uint32{6939}}, {Type: route.ASSet, ASNs: []uint32{16509}}}, route.ROVInvalid},
		{"empty path", "205.251.192.0/23", nil, route.ROVInvalid},
		{"ipv6 valid", "2606:4700:10::/44", seq(174, 13335), route.ROVValid},
		{"ipv6 too specific", "2606:4700:10::/64", seq(174, 13335), route.ROVInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.ValidatePath(netip.MustParsePrefix(tt.prefix), tt.path); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("no table", func(t *testing.T) {
		var none *Table
		if got := none.ValidatePath(netip.MustParsePrefix("192.0.2.0/24"), seq(1)); got != route.ROVNone {
			t.Fatalf("got %q", got)
		}
	})
}

func TestRefresherKeepsLastGood(t *testing.T) {
	good := mustRead(t, "rpki-client.json")
	var body atomic.Value
	body.Store(good)
	var requests, conditional atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		b := body.Load().([]byte)
		etag := `"` + string(rune('a'+len(b)%26)) + `"`
		if r.Header.Get("If-None-Match") == etag {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write(b)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	r := NewRefresher(Config{VRPs: srv.URL + "/vrps.json"}, srv.Client(), slog.New(slog.DiscardHandler), reg)
	ctx := context.Background()
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Table().Len() != 4 {
		t.Fatalf("loaded %d VRPs", r.Table().Len())
	}
	t.Run("not modified", func(t *testing.T) {
		if err := r.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if conditional.Load() != 1 {
			t.Fatalf("conditional requests %d, want 1", conditional.Load())
		}
	})
	t.Run("malformed keeps the last good table", func(t *testing.T) {
		body.Store([]byte(`{"roas":[{"asn":1,"prefix":"192.0.2.0/33"}]}`))
		err := r.Refresh(ctx)
		if err == nil || !strings.Contains(err.Error(), "roas[0]") {
			t.Fatalf("err %v: want the entry named", err)
		}
		if r.Table().Len() != 4 {
			t.Fatalf("table replaced: %d VRPs", r.Table().Len())
		}
	})
	t.Run("file source", func(t *testing.T) {
		rf := NewRefresher(Config{VRPs: filepath.Join("testdata", "routinator-jsonext.json")}, nil, slog.New(slog.DiscardHandler), nil)
		if err := rf.Refresh(ctx); err != nil || rf.Table().Len() != 4 {
			t.Fatalf("file: %v, %d VRPs", err, rf.Table().Len())
		}
	})
	t.Run("disabled", func(t *testing.T) {
		rd := NewRefresher(Config{}, nil, slog.New(slog.DiscardHandler), nil)
		if rd.Enabled() || rd.Refresh(ctx) != nil || rd.Table() != nil {
			t.Fatal("an empty source must disable validation")
		}
	})
}
