package ranges

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"routewatch/route"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		raw, name, loc string
		url, bad       bool
	}{
		{raw: "ip-ranges.json", loc: "ip-ranges.json"},
		{raw: "cloudflare=ips-v4.txt", name: "cloudflare", loc: "ips-v4.txt"},
		{raw: "cloudflare=https://www.cloudflare.com/ips-v4", name: "cloudflare", loc: "https://www.cloudflare.com/ips-v4", url: true},
		{raw: "https://example.com/x.json?a=b", loc: "https://example.com/x.json?a=b", url: true},
		{raw: "/tmp/a=b.txt", loc: "/tmp/a=b.txt"},
		{raw: "Foo=x", loc: "Foo=x"}, // names are lower case: this is a file called "Foo=x"
		{raw: "", bad: true},
		{raw: "aws=", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			s, err := ParseSpec(tt.raw)
			if (err != nil) != tt.bad {
				t.Fatalf("err %v, want bad=%v", err, tt.bad)
			}
			if tt.bad {
				return
			}
			if s.Name != tt.name || s.Location != tt.loc || s.IsURL() != tt.url {
				t.Errorf("got %+v url=%v", s, s.IsURL())
			}
		})
	}
}

// serveFiles serves testdata fixtures and some failure modes on loopback.
func serveFiles(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for _, name := range []string{"aws.json", "gcp.json", "azure.json", "oracle.json", "cidr.txt"} {
		data := readTestdata(t, name)
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) { w.Write(data) })
	}
	mux.HandleFunc("/broken.json", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"createDate":"x","prefixes":[{"ip_prefix":"3.5.0.0/33"}]}`))
	})
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("10.0.0.0/8\n", 1000)))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestLoad(t *testing.T) {
	srv := serveFiles(t)
	ctx := context.Background()
	s, err := Load(ctx, []string{
		srv.URL + "/aws.json",
		filepath.Join("testdata", "gcp.json"),
		srv.URL + "/azure.json",
		filepath.Join("testdata", "oracle.json"),
		"cloudflare=" + srv.URL + "/cidr.txt",
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srcs := s.Sources()
	if len(srcs) != 5 {
		t.Fatalf("sources %+v", srcs)
	}
	wantFormats := []Format{FormatAWS, FormatGCP, FormatAzure, FormatOracle, FormatCIDR}
	wantProviders := []string{"aws", "gcp", "azure", "oracle", "cloudflare"}
	for i, src := range srcs {
		if src.Format != wantFormats[i] || src.Provider != wantProviders[i] || src.Entries == 0 {
			t.Errorf("source %d: %+v", i, src)
		}
	}
	if got := s.Match(netip.MustParsePrefix("173.245.48.0/24")); len(got) != 1 || got[0] != tag("cloudflare", "", "", route.MatchCovered) {
		t.Errorf("cloudflare /24: %v", got)
	}
	// Default watch list applies.
	u := route.Update{Prefix: netip.MustParsePrefix("198.18.0.0/24"), Attrs: &route.Attrs{ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{174, 8075}}}}}
	s.Tag(&u)
	if len(u.Tags) != 1 || u.Tags[0] != tag("azure", "", "", route.MatchOriginASN) {
		t.Errorf("origin 8075: %v", u.Tags)
	}
}

func TestLoadErrors(t *testing.T) {
	srv := serveFiles(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"createDate":"x","prefixes":[],"ipv6_prefixes":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		specs []string
		opts  Options
		want  []string
		parse bool // a *ParseError, not a *FetchError
	}{
		{"no specs", nil, Options{}, []string{"no sources"}, false},
		{"missing file", []string{filepath.Join(dir, "nope.json")}, Options{}, []string{"nope.json", "no such file"}, false},
		{"HTTP error", []string{srv.URL + "/error"}, Options{}, []string{"/error", "503"}, false},
		{"malformed URL content", []string{srv.URL + "/broken.json"}, Options{}, []string{"broken.json", "prefixes[0]", "bad prefix"}, true},
		{"empty file", []string{empty}, Options{}, []string{"empty.json", "no ranges"}, true},
		{"too large", []string{"x=" + srv.URL + "/huge"}, Options{MaxBytes: 100}, []string{"larger than 100 bytes"}, false},
		{"one bad among good", []string{"testdata/aws.json", srv.URL + "/broken.json"}, Options{}, []string{"broken.json"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(context.Background(), tt.specs, tt.opts)
			if err == nil {
				t.Fatalf("no error; set of %d", s.Len())
			}
			if s != nil {
				t.Error("a set came back with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var pe *ParseError
			if errors.As(err, &pe) != tt.parse {
				t.Errorf("error %v: ParseError=%v, want %v", err, !tt.parse, tt.parse)
			}
		})
	}
}

func TestFetchUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	_, err := Fetch(context.Background(), url+"/ip-ranges.json", Options{})
	var fe *FetchError
	if !errors.As(err, &fe) || !fe.Unreachable() {
		t.Fatalf("error %v: want an unreachable *FetchError", err)
	}
	srv2 := serveFiles(t)
	_, err = Fetch(context.Background(), srv2.URL+"/error", Options{})
	if !errors.As(err, &fe) || fe.Unreachable() || fe.Status != 503 {
		t.Fatalf("error %v: want a reachable *FetchError with status 503", err)
	}
}
