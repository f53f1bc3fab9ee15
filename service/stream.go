package service

import (
	"context"
	"time"

	"routewatch/pipeline"
	"routewatch/store"
)

// streamStart (analyzer role, before the engine runs) reads the consumer
// group's position: the end of what a restored checkpoint must re-read,
// and, when the analyzer's state holds no stream entry, the position its
// checkpoints record until it applies one. "" when Redis cannot say (the
// group then continues where it is).
func (s *Service) streamStart(ctx context.Context, c *store.Consumer, restored pipeline.RestoreResult) string {
	upto, err := c.Delivered(ctx)
	if err != nil {
		s.logger.Error("stream position unknown; entries the group delivered after the checkpoint are not re-read", "err", err)
		return ""
	}
	if restored.StreamID == "" {
		s.engine.SetStreamBase(upto)
	}
	return upto
}

// replayStream re-reads the stream entries after the restored checkpoint
// that the group already delivered (to the process that died, or before
// a clean stop whose checkpoint failed): the analyzer continues as if it
// had never stopped. The group then goes on; what it delivers again that
// the analyzer already applied is acknowledged and skipped by the engine.
func (s *Service) replayStream(ctx context.Context, c *store.Consumer, from, upto string) {
	start := time.Now()
	res, err := c.Replay(ctx, from, upto, s.analyzeBatch)
	if err != nil {
		return // ctx ended
	}
	s.logger.Info("checkpoint: re-read the stream entries after it", "from", from, "upto", upto,
		"entries", res.Entries, "gap", res.Gap, "elapsed", time.Since(start).Round(time.Millisecond))
}
