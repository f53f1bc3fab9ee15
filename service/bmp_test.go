package service

import (
	"strings"
	"testing"
)

// TestParseBMPConfig: the `bmp:` section exactly as DESIGN.md's config
// contract spells it, and its errors naming the key.
func TestParseBMPConfig(t *testing.T) {
	contract := "bmp:\n  enabled: false\n  listen: 127.0.0.1:11019\n  allow: [127.0.0.0/8]\n  active: []\n"
	c, err := Parse(strings.NewReader(contract), nil)
	if err != nil {
		t.Fatalf("contract section: %v", err)
	}
	if c.BMP.Listen != "127.0.0.1:11019" || len(c.BMP.Allow) != 1 || c.BMP.Enabled {
		t.Errorf("bmp = %+v", c.BMP)
	}
	for _, tc := range []struct{ name, yaml, wantErr string }{
		{"active target", "bmp:\n  enabled: true\n  active: [{address: 192.0.2.1, port: 5000}]\n", ""},
		{"unknown key", "bmp:\n  enabled: true\n  lisen: 127.0.0.1:1\n", "field lisen not found"},
		{"bad allow", "bmp:\n  enabled: true\n  allow: [10.0.0.0]\n", "bmp.allow"},
		{"bad listen", "bmp:\n  enabled: true\n  listen: localhost\n", "bmp.listen"},
		{"bad active port", "bmp:\n  enabled: true\n  active: [{address: 192.0.2.1, port: 0}]\n", "bmp.active[0].port"},
		{"bad active address", "bmp:\n  enabled: true\n  active: [{address: router1, port: 5000}]\n", "bmp.active[0].address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml), nil)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
