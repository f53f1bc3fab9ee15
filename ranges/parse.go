package ranges

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"routewatch/route"
)

// Format is a range file format, detected from content.
type Format string

// Formats Parse recognizes.
const (
	FormatAWS    Format = "aws"
	FormatGCP    Format = "gcp"
	FormatAzure  Format = "azure"
	FormatOracle Format = "oracle"
	FormatCIDR   Format = "cidr" // plain CIDR list, one a line
)

// Provider names given to the detected JSON formats.
const (
	ProviderAWS        = "aws"
	ProviderGCP        = "gcp"
	ProviderAzure      = "azure"
	ProviderOracle     = "oracle"
	ProviderCloudflare = "cloudflare"
)

// Entry is one published range with what the provider says about it.
// Tag.Match is zero here; Set.Match fills it.
type Entry struct {
	Prefix netip.Prefix
	Tag    route.Tag
}

// ErrFormat is wrapped by every ParseError, so callers can tell bad content
// from a failed fetch.
var ErrFormat = errors.New("malformed range file")

// ParseError says which file and which entry is malformed, and why.
type ParseError struct {
	File   string // the spec or file name
	Entry  string // e.g. `prefixes[12]`, `line 7`; "" for file-level problems
	Reason string
}

func (e *ParseError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("ranges: parse %s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("ranges: parse %s: %s: %s", e.File, e.Entry, e.Reason)
}

// Unwrap makes errors.Is(err, ErrFormat) true.
func (e *ParseError) Unwrap() error { return ErrFormat }

// Parse detects the format of data and returns its entries. name is used
// in errors; provider, when not "", overrides the provider name (and is
// required for plain CIDR lists). A file that yields no range at all is an
// error: an empty set must never pass silently for a provider's ranges.
func Parse(name string, data []byte, provider string) ([]Entry, Format, error) {
	p := parser{file: name, strs: map[string]string{}}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // Azure files may carry a UTF-8 BOM
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var (
		entries []Entry
		format  Format
		err     error
	)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		entries, format, err = p.parseJSON(data)
	} else {
		format = FormatCIDR
		if provider == "" {
			return nil, format, p.errf("", "a plain CIDR list needs a provider name: use NAME=%s", name)
		}
		entries, err = p.parseCIDR(data)
	}
	if err != nil {
		return nil, format, err
	}
	if len(entries) == 0 {
		return nil, format, p.errf("", "no ranges in %s file", format)
	}
	if provider != "" {
		provider = p.intern(provider)
		for i := range entries {
			entries[i].Tag.Provider = provider
		}
	}
	return entries, format, nil
}

type parser struct {
	file string
	// strs interns region/service names: a few hundred distinct strings
	// repeat over ~100 k entries, and tags are kept for the set's life.
	strs map[string]string
}

// internBytes is intern for a string still in the file's bytes.
func (p *parser) internBytes(b []byte) string {
	if v, ok := p.strs[string(b)]; ok {
		return v
	}
	return p.intern(string(b))
}

func (p *parser) intern(s string) string {
	if v, ok := p.strs[s]; ok {
		return v
	}
	s = strings.Clone(s)
	p.strs[s] = s
	return s
}

func (p *parser) errf(entry, format string, args ...any) error {
	return &ParseError{File: p.file, Entry: entry, Reason: fmt.Sprintf(format, args...)}
}

// prefix parses a published CIDR. Host bits set past the mask are
// tolerated and cleared: the range the provider means is unambiguous.
func (p *parser) prefix(entry, s string) (netip.Prefix, error) {
	pfx, reason := parsePrefix(s)
	if reason != "" {
		return netip.Prefix{}, p.errf(entry, "%s", reason)
	}
	return pfx, nil
}

// parsePrefix is prefix without the error: a reason instead.
func parsePrefix(s string) (netip.Prefix, string) {
	if s == "" {
		return netip.Prefix{}, "empty prefix"
	}
	pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("bad prefix %q: %v", truncate(s), err)
	}
	if pfx.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Sprintf("bad prefix %q: zone not allowed", truncate(s))
	}
	return pfx.Masked(), ""
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// jsonProbe holds the top-level keys that tell the formats apart.
type jsonProbe struct {
	Prefixes     json.RawMessage `json:"prefixes"`
	IPv6Prefixes json.RawMessage `json:"ipv6_prefixes"`
	CreateDate   *string         `json:"createDate"`
	CreationTime *string         `json:"creationTime"`
	Values       json.RawMessage `json:"values"`
	Regions      json.RawMessage `json:"regions"`
}

func (p *parser) parseJSON(data []byte) ([]Entry, Format, error) {
	if e, ok := p.parseAWSFast(data); ok {
		return e, FormatAWS, nil
	}
	var probe jsonProbe
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, "", p.jsonErr(data, err)
	}
	switch {
	case probe.Values != nil:
		e, err := p.parseAzure(data)
		return e, FormatAzure, err
	case probe.Regions != nil:
		e, err := p.parseOracle(data)
		return e, FormatOracle, err
	case probe.IPv6Prefixes != nil || probe.CreateDate != nil:
		e, err := p.parseAWS(data)
		return e, FormatAWS, err
	case probe.CreationTime != nil:
		e, err := p.parseGCP(data)
		return e, FormatGCP, err
	case probe.Prefixes != nil:
		// No telling top-level key: look at the first entry's keys.
		var first []map[string]json.RawMessage
		if err := json.Unmarshal(probe.Prefixes, &first); err != nil {
			return nil, "", p.errf("prefixes", "not a list of objects: %v", err)
		}
		if len(first) > 0 {
			if _, ok := first[0]["ip_prefix"]; ok {
				e, err := p.parseAWS(data)
				return e, FormatAWS, err
			}
			if _, ok := first[0]["ipv4Prefix"]; ok {
				e, err := p.parseGCP(data)
				return e, FormatGCP, err
			}
			if _, ok := first[0]["ipv6Prefix"]; ok {
				e, err := p.parseGCP(data)
				return e, FormatGCP, err
			}
		}
	}
	return nil, "", p.errf("", "unknown JSON format (expected AWS ip-ranges, Google cloud.json, Azure Service Tags or Oracle public_ip_ranges)")
}

// jsonErr turns a decoding error into a ParseError with a line number.
func (p *parser) jsonErr(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return p.errf(fmt.Sprintf("line %d", lineAt(data, syn.Offset)), "invalid JSON: %v", err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "top level"
		}
		return p.errf(fmt.Sprintf("line %d", lineAt(data, typ.Offset)), "%s: want %s, got JSON %s", field, typ.Type, typ.Value)
	}
	return p.errf("", "invalid JSON: %v", err)
}

func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}

type awsFile struct {
	Prefixes []struct {
		IPPrefix           string `json:"ip_prefix"`
		Region             string `json:"region"`
		Service            string `json:"service"`
		NetworkBorderGroup string `json:"network_border_group"`
	} `json:"prefixes"`
	IPv6Prefixes []struct {
		IPv6Prefix         string `json:"ipv6_prefix"`
		Region             string `json:"region"`
		Service            string `json:"service"`
		NetworkBorderGroup string `json:"network_border_group"`
	} `json:"ipv6_prefixes"`
}

func (p *parser) parseAWS(data []byte) ([]Entry, error) {
	var f awsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, p.jsonErr(data, err)
	}
	out := make([]Entry, 0, len(f.Prefixes)+len(f.IPv6Prefixes))
	for i, e := range f.Prefixes {
		if err := p.addAWS(&out, "prefixes", i, e.IPPrefix, p.intern(e.Region), p.intern(e.Service), p.intern(e.NetworkBorderGroup), false); err != nil {
			return nil, err
		}
	}
	for i, e := range f.IPv6Prefixes {
		if err := p.addAWS(&out, "ipv6_prefixes", i, e.IPv6Prefix, p.intern(e.Region), p.intern(e.Service), p.intern(e.NetworkBorderGroup), true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addAWS appends entry i of list (interned strings; the entry's name is
// formatted only for an error).
func (p *parser) addAWS(out *[]Entry, list string, i int, cidr, region, service, nbg string, want6 bool) error {
	pfx, reason := parsePrefix(cidr)
	if reason == "" && pfx.Addr().Is6() != want6 {
		reason = fmt.Sprintf("prefix %s is in the wrong address family list", pfx)
	}
	if reason != "" {
		return p.errf(fmt.Sprintf("%s[%d]", list, i), "%s", reason)
	}
	*out = append(*out, Entry{Prefix: pfx, Tag: route.Tag{
		Provider: ProviderAWS, Region: region, Service: service, BorderGroup: nbg,
	}})
	return nil
}

type gcpFile struct {
	Prefixes []struct {
		IPv4Prefix string `json:"ipv4Prefix"`
		IPv6Prefix string `json:"ipv6Prefix"`
		Service    string `json:"service"`
		Scope      string `json:"scope"`
	} `json:"prefixes"`
}

func (p *parser) parseGCP(data []byte) ([]Entry, error) {
	var f gcpFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, p.jsonErr(data, err)
	}
	out := make([]Entry, 0, len(f.Prefixes))
	for i, e := range f.Prefixes {
		entry := fmt.Sprintf("prefixes[%d]", i)
		cidr, want6 := e.IPv4Prefix, false
		switch {
		case e.IPv4Prefix != "" && e.IPv6Prefix != "":
			return nil, p.errf(entry, "has both ipv4Prefix and ipv6Prefix")
		case e.IPv6Prefix != "":
			cidr, want6 = e.IPv6Prefix, true
		case e.IPv4Prefix == "":
			return nil, p.errf(entry, "has neither ipv4Prefix nor ipv6Prefix")
		}
		pfx, err := p.prefix(entry, cidr)
		if err != nil {
			return nil, err
		}
		if pfx.Addr().Is6() != want6 {
			return nil, p.errf(entry, "prefix %s does not match its key", pfx)
		}
		out = append(out, Entry{Prefix: pfx, Tag: route.Tag{
			Provider: ProviderGCP, Region: p.intern(e.Scope), Service: p.intern(e.Service),
		}})
	}
	return out, nil
}

type azureFile struct {
	Values []struct {
		Name       string `json:"name"`
		Properties struct {
			Region          string   `json:"region"`
			SystemService   string   `json:"systemService"`
			AddressPrefixes []string `json:"addressPrefixes"`
		} `json:"properties"`
	} `json:"values"`
}

func (p *parser) parseAzure(data []byte) ([]Entry, error) {
	var f azureFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, p.jsonErr(data, err)
	}
	var out []Entry
	for i, v := range f.Values {
		// AzureCloud.<region> tags have no systemService: the tag name's
		// stem is the most useful service name then.
		service := v.Properties.SystemService
		if service == "" {
			service, _, _ = strings.Cut(v.Name, ".")
		}
		tag := route.Tag{Provider: ProviderAzure, Region: p.intern(v.Properties.Region), Service: p.intern(service)}
		for j, cidr := range v.Properties.AddressPrefixes {
			pfx, err := p.prefix(fmt.Sprintf("values[%d] (%s) addressPrefixes[%d]", i, truncate(v.Name), j), cidr)
			if err != nil {
				return nil, err
			}
			out = append(out, Entry{Prefix: pfx, Tag: tag})
		}
	}
	return out, nil
}

type oracleFile struct {
	Regions []struct {
		Region string `json:"region"`
		CIDRs  []struct {
			CIDR string   `json:"cidr"`
			Tags []string `json:"tags"`
		} `json:"cidrs"`
	} `json:"regions"`
}

func (p *parser) parseOracle(data []byte) ([]Entry, error) {
	var f oracleFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, p.jsonErr(data, err)
	}
	var out []Entry
	for i, r := range f.Regions {
		region := p.intern(r.Region)
		for j, c := range r.CIDRs {
			pfx, err := p.prefix(fmt.Sprintf("regions[%d] (%s) cidrs[%d]", i, truncate(r.Region), j), c.CIDR)
			if err != nil {
				return nil, err
			}
			if len(c.Tags) == 0 {
				out = append(out, Entry{Prefix: pfx, Tag: route.Tag{Provider: ProviderOracle, Region: region}})
			}
			// Each Oracle tag (OCI, OSN, OBJECT_STORAGE) is a service.
			for _, t := range c.Tags {
				out = append(out, Entry{Prefix: pfx, Tag: route.Tag{Provider: ProviderOracle, Region: region, Service: p.intern(t)}})
			}
		}
	}
	return out, nil
}

// parseCIDR reads a plain list: one CIDR (or bare address) a line, blank
// lines and '#' comments allowed. Tags get the provider later.
func (p *parser) parseCIDR(data []byte) ([]Entry, error) {
	var out []Entry
	for n, line := range bytes.Split(data, []byte("\n")) {
		s := string(bytes.TrimSpace(line))
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		if s == "" {
			continue
		}
		entry := fmt.Sprintf("line %d", n+1)
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, p.errf(entry, "bad CIDR %q", truncate(s))
			}
			s = netip.PrefixFrom(a, a.BitLen()).String()
		}
		pfx, err := p.prefix(entry, s)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Prefix: pfx})
	}
	return out, nil
}
