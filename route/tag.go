package route

// MatchKind says how an announced prefix relates to a published range.
type MatchKind uint8

// Match kinds.
const (
	// MatchEqual: the announced prefix is exactly a published range.
	MatchEqual MatchKind = iota + 1
	// MatchCovering: the announced prefix is less specific than (covers)
	// a published range.
	MatchCovering
	// MatchCovered: the announced prefix is a more-specific inside a
	// published range.
	MatchCovered
	// MatchOriginASN: no range matched; the origin AS is on the provider's
	// watch list.
	MatchOriginASN
)

func (m MatchKind) String() string {
	switch m {
	case MatchEqual:
		return "equal"
	case MatchCovering:
		return "covering"
	case MatchCovered:
		return "covered"
	case MatchOriginASN:
		return "origin_asn"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (m MatchKind) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Tag is what a provider publishes about a range, plus how the announced
// prefix matched it.
type Tag struct {
	Provider string `json:"provider"`
	Region   string `json:"region"`
	Service  string `json:"service,omitempty"`
	// BorderGroup is AWS's network_border_group where given.
	BorderGroup string    `json:"network_border_group,omitempty"`
	Match       MatchKind `json:"match"`
}

// Group is the unit events are attributed to.
type Group struct {
	Provider string
	Region   string
}

// Group returns the provider/region group of t.
func (t Tag) Group() Group { return Group{Provider: t.Provider, Region: t.Region} }
