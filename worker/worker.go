// Package worker wires Tenure's workflows and activities into a Temporal worker:
// it registers the workflows, registers each connector kind's operations as
// "<kind>.<Operation>" activities, and builds the connectors the policy names.
package worker

import (
	"fmt"
	"sort"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/github"
	"github.com/tenure-io/tenure/integrations/google"
	"github.com/tenure-io/tenure/integrations/ldap"
	"github.com/tenure-io/tenure/integrations/postgres"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/integrations/slack"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/workflows"
)

// Specs lists the connector kinds Tenure ships.
var Specs = []integrations.Spec{
	github.Spec,
	google.Spec,
	ldap.Spec,
	postgres.Spec,
	scim.Spec,
	slack.Spec,
}

// Kinds lists the connector kinds Tenure ships, sorted, for policy validation.
func Kinds() []string {
	kinds := make([]string, 0, len(Specs))
	for _, s := range Specs {
		kinds = append(kinds, s.Kind)
	}
	sort.Strings(kinds)
	return kinds
}

// spec returns the kind's Spec.
func spec(kind string) (integrations.Spec, bool) {
	for _, s := range Specs {
		if s.Kind == kind {
			return s, true
		}
	}
	return integrations.Spec{}, false
}

// Connectors builds a connector for every app of the policy, keyed by app name.
func Connectors(p *policy.Policy) (map[string]integrations.Connector, error) {
	out := map[string]integrations.Connector{}
	for _, app := range p.Apps() {
		s, ok := spec(app.Connector)
		if !ok {
			return nil, fmt.Errorf("app %s: unknown connector %q", app.Name, app.Connector)
		}
		c, err := s.New(app)
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", app.Name, err)
		}
		out[app.Name] = c
	}
	return out, nil
}

// New returns a worker on Tenure's task queue with every workflow and activity
// registered. The caller starts and stops it.
func New(c client.Client, a *activities.Activities, opts sdkworker.Options) sdkworker.Worker {
	w := sdkworker.New(c, workflows.TaskQueue, opts)
	Register(w, a)
	return w
}

// NewUrgent returns a worker on the urgent lane, workflows.UrgentTaskQueue,
// with everything registered as New does: the Lock children and leavers' phase
// 1 that run there, and their calls into the apps, get pollers and slots of
// their own, which no bulk of joiners on Tenure's task queue can take. Every
// process that runs New runs this beside it. The caller starts and stops it.
func NewUrgent(c client.Client, a *activities.Activities, opts sdkworker.Options) sdkworker.Worker {
	w := sdkworker.New(c, workflows.UrgentTaskQueue, opts)
	Register(w, a)
	return w
}

// NewAppWorkers returns, for each app whose rate or concurrency the policy
// limits, a worker on the app's own task queue that runs only that app's calls:
// it takes at most max_concurrent at a time, and the Temporal server hands out
// at most rate per second across every worker polling the queue. The caller
// starts and stops them.
func NewAppWorkers(c client.Client, a *activities.Activities, p *policy.Policy, opts sdkworker.Options) []sdkworker.Worker {
	var out []sdkworker.Worker
	for _, app := range p.Apps() {
		if !activities.Limited(app) {
			continue
		}
		o := opts
		o.DisableWorkflowWorker = true
		if app.Limits.MaxConcurrent > 0 {
			o.MaxConcurrentActivityExecutionSize = app.Limits.MaxConcurrent
		}
		if app.Limits.Rate > 0 {
			o.TaskQueueActivitiesPerSecond = app.Limits.Rate
		}
		w := sdkworker.New(c, workflows.AppTaskQueue(app.Name), o)
		registerConnector(w, app.Connector, a)
		out = append(out, w)
	}
	return out
}

// Register registers Tenure's workflows and activities on w (a worker or a test
// environment).
func Register(w interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}, a *activities.Activities) {
	for name, fn := range workflows.Registry() {
		w.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
	for name, fn := range map[string]any{
		workflows.EvaluatePolicyActivity:   a.EvaluatePolicy,
		workflows.RecordEmployeeActivity:   a.RecordEmployee,
		workflows.RecordRunActivity:        a.RecordRun,
		workflows.ListAccessActivity:       a.ListAccess,
		workflows.RecordFailureActivity:    a.RecordFailure,
		workflows.RequestApprovalActivity:  a.RequestApproval,
		workflows.RecordDecisionActivity:   a.RecordDecision,
		workflows.RemindApprovalActivity:   a.RemindApproval,
		workflows.EscalateApprovalActivity: a.EscalateApproval,
		workflows.AccessReadyActivity:      a.NotifyAccessReady,
		workflows.LeaverSummaryActivity:    a.NotifyLeaver,
		workflows.RecordDiscardActivity:    a.RecordDiscard,
		workflows.RecordRefusalActivity:    a.RecordRefusal,

		workflows.RecordSupersededActivity:   a.RecordSuperseded,
		workflows.RecordNoticeFailedActivity: a.RecordNoticeFailed,

		workflows.DeliverActivity:             a.Deliver,
		workflows.DisableSubscriptionActivity: a.DisableSubscription,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	for _, kind := range Kinds() {
		registerConnector(w, kind, a)
	}
}

// registerConnector registers one connector kind's operations as
// "<kind>.<Operation>" activities, and each again as "inplace.<kind>.<Operation>",
// the local activity of its first try in place.
func registerConnector(w interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}, kind string, a *activities.Activities) {
	for op, fn := range activities.Operations(a) {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: workflows.ConnectorActivity(kind, op)})
		w.RegisterActivityWithOptions(activities.InPlace(fn), activity.RegisterOptions{Name: workflows.InPlaceActivity(kind, op)})
	}
}

// RegisterReconcile registers the Reconcile workflow's activities on w, a
// worker on Tenure's task queue (or a test environment).
func RegisterReconcile(w interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}, r *activities.Reconcile) {
	for name, fn := range map[string]any{
		workflows.ReconcileBeginActivity:     r.Begin,
		workflows.ReconcileScanActivity:      r.Scan,
		workflows.ReconcileGuardActivity:     r.AskGuard,
		workflows.ReconcileRemediateActivity: r.Remediate,
		workflows.ReconcileFinishActivity:    r.Finish,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}
