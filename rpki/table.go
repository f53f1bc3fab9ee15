package rpki

import (
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"

	"github.com/gaissmai/bart"

	"routewatch/route"
)

type authorization struct {
	maxLength int
	asn       uint32
}

// Table answers origin validation queries. The zero of *Table (nil) has
// no VRPs and answers route.ROVNone. Safe for concurrent reads.
type Table struct {
	t    bart.Table[[]authorization]
	vrps int
	fp   string
}

// NewTable indexes vrps.
func NewTable(vrps []VRP) *Table {
	t := &Table{vrps: len(vrps)}
	h := fnv.New64a()
	var buf []byte
	for _, v := range vrps {
		buf, _ = v.Prefix.AppendBinary(buf[:0])
		buf = append(buf, byte(v.MaxLength), byte(v.ASN>>24), byte(v.ASN>>16), byte(v.ASN>>8), byte(v.ASN))
		h.Write(buf)
		a := authorization{maxLength: v.MaxLength, asn: v.ASN}
		t.t.Modify(v.Prefix, func(old []authorization, _ bool) ([]authorization, bool) {
			return append(old, a), false
		})
	}
	t.fp = strconv.Itoa(len(vrps)) + "-" + strconv.FormatUint(h.Sum64(), 16)
	return t
}

// Fingerprint identifies the VRPs (their count and a hash of the list):
// answers built with one table are not valid with another. "" for nil.
func (t *Table) Fingerprint() string {
	if t == nil {
		return ""
	}
	return t.fp
}

// Authorized returns the ASNs of the VRPs covering prefix (whatever their
// maxLength), sorted; none when nothing covers it.
func (t *Table) Authorized(prefix netip.Prefix) []uint32 {
	if t == nil {
		return nil
	}
	var out []uint32
	for _, auths := range t.t.Supernets(prefix.Masked()) {
		for _, a := range auths {
			if !slices.Contains(out, a.asn) {
				out = append(out, a.asn)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Len is the number of VRPs indexed.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return t.vrps
}

// Validate is RFC 6811 route origin validation of prefix announced by
// origin. originOK false means the path has no single origin (empty, or
// ending in an AS_SET of several): such a route matches no VRP.
// AS 0 in a VRP authorizes nobody (RFC 6483 §4).
func (t *Table) Validate(prefix netip.Prefix, origin uint32, originOK bool) route.ROVState {
	if t == nil || t.vrps == 0 {
		return route.ROVNone
	}
	prefix = prefix.Masked()
	covered := false
	for _, auths := range t.t.Supernets(prefix) {
		covered = true
		if !originOK {
			continue
		}
		for _, a := range auths {
			if a.asn != 0 && a.asn == origin && prefix.Bits() <= a.maxLength {
				return route.ROVValid
			}
		}
	}
	if covered {
		return route.ROVInvalid
	}
	return route.ROVNotFound
}

// ValidatePath validates prefix with the origin of path.
func (t *Table) ValidatePath(prefix netip.Prefix, path route.ASPath) route.ROVState {
	origin, ok := path.Origin()
	if ok && len(path) > 0 && path[len(path)-1].Type == route.ASSet {
		// RFC 6907 §7.1.8: an origin inside an AS_SET matches no VRP.
		ok = false
	}
	return t.Validate(prefix, origin, ok)
}
