package engine

import (
	"context"
	"fmt"
	"log/slog"
)

// bgCtx is the context for log calls made on the loops.
var bgCtx = context.Background()

const levelDebug = slog.LevelDebug

func attrSession(id uint64) slog.Attr    { return slog.Uint64("session_id", id) }
func attrBackend(addr string) slog.Attr  { return slog.String("backend", addr) }
func attrErr(err error) slog.Attr        { return slog.String("err", err.Error()) }
func attrUpstream(name string) slog.Attr { return slog.String("upstream", name) }

// gnetLogger routes gnet's own messages to slog. Its Fatalf only logs: a
// library must not end the process.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Info(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
