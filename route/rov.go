package route

// ROVState is a route's RPKI route origin validation state (RFC 6811).
// The JSON values are part of the API's route views (DESIGN.md).
type ROVState string

// ROV states. ROVNone means no VRPs are configured: nothing was validated.
const (
	ROVNone     ROVState = ""
	ROVValid    ROVState = "valid"
	ROVInvalid  ROVState = "invalid"
	ROVNotFound ROVState = "not-found"
)

// ROVCounts counts routes by ROV state.
type ROVCounts struct {
	Valid    int `json:"valid"`
	Invalid  int `json:"invalid"`
	NotFound int `json:"not-found"`
}

// Total is the number of routes counted.
func (c ROVCounts) Total() int { return c.Valid + c.Invalid + c.NotFound }
