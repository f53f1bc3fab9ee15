package ranges

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"routewatch/internal/fetch"
	"strings"
	"time"
)

// Official locations of the published range files. Azure has none: its
// download URL changes weekly (see the package documentation).
const (
	URLAWS          = "https://ip-ranges.amazonaws.com/ip-ranges.json"
	URLGCP          = "https://www.gstatic.com/ipranges/cloud.json"
	URLOracle       = "https://docs.oracle.com/iaas/tools/public_ip_ranges.json"
	URLCloudflareV4 = "https://www.cloudflare.com/ips-v4"
	URLCloudflareV6 = "https://www.cloudflare.com/ips-v6"
)

// DefaultSpecs are the official sources, used when none are configured.
func DefaultSpecs() []string {
	return []string{
		URLAWS,
		URLGCP,
		URLOracle,
		ProviderCloudflare + "=" + URLCloudflareV4,
		ProviderCloudflare + "=" + URLCloudflareV6,
	}
}

// DefaultWatchASNs are the providers' own origin ASNs: announcements from
// them that no range file covers are still watched.
func DefaultWatchASNs() map[string][]uint32 {
	return map[string][]uint32{
		ProviderAWS:        {16509, 14618},
		ProviderGCP:        {15169, 396982},
		ProviderAzure:      {8075},
		ProviderOracle:     {31898},
		ProviderCloudflare: {13335},
	}
}

// Config is the ranges section of the routewatch configuration.
type Config struct {
	// Specs are FILE, URL, NAME=FILE or NAME=URL; empty means DefaultSpecs.
	Specs []string `yaml:"specs"`
	// Refresh is how often the sources are re-fetched (default 6h).
	Refresh time.Duration `yaml:"refresh"`
	// WatchASNs maps provider names to origin ASNs; nil means
	// DefaultWatchASNs, an empty map means none.
	WatchASNs map[string][]uint32 `yaml:"watch_asns"`
}

// DefaultRefresh is the refresh interval when none is configured. The
// providers publish changes a few times a day at most.
const DefaultRefresh = 6 * time.Hour

// Options tune loading.
type Options struct {
	// Client fetches URLs; nil means a client with a 60 s timeout.
	Client *http.Client
	// WatchASNs: nil means DefaultWatchASNs; a non-nil empty map disables
	// origin-ASN tagging.
	WatchASNs map[string][]uint32
	// MaxBytes bounds one source's size (default 64 MiB; Azure's file is
	// ~4 MB).
	MaxBytes int64
	// UserAgent for HTTP requests (default "routewatch").
	UserAgent string
}

func (o Options) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return &http.Client{Timeout: 60 * time.Second}
}

func (o Options) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return 64 << 20
}

func (o Options) watch() map[string][]uint32 {
	if o.WatchASNs == nil {
		return DefaultWatchASNs()
	}
	return o.WatchASNs
}

// Spec is a parsed source spec.
type Spec struct {
	Raw      string // as given
	Name     string // provider override, "" when not given
	Location string // file path or URL
}

// IsURL reports whether the spec is fetched over HTTP.
func (s Spec) IsURL() bool { return fetch.IsURL(s.Location) }

var specName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// ParseSpec splits NAME=LOCATION. A leading part that is not a plain
// lower-case name (such as "https://x/?a") is not a NAME, so URLs with
// query strings stay intact.
func ParseSpec(raw string) (Spec, error) {
	s := Spec{Raw: raw, Location: raw}
	if name, loc, ok := strings.Cut(raw, "="); ok && specName.MatchString(name) {
		s.Name, s.Location = name, loc
	}
	if s.Location == "" {
		return s, fmt.Errorf("ranges: parse spec %q: empty file or URL", raw)
	}
	return s, nil
}

// FetchError is a source that could not be read (as opposed to read and
// found malformed, which is a *ParseError).
type FetchError = fetch.Error

// Loaded is one source's parsed content.
type Loaded struct {
	Source  Source
	Entries []Entry
}

// validators carry what a conditional re-fetch needs.
type validators = fetch.Validators

// Fetch reads and parses one spec.
func Fetch(ctx context.Context, raw string, opts Options) (*Loaded, error) {
	l, _, _, err := fetchSpec(ctx, raw, opts, validators{})
	return l, err
}

// fetchSpec reads one spec; with validators from an earlier fetch it returns
// notModified=true (and no Loaded) when the source is unchanged.
func fetchSpec(ctx context.Context, raw string, opts Options, old validators) (l *Loaded, v validators, notModified bool, err error) {
	spec, err := ParseSpec(raw)
	if err != nil {
		return nil, v, false, err
	}
	data, v, notModified, err := fetch.Get(ctx, spec.Location, fetch.Options{Client: opts.client(), MaxBytes: opts.maxBytes(), UserAgent: opts.UserAgent}, old)
	if err != nil || notModified {
		return nil, v, notModified, err
	}
	entries, format, err := Parse(spec.Location, data, spec.Name)
	if err != nil {
		return nil, v, false, err
	}
	l = &Loaded{Source: Source{Spec: raw, Format: format, Entries: len(entries), ETag: v.ETag, LastModified: v.LastModified}, Entries: entries}
	l.Source.Provider = entries[0].Tag.Provider
	for _, e := range entries {
		if e.Prefix.Addr().Is4() {
			l.Source.V4++
		} else {
			l.Source.V6++
		}
	}
	return l, v, false, nil
}

// Build makes a set from loaded sources.
func Build(loaded []*Loaded, watch map[string][]uint32) *Set {
	var all []Entry
	var sources []Source
	for _, l := range loaded {
		if l == nil {
			continue
		}
		all = append(all, l.Entries...)
		sources = append(sources, l.Source)
	}
	s := NewSet(all, watch)
	s.sources = sources
	return s
}

// Load reads and parses every spec and builds one set. Any source that
// cannot be read or parsed fails the whole load (the errors of all failing
// sources are joined): a partial set must not pass for a complete one.
func Load(ctx context.Context, specs []string, opts Options) (*Set, error) {
	if len(specs) == 0 {
		return nil, errors.New("ranges: load: no sources given")
	}
	loaded := make([]*Loaded, 0, len(specs))
	var errs []error
	for _, raw := range specs {
		l, err := Fetch(ctx, raw, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		loaded = append(loaded, l)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return Build(loaded, opts.watch()), nil
}
