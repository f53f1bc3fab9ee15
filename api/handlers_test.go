package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

type apiCase struct {
	name   string
	method string
	target string
	status int
	// param is the parameter a 400 must name.
	param string
}

// goldenCases are answered identically by every backend: each response is
// validated against openapi.json and pinned in testdata/golden/NAME.json.
var goldenCases = []apiCase{
	{name: "healthz", target: "/healthz", status: 200},
	{name: "readyz", target: "/readyz", status: 200},
	{name: "prefix_exact", target: "/api/v1/prefixes/52.94.0.0/22", status: 200},
	{name: "prefix_escaped", target: "/api/v1/prefixes/52.94.0.0%2F22", status: 200},
	{name: "prefix_canonicalised", target: "/api/v1/prefixes/3.5.141.7/22", status: 200},
	{name: "prefix_v6_stale", target: "/api/v1/prefixes/2600:1f18::/36", status: 200},
	{name: "prefix_unannounced", target: "/api/v1/prefixes/52.94.8.0/24", status: 200},
	{name: "prefix_covered", target: "/api/v1/prefixes/52.94.0.0/16?match=covered", status: 200},
	{name: "prefix_covering", target: "/api/v1/prefixes/52.94.0.0/24?match=covering", status: 200},
	{name: "prefix_at_during_shift", target: "/api/v1/prefixes/52.94.0.0/22?at=2021-12-15T15:20:00Z", status: 200},
	{name: "prefix_at_before_anything", target: "/api/v1/prefixes/52.94.0.0/22?at=2021-12-15T14:00:00Z", status: 200},
	{name: "history", target: "/api/v1/prefixes/52.94.0.0/22/history", status: 200},
	{name: "history_escaped_withdraw", target: "/api/v1/prefixes/3.5.140.0%2F24/history", status: 200},
	{name: "events_all", target: "/api/v1/events", status: 200},
	{name: "events_aws_open", target: "/api/v1/events?provider=aws&status=open", status: 200},
	{name: "events_kind_range", target: "/api/v1/events?kind=path_shift&from=2021-12-15T15:00:00Z&to=2021-12-15T16:00:00Z", status: 200},
	{name: "events_resolved_region", target: "/api/v1/events?status=resolved&region=us-east-1", status: 200},
	{name: "event", target: "/api/v1/events/path_shift-aws-us-east-1-20211215T151000Z", status: 200},
	{name: "event_not_found", target: "/api/v1/events/nope", status: 404},
	{name: "event_series", target: "/api/v1/events/path_shift-aws-us-east-1-20211215T151000Z/series", status: 200},
	{name: "event_series_not_found", target: "/api/v1/events/nope/series", status: 404},
	{name: "incidents", target: "/api/v1/incidents", status: 200},
	{name: "incidents_resolved", target: "/api/v1/incidents?status=resolved", status: 200},
	{name: "providers", target: "/api/v1/providers", status: 200},
	{name: "region", target: "/api/v1/providers/aws/regions/us-east-1", status: 200},
	{name: "region_open_event", target: "/api/v1/providers/aws/regions/ap-northeast-2", status: 200},
	{name: "region_empty", target: "/api/v1/providers/cloudflare/regions/-", status: 200},
	{name: "region_not_found", target: "/api/v1/providers/aws/regions/mars-1", status: 404},
	{name: "region_page", target: "/api/v1/providers/aws/regions/us-east-1?limit=1", status: 200},
	{name: "peers", target: "/api/v1/peers", status: 200},
	{name: "routers", target: "/api/v1/routers", status: 200},
	{name: "asn_upstream", target: "/api/v1/asns/3356/prefixes", status: 200},
	{name: "asn_origin", target: "/api/v1/asns/16509/prefixes", status: 200},
	{name: "asn_none", target: "/api/v1/asns/4294967295/prefixes", status: 200},
}

// badCases must be 4xx JSON errors naming the parameter; they are not
// golden (messages may be reworded) but are validated against the doc.
var badCases = []apiCase{
	{name: "prefix /33", target: "/api/v1/prefixes/1.2.3.0/33", status: 400, param: "prefix"},
	{name: "prefix /129", target: "/api/v1/prefixes/2001:db8::/129", status: 400, param: "prefix"},
	{name: "prefix no length", target: "/api/v1/prefixes/1.2.3.0", status: 400, param: "prefix"},
	{name: "prefix garbage", target: "/api/v1/prefixes/not-a-prefix/24", status: 400, param: "prefix"},
	{name: "prefix double escape", target: "/api/v1/prefixes/1.2.3.0%252F24", status: 400, param: "prefix"},
	{name: "prefix zone", target: "/api/v1/prefixes/fe80::1%25eth0/64", status: 400, param: "prefix"},
	{name: "prefix mapped", target: "/api/v1/prefixes/::ffff:1.2.3.0/120", status: 400, param: "prefix"},
	{name: "prefix history /33", target: "/api/v1/prefixes/1.2.3.0/33/history", status: 400, param: "prefix"},
	{name: "match unknown", target: "/api/v1/prefixes/1.2.3.0/24?match=all", status: 400, param: "match"},
	{name: "at garbage", target: "/api/v1/prefixes/1.2.3.0/24?at=yesterday", status: 400, param: "at"},
	{name: "at with covered", target: "/api/v1/prefixes/1.2.3.0/24?match=covered&at=2021-12-15T15:00:00Z", status: 400, param: "at"},
	{name: "unknown query", target: "/api/v1/prefixes/1.2.3.0/24?provder=aws", status: 400, param: "provder"},
	{name: "repeated query", target: "/api/v1/events?kind=path_shift&kind=withdrawal", status: 400, param: "kind"},
	{name: "asn AS13335", target: "/api/v1/asns/AS13335/prefixes", status: 400, param: "asn"},
	{name: "asn too big", target: "/api/v1/asns/4294967296/prefixes", status: 400, param: "asn"},
	{name: "asn negative", target: "/api/v1/asns/-1/prefixes", status: 400, param: "asn"},
	{name: "asn asdot", target: "/api/v1/asns/1.10/prefixes", status: 400, param: "asn"},
	{name: "limit huge", target: "/api/v1/events?limit=100000", status: 400, param: "limit"},
	{name: "limit zero", target: "/api/v1/events?limit=0", status: 400, param: "limit"},
	{name: "limit overflow", target: "/api/v1/peers?limit=99999999999999999999999", status: 400, param: "limit"},
	{name: "cursor garbage events", target: "/api/v1/events?cursor=garbage", status: 400, param: "cursor"},
	{name: "cursor garbage history", target: "/api/v1/prefixes/52.94.0.0/22/history?cursor=%00%01", status: 400, param: "cursor"},
	{name: "cursor garbage asn", target: "/api/v1/asns/3356/prefixes?cursor=zzzz", status: 400, param: "cursor"},
	{name: "cursor garbage peers", target: "/api/v1/peers?cursor=zzzz", status: 400, param: "cursor"},
	{name: "cursor garbage prefixes", target: "/api/v1/prefixes/52.94.0.0/16?match=covered&cursor=zzzz", status: 400, param: "cursor"},
	{name: "cursor too long", target: "/api/v1/events?cursor=" + strings.Repeat("a", 600), status: 400, param: "cursor"},
	{name: "kind unknown", target: "/api/v1/events?kind=meteor", status: 400, param: "kind"},
	{name: "status unknown", target: "/api/v1/events?status=closed", status: 400, param: "status"},
	{name: "from garbage", target: "/api/v1/events?from=1639580000", status: 400, param: "from"},
	{name: "to before from", target: "/api/v1/events?from=2021-12-15T16:00:00Z&to=2021-12-15T15:00:00Z", status: 400, param: "to"},
	{name: "provider bad", target: "/api/v1/events?provider=a%2Fb", status: 400, param: "provider"},
	{name: "event id bad", target: "/api/v1/events/%3Cscript%3E", status: 400, param: "id"},
	{name: "series id bad", target: "/api/v1/events/%3Cscript%3E/series", status: 400, param: "id"},
	{name: "series unknown query", target: "/api/v1/events/e1/series?step=60", status: 400, param: "step"},
	{name: "event id long", target: "/api/v1/events/" + strings.Repeat("x", 200), status: 400, param: "id"},
	{name: "region bad", target: "/api/v1/providers/aws/regions/us%20east", status: 400, param: "region"},
	{name: "region limit huge", target: "/api/v1/providers/aws/regions/us-east-1?limit=1001", status: 400, param: "limit"},
	{name: "region cursor garbage", target: "/api/v1/providers/aws/regions/us-east-1?cursor=zzzz", status: 400, param: "cursor"},
	{name: "region unknown query", target: "/api/v1/providers/aws/regions/us-east-1?match=covered", status: 400, param: "match"},
	{name: "no such route", target: "/api/v1/nothing", status: 404},
	{name: "method not allowed", method: http.MethodDelete, target: "/api/v1/events", status: 405},
}

func TestEndpoints(t *testing.T) {
	v := newValidator(t)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			loadFixture(t, st)
			h := testServer(t, st, testConfig()).Handler()
			for _, tc := range goldenCases {
				t.Run(tc.name, func(t *testing.T) {
					res := do(t, v, h, methodOr(tc.method), tc.target, "", nil)
					if res.status != tc.status {
						t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
					}
					golden(t, tc.name, res.body)
				})
			}
			for _, tc := range badCases {
				t.Run(tc.name, func(t *testing.T) {
					res := do(t, v, h, methodOr(tc.method), tc.target, "", nil)
					if res.status != tc.status {
						t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
					}
					var e Error
					if err := json.Unmarshal(res.body, &e); err != nil || e.Message == "" {
						t.Fatalf("not a JSON error: %v %s", err, res.body)
					}
					if e.Parameter != tc.param {
						t.Errorf("parameter %q, want %q (%s)", e.Parameter, tc.param, e.Message)
					}
				})
			}
		})
	}
	// Every operation of the document was exercised by some test of this
	// package; the remaining ones are covered by TestAuth / TestMetrics.
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		for _, op := range v.uncovered() {
			switch op {
			case "importEvents", "metrics", "openapi", "streamEvents": // streamEvents: TestStream
			default:
				t.Errorf("operation %s has no validated response", op)
			}
		}
	})
}

func methodOr(m string) string {
	if m == "" {
		return http.MethodGet
	}
	return m
}

// testConfig is DefaultConfig without rate limiting (tests hammer the
// server from one address).
func testConfig() Config {
	c := DefaultConfig()
	c.RateLimit = RateLimit{}
	return c
}

// TestPagination walks every paginated listing with limit=1 and checks
// the pages concatenate to the unpaginated answer.
func TestPagination(t *testing.T) {
	v := newValidator(t)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			loadFixture(t, st)
			h := testServer(t, st, testConfig()).Handler()
			for _, tc := range []struct {
				name, target, items string
			}{
				{"prefixes covered", "/api/v1/prefixes/0.0.0.0/0?match=covered", "prefixes"},
				{"history", "/api/v1/prefixes/52.94.0.0/22/history", "entries"},
				{"events", "/api/v1/events", "events"},
				{"peers", "/api/v1/peers", "peers"},
				{"asn", "/api/v1/asns/16509/prefixes", "prefixes"},
				{"region prefixes", "/api/v1/providers/aws/regions/us-east-1", "prefix_visibility"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					all := items(t, do(t, v, h, "GET", tc.target, "", nil), tc.items)
					if len(all) < 2 {
						t.Fatalf("fixture gives %d items; need 2+ to test paging", len(all))
					}
					var paged []json.RawMessage
					cursor := ""
					for range len(all) + 1 {
						u, _ := url.Parse(tc.target)
						q := u.Query()
						q.Set("limit", "1")
						if cursor != "" {
							q.Set("cursor", cursor)
						}
						u.RawQuery = q.Encode()
						res := do(t, v, h, "GET", u.String(), "", nil)
						page := items(t, res, tc.items)
						if len(page) > 1 {
							t.Fatalf("page of %d items with limit=1", len(page))
						}
						paged = append(paged, page...)
						var env struct {
							Next string `json:"next_cursor"`
						}
						_ = json.Unmarshal(res.body, &env)
						if env.Next == "" {
							break
						}
						cursor = env.Next
					}
					if len(paged) != len(all) {
						t.Fatalf("pages hold %d items, unpaged %d", len(paged), len(all))
					}
					for i := range all {
						if string(all[i]) != string(paged[i]) {
							t.Errorf("item %d differs:\n%s\n%s", i, all[i], paged[i])
						}
					}
				})
			}
		})
	}
}

func items(t *testing.T, res response, field string) []json.RawMessage {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &m); err != nil {
		t.Fatal(err)
	}
	var out []json.RawMessage
	if err := json.Unmarshal(m[field], &out); err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	return out
}
