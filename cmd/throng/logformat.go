package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/throngproxy/throng/config"
)

// formatHandler writes log records in the format [log] format names, and
// lets a reload change it: records go to the handler of the current
// format. The level is the shared LevelVar, which reloads change too.
type formatHandler struct {
	cur   *atomic.Pointer[slog.Handler]
	w     io.Writer
	level *slog.LevelVar
	// attrs and groups were added with WithAttrs and WithGroup, in order;
	// they are applied to the current handler for each record.
	with []func(slog.Handler) slog.Handler
}

// newFormatHandler returns a handler writing to w in format.
func newFormatHandler(w io.Writer, level *slog.LevelVar, format string) *formatHandler {
	h := &formatHandler{cur: new(atomic.Pointer[slog.Handler]), w: w, level: level}
	h.setFormat(format)
	return h
}

// setFormat switches every logger made from h to format (json or text).
func (h *formatHandler) setFormat(format string) {
	opts := &slog.HandlerOptions{Level: h.level}
	var next slog.Handler = slog.NewJSONHandler(h.w, opts)
	if format == config.FormatText {
		next = slog.NewTextHandler(h.w, opts)
	}
	h.cur.Store(&next)
}

func (h *formatHandler) current() slog.Handler {
	c := *h.cur.Load()
	for _, f := range h.with {
		c = f(c)
	}
	return c
}

func (h *formatHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *formatHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.current().Handle(ctx, r)
}

func (h *formatHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.derive(func(c slog.Handler) slog.Handler { return c.WithAttrs(attrs) })
}

func (h *formatHandler) WithGroup(name string) slog.Handler {
	return h.derive(func(c slog.Handler) slog.Handler { return c.WithGroup(name) })
}

func (h *formatHandler) derive(f func(slog.Handler) slog.Handler) *formatHandler {
	d := *h
	d.with = append(append([]func(slog.Handler) slog.Handler(nil), h.with...), f)
	return &d
}
