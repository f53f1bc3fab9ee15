package ranges

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"routewatch/internal/testenv"
)

// TestAWSFastPath: where the fast path takes a document, it yields what
// the encoding/json path yields; where it should not, it gives up.
func TestAWSFastPath(t *testing.T) {
	const entry = `{"ip_prefix": "3.5.0.0/16", "region": "r", "service": "S", "network_border_group": "g"}`
	shared := filepath.Join(testenv.SharedData(t), "cloud")
	files := map[string]string{"testdata": filepath.Join("testdata", "aws.json")}
	for _, f := range []string{"aws-ip-ranges.2021-12-15.json", "aws-ip-ranges.2025-07-24.json"} {
		files[f] = filepath.Join(shared, f)
	}
	tests := []struct {
		name string
		doc  string
		fast bool
	}{
		{"minimal", `{"createDate": "x", "prefixes": [` + entry + `]}`, true},
		{"v6 list only", `{"ipv6_prefixes": [{"ipv6_prefix": "2600::/32", "region": "r"}]}`, true},
		{"other keys and values skipped", `{"createDate": "x", "n": [1.5e3, -0, true, null, {"a": "\u00e9\n"}], "prefixes": [{"x": {}, "ip_prefix": "3.5.0.0/16"}]}`, true},
		{"bad prefix", `{"createDate": "x", "prefixes": [{"ip_prefix": "3.5.0.0/33"}]}`, false},
		{"wrong family", `{"createDate": "x", "prefixes": [{"ip_prefix": "2600::/32"}]}`, false},
		{"escape in a field", `{"createDate": "x", "prefixes": [{"ip_prefix": "3.5.0.0/16", "region": "a\u0062"}]}`, false},
		{"key in another case", `{"createDate": "x", "prefixes": [{"IP_Prefix": "3.5.0.0/16"}]}`, false},
		{"top-level key in another case", `{"createDate": "x", "Prefixes": []}`, false},
		{"duplicate field", `{"createDate": "x", "prefixes": [{"ip_prefix": "3.5.0.0/16", "ip_prefix": "3.6.0.0/16"}]}`, false},
		{"null entry", `{"createDate": "x", "prefixes": [null]}`, false},
		{"number field", `{"createDate": "x", "prefixes": [{"ip_prefix": "3.5.0.0/16", "region": 5}]}`, false},
		{"no telling key", `{"prefixes": [` + entry + `]}`, false},
		{"trailing data", `{"createDate": "x", "prefixes": []} x`, false},
		{"bad number", `{"createDate": "x", "n": 01, "prefixes": []}`, false},
		{"truncated", `{"createDate": "x", "prefixes": [` + entry, false},
		{"azure", `{"values": [], "createDate": "x"}`, false},
	}
	for name, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name string
			doc  string
			fast bool
		}{name, string(b), true})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fp := parser{file: "f", strs: map[string]string{}}
			got, ok := fp.parseAWSFast([]byte(tc.doc))
			if ok != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, tc.fast)
			}
			if !ok {
				return
			}
			sp := parser{file: "f", strs: map[string]string{}}
			want, err := sp.parseAWS([]byte(tc.doc))
			if err != nil {
				t.Fatalf("reference path: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fast path: %d entries, reference %d, or they differ", len(got), len(want))
			}
		})
	}
}

// FuzzAWSFastPath: whatever the fast path takes, the encoding/json path
// takes too, with the same entries.
func FuzzAWSFastPath(f *testing.F) {
	f.Add(`{"createDate": "x", "prefixes": [{"ip_prefix": "3.5.0.0/16", "region": "r", "service": "S"}]}`)
	f.Add(`{"ipv6_prefixes": [{"ipv6_prefix": "2600::/32", "network_border_group": "g"}], "n": [1.5e3, -0, true, null, {"a": "\u00e9"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		fp := parser{file: "f", strs: map[string]string{}}
		got, ok := fp.parseAWSFast([]byte(doc))
		if !ok {
			return
		}
		sp := parser{file: "f", strs: map[string]string{}}
		want, err := sp.parseAWS([]byte(doc))
		if err != nil {
			t.Fatalf("fast path took it, reference: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path: %v, reference %v", got, want)
		}
	})
}
