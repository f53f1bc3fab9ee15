package route

// Batch is what every source hands to the pipeline: the one door. Updates
// are in arrival order and happened before States; a source that needs a
// state change to follow an update sends them in the same batch or in
// order across batches. Consumers may keep the slices: a source never
// reuses them after sending.
type Batch struct {
	Updates []Update
	States  []PeerState
}

// Empty reports whether b carries nothing.
func (b Batch) Empty() bool { return len(b.Updates) == 0 && len(b.States) == 0 }
