package ranges_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"routewatch/ranges"
	"routewatch/route"
)

func Example() {
	set, err := ranges.Load(context.Background(), []string{
		"testdata/aws.json",
		"cloudflare=testdata/cidr.txt",
	}, ranges.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range []string{"3.5.16.0/24", "15.230.39.0/24", "3.4.0.0/15", "198.51.100.0/24"} {
		for _, t := range set.Match(netip.MustParsePrefix(p)) {
			fmt.Println(p, t.Match, t.Provider, t.Region, t.Service)
		}
	}
	u := route.Update{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Attrs: &route.Attrs{
		ASPath: route.ASPath{{Type: route.ASSequence, ASNs: []uint32{3356, 16509}}}}}
	set.Tag(&u)
	fmt.Println(u.Prefix, u.Tags[0].Match, u.Tags[0].Provider)
	// Output:
	// 3.5.16.0/24 covered aws us-west-2 EC2
	// 3.5.16.0/24 covered aws us-west-2 AMAZON
	// 3.5.16.0/24 covered aws us-west-2 S3
	// 15.230.39.0/24 equal aws us-west-2 AMAZON
	// 3.4.0.0/15 covering aws us-west-2 AMAZON
	// 3.4.0.0/15 covering aws us-west-2 EC2
	// 3.4.0.0/15 covering aws us-west-2 S3
	// 198.51.100.0/24 origin_asn aws
}

func TestConfigYAML(t *testing.T) {
	var cfg ranges.Config
	err := yaml.Unmarshal([]byte("specs: [ip-ranges.json, cloudflare=ips-v4.txt]\nrefresh: 6h\nwatch_asns:\n  aws: [16509]\n"), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Specs) != 2 || cfg.Refresh != 6*time.Hour || cfg.WatchASNs["aws"][0] != 16509 {
		t.Errorf("config %+v", cfg)
	}
}
