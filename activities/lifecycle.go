package activities

import (
	"context"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// RecordSuperseded records a change that the person's workflow never ran,
// because a termination or a lock that takes effect now was queued behind it:
// its run, as superseded, and an audit record saying by what.
func (a *Activities) RecordSuperseded(ctx context.Context, s workflows.SupersededRecord) error {
	if err := a.RecordRun(ctx, s.Run); err != nil {
		return err
	}
	return a.audit(ctx, tenure.AuditRecord{Key: s.Run.WorkflowID + "/superseded", Actor: Actor,
		Action: "run.superseded", EmployeeID: s.Run.EmployeeID, WorkflowID: tenure.WorkflowID(s.Run.EmployeeID),
		Detail: s.Run.Type + " " + s.Run.EventID + " was not run: superseded by the " + s.By + " queued behind it"})
}
