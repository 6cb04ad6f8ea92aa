package api

import (
	"context"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/giveway"
)

// urgentEngine is the engine of single requests, whose kill-switch calls (a
// lock, a termination) hold the bulk back while they are under way.
type urgentEngine struct {
	tenure.Engine
	way *giveway.Way
}

func (e urgentEngine) Lock(ctx context.Context, employeeID, requestID, actor string) (string, error) {
	defer e.way.Urgent()()
	return e.Engine.Lock(ctx, employeeID, requestID, actor)
}

// SubmitEvent holds the bulk back for a termination due now (a leaver's
// phase 1 is the kill switch too); a future one only sets a date.
func (e urgentEngine) SubmitEvent(ctx context.Context, ev tenure.Event) (string, error) {
	if ev.Type == tenure.EventTerminate && (ev.EffectiveAt == nil || !ev.EffectiveAt.After(ev.ReceivedAt)) {
		defer e.way.Urgent()()
	}
	return e.Engine.SubmitEvent(ctx, ev)
}

// bulkEngine is the engine of batches and imports, whose events give way to
// the kill switch (giveway).
type bulkEngine struct {
	tenure.Engine
	way *giveway.Way
}

func (e bulkEngine) SubmitEvent(ctx context.Context, ev tenure.Event) (string, error) {
	if err := e.way.Wait(ctx); err != nil {
		return "", err
	}
	return e.Engine.SubmitEvent(ctx, ev)
}
