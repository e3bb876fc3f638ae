package bus

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestRedisLog(t *testing.T) {
	var buf bytes.Buffer
	l := redisLog{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Printf(context.Background(), "redis: dial %s failed: %v", "127.0.0.1:1", "refused")
	if got := buf.String(); !strings.Contains(got, `"msg":"redis: dial 127.0.0.1:1 failed: refused"`) || !strings.Contains(got, `"component":"go-redis"`) {
		t.Fatalf("logged %s", got)
	}
	buf.Reset()
	quiet := redisLog{slog.New(slog.NewJSONHandler(&buf, nil))} // info: debug lines dropped
	quiet.Printf(context.Background(), "noise")
	if buf.Len() != 0 {
		t.Fatalf("logged below the level: %s", buf.String())
	}
}
