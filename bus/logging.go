package bus

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// SetLibraryLogger sends what go-redis logs (dial failures, pool
// reconnects) to log at debug level, instead of its default: plain lines
// on stderr, between the process's JSON ones. go-redis keeps its logger
// in a package variable, so this is process-wide: the program's main
// calls it once, as it sets up its own logging.
func SetLibraryLogger(log *slog.Logger) {
	redis.SetLogger(redisLog{log})
}

// redisLog adapts slog to go-redis's Logging interface.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.LogAttrs(ctx, slog.LevelDebug, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
	}
}
