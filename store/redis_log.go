package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// redisLogOnce guards go-redis's process-wide logger setting.
var redisLogOnce sync.Once

// redisLog adapts slog to go-redis's internal logger.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "store: redis client", "detail", fmt.Sprintf(format, v...))
}
