package api

import (
	"context"
	"sync"
	"time"

	"github.com/tenure-io/tenure"
)

// giveWayFor is how long the hand-over of bulk events stays paused after a
// kill-switch call returns: the person's workflow task is queued by then, and
// is handed to a worker through the same server queues as the starts.
const giveWayFor = 250 * time.Millisecond

// giveWay pauses the hand-over of bulk events (a batch, an import) to the
// workflow engine while a kill-switch call is under way, and for giveWayFor
// after it. The two go to the same Temporal server, and on the embedded one
// every call waits its turn on one SQLite connection: a lock sent while a
// 10,000-person batch was being handed over waited behind the starts. Starts
// already sent are not held back; new ones wait.
type giveWay struct {
	mu sync.Mutex
	// urgent counts kill-switch calls under way; until is when the last one
	// to end stops holding the bulk back.
	urgent int
	until  time.Time
	// clear is closed when urgent falls to 0.
	clear chan struct{}
	now   func() time.Time
}

func newGiveWay(now func() time.Time) *giveWay { return &giveWay{now: now} }

// urgentCall marks a kill-switch call under way until done is called.
func (g *giveWay) urgentCall() (done func()) {
	g.mu.Lock()
	g.urgent++
	if g.clear == nil {
		g.clear = make(chan struct{})
	}
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.urgent--
		g.until = g.now().Add(giveWayFor)
		if g.urgent == 0 {
			close(g.clear)
			g.clear = nil
		}
	}
}

// wait returns once no kill-switch call holds the bulk back, or with ctx's
// error.
func (g *giveWay) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		clear, rest := g.clear, g.until.Sub(g.now())
		g.mu.Unlock()
		switch {
		case clear != nil:
			select {
			case <-clear:
			case <-ctx.Done():
				return ctx.Err()
			}
		case rest > 0:
			t := time.NewTimer(rest)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		default:
			return nil
		}
	}
}

// urgentEngine is the engine of single requests, whose kill-switch calls (a
// lock, a termination) hold the bulk back while they are under way.
type urgentEngine struct {
	tenure.Engine
	way *giveWay
}

func (e urgentEngine) Lock(ctx context.Context, employeeID, requestID, actor string) (string, error) {
	defer e.way.urgentCall()()
	return e.Engine.Lock(ctx, employeeID, requestID, actor)
}

// SubmitEvent holds the bulk back for a termination due now (a leaver's
// phase 1 is the kill switch too); a future one only sets a date.
func (e urgentEngine) SubmitEvent(ctx context.Context, ev tenure.Event) (string, error) {
	if ev.Type == tenure.EventTerminate && (ev.EffectiveAt == nil || !ev.EffectiveAt.After(ev.ReceivedAt)) {
		defer e.way.urgentCall()()
	}
	return e.Engine.SubmitEvent(ctx, ev)
}

// bulkEngine is the engine of batches and imports, whose events give way to
// the kill switch.
type bulkEngine struct {
	tenure.Engine
	way *giveWay
}

func (e bulkEngine) SubmitEvent(ctx context.Context, ev tenure.Event) (string, error) {
	if err := e.way.wait(ctx); err != nil {
		return "", err
	}
	return e.Engine.SubmitEvent(ctx, ev)
}
