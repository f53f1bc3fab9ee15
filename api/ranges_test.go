package api

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"

	"routewatch/internal/testenv"
	"routewatch/ranges"
	"routewatch/route"
	"routewatch/store"
)

// ranges.Set is the production Matcher.
var _ Matcher = (*ranges.Set)(nil)

// TestRealRanges tags answers with the published AWS list of the
// 2021-12-15 us-east-1 incident day.
func TestRealRanges(t *testing.T) {
	file := testenv.SharedFile(t, "cloud/aws-ip-ranges.2021-12-15.json")
	set, err := ranges.Load(context.Background(), []string{file}, ranges.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory(store.MemoryConfig{})
	u := route.Update{
		Time: t0, Source: "bgp", Peer: peerA, Prefix: netip.MustParsePrefix("52.94.0.0/22"),
		Attrs: &route.Attrs{ASPath: seqPath(3333, 3356, 16509), NextHop: peerA.Addr},
	}
	set.Tag(&u)
	if len(u.Tags) == 0 {
		t.Fatal("52.94.0.0/22 not in the AWS list")
	}
	if err := st.ApplyUpdates(context.Background(), []route.Update{u}); err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(), st, set, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(t)
	for _, target := range []string{"/api/v1/prefixes/52.94.0.0/22", "/api/v1/prefixes/52.94.0.0/24", "/api/v1/asns/16509/prefixes"} {
		res := do(t, v, s.Handler(), "GET", target, "", nil)
		if res.status != 200 {
			t.Fatalf("%s: %d %s", target, res.status, res.body)
		}
		var body struct {
			Tags []tagView `json:"tags"`
		}
		_ = json.Unmarshal(res.body, &body)
		if target != "/api/v1/asns/16509/prefixes" && (len(body.Tags) == 0 || body.Tags[0].Provider != "aws") {
			t.Errorf("%s: tags %+v", target, body.Tags)
		}
	}
}
