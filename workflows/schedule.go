package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// schedule is a Temporal Schedule that starts one workflow on Tenure's task
// queue every interval.
type schedule struct {
	id string
	// what names the schedule in errors, such as "Workday".
	what       string
	workflow   string
	arg        any
	every      time.Duration
	runTimeout time.Duration
	note       string
	// later makes a new schedule's first run wait one interval, rather than
	// run at once.
	later bool
}

// ensureSchedule creates s, or brings an existing schedule of its ID to s's
// interval and action. Every worker calls it on start, so it is idempotent:
// whichever creates it first, the others update it to the same thing. A new
// schedule runs once at once, unless later is set; runs never overlap.
func ensureSchedule(ctx context.Context, c client.Client, s schedule) error {
	if s.every <= 0 {
		return fmt.Errorf("the %s interval must be positive, got %s", s.what, s.every)
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.every}}}
	action := &client.ScheduleWorkflowAction{
		ID:                 s.id,
		Workflow:           s.workflow,
		Args:               []any{s.arg},
		TaskQueue:          TaskQueue,
		WorkflowRunTimeout: s.runTimeout,
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:                 s.id,
		Spec:               spec,
		Action:             action,
		Overlap:            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		TriggerImmediately: !s.later,
		Note:               s.note,
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("creating the %s schedule: %w", s.what, err)
	}
	h := c.ScheduleClient().GetHandle(ctx, s.id)
	err = h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			cur := in.Description.Schedule
			if cur.Spec != nil && len(cur.Spec.Intervals) == 1 && cur.Spec.Intervals[0].Every == s.every && len(cur.Spec.Calendars) == 0 {
				if a, ok := cur.Action.(*client.ScheduleWorkflowAction); ok && a.TaskQueue == TaskQueue && fmt.Sprint(a.Workflow) == s.workflow {
					return nil, temporal.ErrSkipScheduleUpdate
				}
			}
			cur.Spec = &spec
			cur.Action = action
			if cur.Policy == nil {
				cur.Policy = &client.SchedulePolicies{}
			}
			cur.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
			return &client.ScheduleUpdate{Schedule: &cur}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("updating the %s schedule: %w", s.what, err)
	}
	return nil
}
