package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/tenure-io/tenure"
)

// trace is where one lock's or leaver's time went, read from Temporal's history:
// each milestone is its offset from the moment the request was sent.
type trace struct {
	err error
	// inline is set when the run ran in the person's own workflow, with no child.
	inline bool
	// The milestones, in order; negative when the history lacks one.
	signaled, childInitiated, childStarted, firstAppCall, lastAppCall, childClosed, parentSawChild, seen time.Duration
	// taskQueued is when the run's first workflow task after the signal was
	// queued (inline runs), and taskQueue the kind of queue: a worker's
	// sticky queue or the task queue all workers poll.
	taskQueued time.Duration
	taskQueue  string
	// Workflow tasks of the parent between the signal and the child's start, and of the child.
	parentTasks, childTasks int
	// Activities the parent ran between the signal and the child (regular, local).
	parentActivities, parentLocal int
	childActivities               map[string]int
	// Per connector call: time from scheduled to picked up by a worker, and from
	// picked up to completed.
	queued, ran []time.Duration
	events      []traceEvent // the two histories merged, for --timeline
}

type traceEvent struct {
	at    time.Duration
	where string
	what  string
}

// trace reads the histories of the person's workflow and of the child that did
// the work. A history that cannot be read leaves the trace empty with its error:
// the timing itself stands without it.
func (b *benchRun) trace(ctx context.Context, employeeID, childID string, t0, t1 time.Time) trace {
	tr := trace{seen: t1.Sub(t0), childActivities: map[string]int{}}
	parent, err := b.history(ctx, tenure.WorkflowID(employeeID))
	if err != nil {
		tr.err = err
		return tr
	}
	at := func(e *historypb.HistoryEvent) time.Duration { return e.GetEventTime().AsTime().Sub(t0) }
	for _, f := range []*time.Duration{&tr.signaled, &tr.childInitiated, &tr.childStarted, &tr.firstAppCall, &tr.lastAppCall, &tr.childClosed, &tr.parentSawChild} {
		*f = -1
	}
	child, err := b.history(ctx, childID)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		// The run was inline: its calls are in the person's own history.
		return inlineTrace(tr, parent, at)
	}
	if err != nil {
		tr.err = err
		return tr
	}
	initiated := slices.IndexFunc(parent, func(e *historypb.HistoryEvent) bool {
		return e.GetEventType() == enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED &&
			e.GetStartChildWorkflowExecutionInitiatedEventAttributes().GetWorkflowId() == childID
	})
	if initiated < 0 {
		tr.err = fmt.Errorf("%s never started %s", tenure.WorkflowID(employeeID), childID)
		return tr
	}
	signal := initiated
	for signal >= 0 && parent[signal].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
		signal--
	}
	if signal < 0 {
		signal = 0
	} else {
		tr.signaled = at(parent[signal])
	}
	tr.childInitiated = at(parent[initiated])
	for _, e := range parent[signal:initiated] {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tr.parentTasks++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			tr.parentActivities++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			tr.parentLocal++
		}
	}
	for _, e := range parent[signal:] {
		if e.GetEventType() == enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED &&
			e.GetChildWorkflowExecutionCompletedEventAttributes().GetWorkflowExecution().GetWorkflowId() == childID {
			tr.parentSawChild = at(e)
			break
		}
	}
	for _, e := range parent[signal:] {
		if d := at(e); d <= tr.parentSawChild+time.Millisecond || tr.parentSawChild < 0 {
			tr.events = append(tr.events, traceEvent{d, "parent", eventName(e)})
		}
	}

	// Connector activities are named "<kind>.<Operation>"; the rest are the
	// workflow's own bookkeeping.
	scheduled := map[int64]string{}
	schedAt, startAt := map[int64]time.Duration{}, map[int64]time.Duration{}
	for _, e := range child {
		name := eventName(e)
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			tr.childStarted = at(e)
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tr.childTasks++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			act := e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			scheduled[e.GetEventId()] = act
			schedAt[e.GetEventId()] = at(e)
			tr.childActivities[act]++
			name += " " + act
			if isConnectorActivity(act) && tr.firstAppCall < 0 {
				tr.firstAppCall = at(e)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			id := e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
			startAt[id] = at(e)
			name += " " + scheduled[id]
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			id := e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
			act := scheduled[id]
			name += " " + act
			if isConnectorActivity(act) {
				tr.lastAppCall = at(e)
				if st, ok := startAt[id]; ok {
					tr.queued = append(tr.queued, st-schedAt[id])
					tr.ran = append(tr.ran, at(e)-st)
				}
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			tr.childActivities["(local activity)"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			tr.childClosed = at(e)
		}
		tr.events = append(tr.events, traceEvent{at(e), "child", name})
	}
	tr.events = append(tr.events, traceEvent{tr.seen, "bench", "all disabled seen in the apps"})
	slices.SortStableFunc(tr.events, func(a, b traceEvent) int { return int(a.at - b.at) })
	return tr
}

// inlineTrace reads a lock or leaver that ran in the person's own workflow:
// from the first signal after the request, the workflow task that ran the
// calls as local activities (their markers are written when it completes), and
// any call that went on as an ordinary activity.
func inlineTrace(tr trace, parent []*historypb.HistoryEvent, at func(*historypb.HistoryEvent) time.Duration) trace {
	tr.inline = true
	signal := slices.IndexFunc(parent, func(e *historypb.HistoryEvent) bool {
		return e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED && at(e) >= 0
	})
	if signal < 0 {
		tr.err = fmt.Errorf("no signal in the person's history after the request")
		return tr
	}
	tr.signaled = at(parent[signal])
	scheduled := map[int64]string{}
	for _, e := range parent[signal:] {
		d := at(e)
		if d > tr.seen+time.Second {
			break
		}
		name := eventName(e)
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			if tr.taskQueue == "" {
				tr.taskQueued = d
				tr.taskQueue = strings.ToLower(strings.TrimPrefix(e.GetWorkflowTaskScheduledEventAttributes().GetTaskQueue().GetKind().String(), "TASK_QUEUE_KIND_"))
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if tr.firstAppCall < 0 {
				tr.firstAppCall = d
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tr.parentTasks++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			tr.parentLocal++
			tr.lastAppCall = max(tr.lastAppCall, d)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			act := e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			scheduled[e.GetEventId()] = act
			tr.parentActivities++
			name += " " + act
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			act := scheduled[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]
			name += " " + act
			if isConnectorActivity(act) {
				tr.lastAppCall = max(tr.lastAppCall, d)
			}
		}
		tr.events = append(tr.events, traceEvent{d, "person", name})
	}
	tr.events = append(tr.events, traceEvent{tr.seen, "bench", "all disabled seen in the apps"})
	slices.SortStableFunc(tr.events, func(a, b traceEvent) int { return int(a.at - b.at) })
	return tr
}

// milestone is one point of a run's histories, read from its trace, for the
// reports' tables of offsets.
type milestone struct {
	name string
	f    func(trace) time.Duration
}

// milestones is where the time of one run went, in brief, for a line of
// progress: the offsets of the signal, the first app call (inline, its
// workflow task's start) and the last app call.
func (tr trace) milestones() string {
	if tr.err != nil {
		return "no history: " + tr.err.Error()
	}
	queued := ""
	if tr.taskQueue != "" {
		queued = fmt.Sprintf(", task queued %s on the %s queue", ms(tr.taskQueued), tr.taskQueue)
	}
	return fmt.Sprintf("signal at %s%s, first app call %s, last %s", ms(tr.signaled), queued, ms(tr.firstAppCall), ms(tr.lastAppCall))
}

func isConnectorActivity(name string) bool {
	kind, op, ok := strings.Cut(name, ".")
	return ok && kind != "store" && kind != "policy" && kind != "approvals" && op != ""
}

func eventName(e *historypb.HistoryEvent) string {
	return strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
}

func (b *benchRun) history(ctx context.Context, workflowID string) ([]*historypb.HistoryEvent, error) {
	hctx, cancel := context.WithTimeout(ctx, benchStepTimeout)
	defer cancel()
	it := b.s.client.GetWorkflowHistory(hctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		out = append(out, e)
	}
	return out, nil
}
