package rpki

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"routewatch/route"
)

// FuzzParse: Parse either fails with a *ParseError or returns VRPs that
// are well formed, and validating against them never panics and always
// finds a covered prefix covered.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"rpki-client.json", "routinator-jsonext.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"roas":[{"asn":"AS1","prefix":"::/0","maxLength":128}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		vrps, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		tab := NewTable(vrps)
		for _, v := range vrps {
			if v.Prefix != v.Prefix.Masked() || v.MaxLength < v.Prefix.Bits() || v.MaxLength > v.Prefix.Addr().BitLen() {
				t.Fatalf("malformed VRP accepted: %+v", v)
			}
			if got := tab.Validate(v.Prefix, v.ASN, true); v.ASN != 0 && got != route.ROVValid {
				t.Fatalf("%+v: own origin %q, want valid", v, got)
			}
			if got := tab.Validate(v.Prefix, v.ASN+1, true); got == route.ROVNotFound {
				t.Fatalf("%+v: covered prefix not found", v)
			}
		}
		tab.Validate(netip.MustParsePrefix("0.0.0.0/0"), 1, true)
	})
}
