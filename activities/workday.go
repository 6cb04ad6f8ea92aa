package activities

import (
	"context"
	"errors"
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/integrations/hr"
	"github.com/tenure-io/tenure/workflows"
)

// WorkdayReport fetches the Workday RaaS report; hr.WorkdayClient is the real one.
type WorkdayReport interface {
	Fetch(ctx context.Context) ([]byte, error)
}

// Workday carries what the Workday sync needs. It is registered only on workers
// that hold the Workday credentials (workflows.WorkdayTaskQueue).
type Workday struct {
	Report WorkdayReport
	Store  tenure.Store
	// Intake hands events to the people's workflows, exactly as the API does.
	Intake *intake.Intake
	// Guard is the blast-radius guard every pull's events pass first: a report
	// that would disable or revoke access for too many people is held. Required.
	Guard  *guard.Guard
	Logger *slog.Logger
}

// Sync fetches the report, diffs it against the read model, puts the changes
// before the blast-radius guard and accepts an event for each change it does
// not hold. Its event IDs come from the report and the read model, so a retry
// or a second run before the first's events are applied hands over
// duplicates, which intake runs once (and held events, which stay held). The
// result holds counts only.
func (w *Workday) Sync(ctx context.Context, _ workflows.WorkdaySyncInput) (workflows.WorkdaySyncResult, error) {
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var res workflows.WorkdaySyncResult
	if w.Guard == nil {
		return res, temporal.NewNonRetryableApplicationError("the Workday sync has no blast-radius guard", "WorkdayMisconfigured", nil)
	}
	body, err := w.Report.Fetch(ctx)
	if errors.Is(err, hr.ErrWorkdayAuth) {
		return res, temporal.NewNonRetryableApplicationError(err.Error()+": check TENURE_WORKDAY_USERNAME and TENURE_WORKDAY_PASSWORD", workflows.WorkdayAuthError, nil)
	}
	if err != nil {
		return res, err
	}
	rows, err := hr.ParseWorkdayReport(body)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(tenure.ErrorMessage(err), workflows.WorkdayReportError, nil)
	}
	res.Rows = len(rows)
	known := map[string]tenure.Employee{}
	var workers []hr.WorkdayWorker
	for i, r := range rows {
		if r.Err != nil {
			// The row number and the problem, never the row: it is personal data.
			res.Refused++
			log.Warn("workday: report row refused", "row", i+1, "error", tenure.ErrorMessage(r.Err))
			continue
		}
		e, err := w.Store.GetEmployee(ctx, r.Worker.Person.ID)
		switch {
		case err == nil:
			known[e.ID] = e
		case tenure.ErrorCode(err) != tenure.ENOTFOUND:
			return res, err
		}
		workers = append(workers, r.Worker)
		if i%500 == 0 {
			activity.RecordHeartbeat(ctx, i)
		}
	}
	var changes []tenure.Event
	for _, ev := range hr.DiffWorkday(workers, known) {
		if err := intake.ValidateEvent(ev); err != nil {
			res.Refused++
			log.Warn("workday: change refused", "event_id", ev.ID, "employee_id", ev.Employee.ID, "error", tenure.ErrorMessage(err))
			continue
		}
		changes = append(changes, ev)
	}
	v, err := w.Guard.Events(ctx, guard.Bulk{Source: guard.SourceWorkday, Operation: activity.GetInfo(ctx).WorkflowExecution.ID, Actor: "workday"}, changes)
	if err != nil {
		return res, err
	}
	for i, ev := range changes {
		if v.HoldOf[i] != "" {
			res.Held++
			continue
		}
		acc, err := w.Intake.Accept(ctx, ev)
		switch {
		case tenure.ErrorCode(err) == tenure.ECONFLICT:
			// Only another body under a Workday event ID can conflict, which the
			// IDs' derivation rules out; say so rather than stop the sync.
			res.Refused++
			log.Error("workday: event ID already used with another body", "event_id", ev.ID)
			continue
		case err != nil:
			return res, err
		case acc.Held:
			res.Held++
			continue
		case acc.Duplicate:
			res.Duplicates++
			continue
		}
		switch ev.Type {
		case tenure.EventHire:
			res.Hires++
		case tenure.EventRehire:
			res.Rehires++
		case tenure.EventUpdate:
			res.Updates++
		case tenure.EventTerminate:
			res.Terminations++
		}
		if i%100 == 0 {
			activity.RecordHeartbeat(ctx, i)
		}
	}
	if v.Held {
		log.Warn("workday: the blast-radius guard held changes", "hold_id", v.HoldID, "held", res.Held)
	}
	log.Info("workday sync", "rows", res.Rows, "refused", res.Refused, "hires", res.Hires, "rehires", res.Rehires,
		"updates", res.Updates, "terminations", res.Terminations, "duplicates", res.Duplicates, "held", res.Held)
	return res, nil
}
