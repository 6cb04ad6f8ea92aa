package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/service/history/shard"
)

// serverLogger routes the Temporal server's logs to an slog.Logger. The server is
// chatty at INFO (every shard, queue and membership change), so only WARN and
// above pass: a dev console should show trouble, not start-up noise.
type serverLogger struct {
	sl       *slog.Logger
	tags     []tag.Tag
	stopping *atomic.Bool // shared by every logger With derives
}

// ignoredWarnings are warnings about features a dev server leaves off on purpose.
var ignoredWarnings = map[string]bool{
	// Tenure does not use Nexus, so the frontend's HTTP API stays off.
	"HTTP API port has not been set. Nexus HTTP endpoints will not be available. To enable Nexus, follow these instructions: https://github.com/temporalio/temporal/blob/main/docs/architecture/nexus.md#enabling-nexus.": true,
}

// fatalError is what serverLogger panics with on Fatal. The server's own loggers
// call os.Exit there, which would take the whole `tenure dev` process (or a test
// binary) down without a word; a panic can be recovered where Start runs.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return "temporal server: " + e.msg }

var _ log.Logger = (*serverLogger)(nil)
var _ log.WithLogger = (*serverLogger)(nil)

func newServerLogger(sl *slog.Logger) *serverLogger {
	if sl == nil {
		sl = slog.New(slog.DiscardHandler)
	}
	return &serverLogger{sl: sl, stopping: new(atomic.Bool)}
}

// stop drops warnings from then on. While the services shut down one by one, the
// system workers' polls and the internal clients fail against the ones already
// gone; those warnings describe the shutdown itself, not a problem.
func (l *serverLogger) stop() { l.stopping.Store(true) }

func (l *serverLogger) Debug(string, ...tag.Tag) {}
func (l *serverLogger) Info(string, ...tag.Tag)  {}

func (l *serverLogger) Warn(msg string, tags ...tag.Tag) { l.log(slog.LevelWarn, msg, tags) }

func (l *serverLogger) Error(msg string, tags ...tag.Tag) {
	level := slog.LevelError
	if transient(tags) {
		level = slog.LevelWarn
	}
	l.log(level, msg, tags)
}

// transient reports whether tags carry the history service's "shard status
// unknown": a shard's queue reader asking before the shard is acquired, which
// it is during start-up (with PostgreSQL, several shards, on a loaded
// machine). The reader tries again; it is a warning, not an error. Lost for
// good, the database's connection shows in errors of its own.
func transient(tags []tag.Tag) bool {
	for _, t := range tags {
		// An error tag's value is its message.
		if t.Key() == "error" && fmt.Sprint(t.Value()) == shard.ErrShardStatusUnknown.Error() {
			return true
		}
	}
	return false
}

func (l *serverLogger) DPanic(msg string, tags ...tag.Tag) { l.log(slog.LevelError, msg, tags) }

func (l *serverLogger) Panic(msg string, tags ...tag.Tag) {
	l.log(slog.LevelError, msg, tags)
	panic(msg)
}

func (l *serverLogger) Fatal(msg string, tags ...tag.Tag) {
	l.log(slog.LevelError, msg, tags)
	panic(fatalError{msg: msg})
}

// With keeps the tags a service prepends (its name, shard and so on), so a
// warning says where it came from.
func (l *serverLogger) With(tags ...tag.Tag) log.Logger {
	all := make([]tag.Tag, 0, len(l.tags)+len(tags))
	all = append(all, l.tags...)
	all = append(all, tags...)
	return &serverLogger{sl: l.sl, tags: all, stopping: l.stopping}
}

func (l *serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if level < slog.LevelError && (l.stopping.Load() || ignoredWarnings[msg]) {
		return
	}
	if !l.sl.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(l.tags)+len(tags)+1)
	attrs = append(attrs, slog.String("component", "temporal"))
	for _, t := range l.tags {
		attrs = append(attrs, attr(t))
	}
	for _, t := range tags {
		attrs = append(attrs, attr(t))
	}
	l.sl.LogAttrs(ctx, level, msg, attrs...)
}

func attr(t tag.Tag) slog.Attr {
	switch v := t.Value().(type) {
	case error:
		return slog.String(t.Key(), v.Error())
	case fmt.Stringer:
		return slog.String(t.Key(), v.String())
	default:
		return slog.Any(t.Key(), v)
	}
}
