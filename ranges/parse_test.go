package ranges

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"routewatch/internal/testenv"
	"routewatch/route"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		name     string
		file     string
		provider string
		format   Format
		want     []Entry
	}{
		{"aws", "aws.json", "", FormatAWS, []Entry{
			{pfx("3.5.0.0/16"), route.Tag{Provider: "aws", Region: "us-west-2", Service: "AMAZON", BorderGroup: "us-west-2"}},
			{pfx("3.5.0.0/16"), route.Tag{Provider: "aws", Region: "us-west-2", Service: "EC2", BorderGroup: "us-west-2"}},
			{pfx("3.5.0.0/16"), route.Tag{Provider: "aws", Region: "us-west-2", Service: "EC2", BorderGroup: "us-west-2"}},
			{pfx("3.5.16.0/20"), route.Tag{Provider: "aws", Region: "us-west-2", Service: "S3", BorderGroup: "us-west-2"}},
			{pfx("3.5.16.0/20"), route.Tag{Provider: "aws", Region: "us-west-2", Service: "AMAZON", BorderGroup: "us-west-2"}},
			{pfx("15.230.39.0/24"), route.Tag{Provider: "aws", Region: "us-west-2", Service: "AMAZON", BorderGroup: "us-west-2-lax-1"}},
			{pfx("52.94.0.0/22"), route.Tag{Provider: "aws", Region: "us-west-1", Service: "AMAZON", BorderGroup: "us-west-1"}},
			{pfx("2600:1f14::/35"), route.Tag{Provider: "aws", Region: "us-west-2", Service: "EC2", BorderGroup: "us-west-2"}},
			{pfx("2600:1f14::/35"), route.Tag{Provider: "aws", Region: "us-west-2", Service: "AMAZON", BorderGroup: "us-west-2"}},
		}},
		{"gcp", "gcp.json", "", FormatGCP, []Entry{
			{pfx("34.1.208.0/20"), route.Tag{Provider: "gcp", Region: "africa-south1", Service: "Google Cloud"}},
			{pfx("2600:1900:8000::/44"), route.Tag{Provider: "gcp", Region: "africa-south1", Service: "Google Cloud"}},
			{pfx("34.80.0.0/15"), route.Tag{Provider: "gcp", Region: "asia-east1", Service: "Google Cloud"}},
		}},
		{"azure with BOM", "azure.json", "", FormatAzure, []Entry{
			{pfx("20.33.0.0/16"), route.Tag{Provider: "azure", Service: "AzureCloud"}},
			{pfx("20.38.0.0/16"), route.Tag{Provider: "azure", Service: "AzureCloud"}},
			{pfx("2603:1000::/40"), route.Tag{Provider: "azure", Service: "AzureCloud"}},
			{pfx("20.33.0.0/16"), route.Tag{Provider: "azure", Region: "westeurope", Service: "AzureCloud"}},
			{pfx("2603:1000::/40"), route.Tag{Provider: "azure", Region: "westeurope", Service: "AzureCloud"}},
			{pfx("20.33.4.52/30"), route.Tag{Provider: "azure", Service: "ActionGroup"}},
			{pfx("20.33.128.0/17"), route.Tag{Provider: "azure", Region: "westeurope", Service: "AzureStorage"}},
		}},
		{"oracle", "oracle.json", "", FormatOracle, []Entry{
			{pfx("129.80.0.0/16"), route.Tag{Provider: "oracle", Region: "us-ashburn-1", Service: "OCI"}},
			{pfx("134.70.24.0/21"), route.Tag{Provider: "oracle", Region: "us-ashburn-1", Service: "OBJECT_STORAGE"}},
			{pfx("134.70.24.0/21"), route.Tag{Provider: "oracle", Region: "us-ashburn-1", Service: "OSN"}},
			{pfx("130.61.0.0/16"), route.Tag{Provider: "oracle", Region: "eu-frankfurt-1", Service: "OCI"}},
		}},
		{"plain list", "cidr.txt", "cloudflare", FormatCIDR, []Entry{
			{pfx("173.245.48.0/20"), route.Tag{Provider: "cloudflare"}},
			{pfx("103.21.244.0/22"), route.Tag{Provider: "cloudflare"}},
			{pfx("2400:cb00::/32"), route.Tag{Provider: "cloudflare"}},
			{pfx("198.41.128.1/32"), route.Tag{Provider: "cloudflare"}},
		}},
		{"name overrides provider", "gcp.json", "google", FormatGCP, []Entry{
			{pfx("34.1.208.0/20"), route.Tag{Provider: "google", Region: "africa-south1", Service: "Google Cloud"}},
			{pfx("2600:1900:8000::/44"), route.Tag{Provider: "google", Region: "africa-south1", Service: "Google Cloud"}},
			{pfx("34.80.0.0/15"), route.Tag{Provider: "google", Region: "asia-east1", Service: "Google Cloud"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, format, err := Parse(tt.file, readTestdata(t, tt.file), tt.provider)
			if err != nil {
				t.Fatal(err)
			}
			if format != tt.format {
				t.Errorf("format %q, want %q", format, tt.format)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("entries:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestParseSharedFiles parses every real file in ../shared/data/cloud and
// checks the counts against the files' own entry counts (jq/python).
func TestParseSharedFiles(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "cloud")
	tests := []struct {
		file     string
		provider string
		format   Format
		v4, v6   int
		regions  int // distinct regions, "" included
	}{
		{"aws-ip-ranges.2021-12-15.json", "", FormatAWS, 6282, 1153, 32},
		{"aws-ip-ranges.2025-07-24.json", "", FormatAWS, 8971, 4373, 41},
		{"gcp-cloud.2025-07-24.json", "", FormatGCP, 736, 46, 0},
		{"azure-servicetags.2025-07.json", "", FormatAzure, 0, 0, 0},
		{"oracle-cloud.2025-07-21.json", "", FormatOracle, 944, 0, 45},
		{"cloudflare-ips-v4.txt", "cloudflare", FormatCIDR, 15, 0, 1},
		{"cloudflare-ips-v6.txt", "cloudflare", FormatCIDR, 0, 7, 1},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			entries, format, err := Parse(tt.file, data, tt.provider)
			if err != nil {
				t.Fatal(err)
			}
			if format != tt.format {
				t.Errorf("format %q, want %q", format, tt.format)
			}
			var v4, v6 int
			regions := map[string]bool{}
			for _, e := range entries {
				if !e.Prefix.IsValid() || e.Prefix != e.Prefix.Masked() {
					t.Fatalf("bad prefix %v", e.Prefix)
				}
				if e.Tag.Provider == "" {
					t.Fatalf("entry %v has no provider", e)
				}
				if e.Prefix.Addr().Is4() {
					v4++
				} else {
					v6++
				}
				regions[e.Tag.Region] = true
			}
			if tt.format == FormatAzure {
				// 90,493 addressPrefixes over 2,967 service tags.
				if v4+v6 != 90493 {
					t.Errorf("azure entries %d, want 90493", v4+v6)
				}
				return
			}
			if tt.format == FormatGCP {
				if v4 != tt.v4 || v6 != tt.v6 {
					t.Errorf("v4 %d v6 %d, want %d %d", v4, v6, tt.v4, tt.v6)
				}
				return
			}
			if v4 != tt.v4 || v6 != tt.v6 || len(regions) != tt.regions {
				t.Errorf("v4 %d v6 %d regions %d, want %d %d %d", v4, v6, len(regions), tt.v4, tt.v6, tt.regions)
			}
		})
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		if !seen[f.Name()] {
			t.Errorf("shared file %s is not covered by this test", f.Name())
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		provider string
		want     []string // substrings of the error
	}{
		{"aws bad prefix", `{"createDate":"x","prefixes":[{"ip_prefix":"3.5.0.0/16","region":"r","service":"s"},{"ip_prefix":"3.5.0.300/24","region":"r"}],"ipv6_prefixes":[]}`,
			"", []string{"f.json", "prefixes[1]", `bad prefix "3.5.0.300/24"`}},
		{"aws missing prefix", `{"createDate":"x","prefixes":[{"region":"r"}],"ipv6_prefixes":[]}`,
			"", []string{"prefixes[0]", "empty prefix"}},
		{"aws v6 in v4 list", `{"createDate":"x","prefixes":[{"ip_prefix":"2600::/32"}],"ipv6_prefixes":[]}`,
			"", []string{"prefixes[0]", "wrong address family"}},
		{"aws empty", `{"syncToken":"1","createDate":"x","prefixes":[],"ipv6_prefixes":[]}`,
			"", []string{"f.json", "no ranges in aws file"}},
		{"aws wrong type", `{"createDate":"x","prefixes":"oops"}`,
			"", []string{"line 1", "prefixes", "got JSON string"}},
		{"gcp neither key", `{"creationTime":"x","prefixes":[{"ipv4Prefix":"34.0.0.0/15"},{"service":"s"}]}`,
			"", []string{"prefixes[1]", "neither ipv4Prefix nor ipv6Prefix"}},
		{"gcp both keys", `{"creationTime":"x","prefixes":[{"ipv4Prefix":"34.0.0.0/15","ipv6Prefix":"2600::/32"}]}`,
			"", []string{"prefixes[0]", "both"}},
		{"azure bad prefix", `{"values":[{"name":"Storage.WestEurope","properties":{"addressPrefixes":["20.0.0.0/8","20.0.0.0/99"]}}]}`,
			"", []string{"values[0] (Storage.WestEurope) addressPrefixes[1]", "bad prefix"}},
		{"azure empty", `{"changeNumber":1,"values":[]}`, "", []string{"no ranges in azure file"}},
		{"oracle bad cidr", `{"regions":[{"region":"us-ashburn-1","cidrs":[{"cidr":"nope","tags":["OCI"]}]}]}`,
			"", []string{"regions[0] (us-ashburn-1) cidrs[0]", `bad prefix "nope"`}},
		{"truncated JSON", "{\n\"prefixes\": [\n{\"ip_prefix\": \"3.5.0.0/16\"",
			"", []string{"f.json", "line 3", "invalid JSON"}},
		{"unknown JSON", `{"hello":"world"}`, "", []string{"unknown JSON format"}},
		{"plain list without name", "1.2.3.0/24\n", "", []string{"needs a provider name", "NAME=f.json"}},
		{"plain list bad line", "1.2.3.0/24\n\nnot-a-cidr\n", "cf", []string{"line 3", `bad CIDR "not-a-cidr"`}},
		{"plain list bad mask", "1.2.3.0/24\n1.2.3.0/40\n", "cf", []string{"line 2", "bad prefix"}},
		{"plain list empty", "# nothing here\n\n", "cf", []string{"no ranges in cidr file"}},
		{"plain list zone", "fe80::1%eth0\n", "cf", []string{"line 1"}},
		{"empty file", "", "cf", []string{"no ranges"}},
		{"HTML error page", "<html><body>503</body></html>", "cf", []string{"line 1", "bad prefix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, _, err := Parse("f.json", []byte(tt.data), tt.provider)
			if err == nil {
				t.Fatalf("no error; entries %v", entries)
			}
			if entries != nil {
				t.Errorf("entries %v returned with an error", entries)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error %v is not ErrFormat", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseHostBitsMasked(t *testing.T) {
	entries, _, err := Parse("x", []byte("10.1.2.3/8\n"), "p")
	if err != nil {
		t.Fatal(err)
	}
	if got := entries[0].Prefix; got != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("prefix %v, want 10.0.0.0/8", got)
	}
}

// FuzzParse feeds arbitrary bytes to the format detection and every
// loader: no panic, and success means a non-empty set of valid, masked,
// tagged prefixes that all match themselves.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"aws.json", "gcp.json", "azure.json", "oracle.json", "cidr.txt"} {
		f.Add(readTestdata(f, name), "")
		f.Add(readTestdata(f, name), "cloudflare")
	}
	f.Add([]byte(`{"prefixes":[{"ipv6Prefix":"::/0"}]}`), "")
	f.Add([]byte(`{"regions":[{"cidrs":[{"cidr":"0.0.0.0/0"}]}]}`), "")
	f.Fuzz(func(t *testing.T, data []byte, provider string) {
		entries, _, err := Parse("fuzz", data, provider)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			return
		}
		if len(entries) == 0 {
			t.Fatal("success with no entries")
		}
		set := NewSet(entries, nil)
		for _, e := range entries {
			if !e.Prefix.IsValid() || e.Prefix != e.Prefix.Masked() || e.Tag.Provider == "" {
				t.Fatalf("bad entry %+v", e)
			}
			if len(set.Match(e.Prefix)) == 0 {
				t.Fatalf("%v does not match itself", e.Prefix)
			}
		}
	})
}
