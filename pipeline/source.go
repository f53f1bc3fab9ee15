// Package pipeline is the one door every source enters: it tags each
// route.Batch with the provider ranges, keeps what is watched, feeds the
// analyzer, writes route state and events to the store and hands event
// changes to the alerter. `routewatch serve` (live sessions, startup
// replay) and `routewatch replay` run the same Engine, so an archive gives
// the same events either way.
package pipeline

import (
	"context"
	"time"

	"routewatch/route"
)

// Source is anything that feeds the pipeline: the BGP collector, an MRT
// feed (mrtdata.Feed), a BMP station, the RIS Live client, an archive
// fetcher. Run sends batches to out until its input ends or ctx is done;
// it never closes out (several sources may share it) and knows nothing of
// the analyzer or the store.
type Source interface {
	Run(ctx context.Context, out chan<- route.Batch) error
}

// Job is a batch the Engine answers on Done (buffered, capacity 1) once
// everything it caused is in the store, so a stream consumer acknowledges
// only what has landed. With End set the batch is the last of a finite
// source: the Engine then runs the analyzer's clock to the last record and
// settles what waits (as at the end of a replay); At, when later than
// every update, is the time of that last record.
type Job struct {
	Batch route.Batch
	End   bool
	At    time.Time
	Done  chan error
	// StreamID (analyzer role) is the update stream entry the batch is:
	// the engine applies each entry once, skipping one at or before the
	// last it applied (a redelivery, or an entry the checkpoint it was
	// restored from already holds), and checkpoints record the last.
	StreamID string
}
