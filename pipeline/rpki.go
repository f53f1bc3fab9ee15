package pipeline

import (
	"fmt"
	"net/netip"
	"strings"

	"routewatch/route"
)

// authorizer is the optional part of a Validator that names the origins
// the VRPs covering a prefix authorise (rpki.Table).
type authorizer interface {
	Authorized(p netip.Prefix) []uint32
}

// annotateRPKI adds the ROV states of a hijack event's bogus routes to its
// summary (which chat cards show): "RPKI-invalid: the ROA authorises
// AS16509 only" when every one is invalid, the counts otherwise.
func annotateRPKI(ev *route.Event, v Validator) {
	c := ev.RPKI
	if c == nil || c.Total() == 0 || strings.Contains(ev.Summary, "; RPKI") {
		return
	}
	if c.Invalid == c.Total() {
		ev.Summary += "; RPKI-invalid"
		if a, ok := v.(authorizer); ok && len(ev.SamplePrefixes) > 0 {
			if asns := a.Authorized(ev.SamplePrefixes[0]); len(asns) > 0 {
				verb := "the ROA authorises "
				if len(asns) > 1 {
					verb = "the ROAs authorise "
				}
				ev.Summary += ": " + verb + asPhrase(asns) + " only"
			}
		}
		return
	}
	var parts []string
	for _, p := range []struct {
		n    int
		name string
	}{{c.Invalid, "invalid"}, {c.Valid, "valid"}, {c.NotFound, "not-found"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.name))
		}
	}
	ev.Summary += "; RPKI: " + strings.Join(parts, ", ")
}

func asPhrase(asns []uint32) string {
	parts := make([]string, len(asns))
	for i, a := range asns {
		parts[i] = fmt.Sprintf("AS%d", a)
	}
	return strings.Join(parts, ", ")
}
