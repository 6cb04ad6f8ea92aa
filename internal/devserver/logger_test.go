package devserver

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/service/history/shard"
)

// A shard's queue reader asking before the shard is acquired, as it does during
// start-up on a loaded machine, is a warning; any other error stays an error.
func TestAShardNotYetAcquiredIsAWarning(t *testing.T) {
	var buf bytes.Buffer
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Error("Queue reader unable to retrieve tasks", tag.Error(shard.ErrShardStatusUnknown))
	l.Error("Queue reader unable to retrieve tasks", tag.Error(errors.New("persistence: connection refused")))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[1], "level=ERROR") {
		t.Fatalf("logged:\n%s\nwant the first a warning, the second an error", buf.String())
	}
}
