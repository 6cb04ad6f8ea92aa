// Package worker wires Tenure's workflows and activities into a Temporal worker:
// it registers the workflows, registers each connector kind's operations as
// "<kind>.<Operation>" activities, and builds the connectors the policy names.
package worker

import (
	"context"
	"fmt"
	"sort"
	"sync"

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
	return build(p.Apps())
}

// build makes a connector for each app, keyed by app name.
func build(apps []integrations.AppConfig) (map[string]integrations.Connector, error) {
	out := map[string]integrations.Connector{}
	for _, app := range apps {
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

// AppWorkers keeps a worker on each limited app's own task queue, in step
// with the policy in force: for each app whose rate or concurrency the policy
// limits, a worker that runs only that app's calls, at most max_concurrent at
// a time, while the Temporal server hands out at most rate per second across
// every worker polling the queue. Sync starts the workers of apps a version
// limits, and replaces those whose limits it changes. It is safe for
// concurrent use.
type AppWorkers struct {
	c    client.Client
	a    *activities.Activities
	opts sdkworker.Options
	// failed is told of a worker that would not start.
	failed func(app string, err error)

	mu      sync.Mutex
	stopped bool
	running map[string]appWorker
}

type appWorker struct {
	limits integrations.Limits
	w      sdkworker.Worker
}

// NewAppWorkers returns the app workers of a process, with none running yet;
// failed (nil to ignore) hears of any that will not start.
func NewAppWorkers(c client.Client, a *activities.Activities, opts sdkworker.Options, failed func(app string, err error)) *AppWorkers {
	return &AppWorkers{c: c, a: a, opts: opts, failed: failed, running: map[string]appWorker{}}
}

// Sync brings the app workers in line with p: started for every limited app
// that has none, restarted with the new limits where they changed. The
// worker of an app p no longer limits keeps running, for the calls already
// queued there.
func (w *AppWorkers) Sync(p *policy.Policy) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	for _, app := range p.Apps() {
		if !activities.Limited(app) {
			continue
		}
		limits := app.Limits
		limits.GiveUpAfter = 0 // not a worker option
		cur, ok := w.running[app.Name]
		if ok && cur.limits == limits {
			continue
		}
		o := w.opts
		o.DisableWorkflowWorker = true
		if limits.MaxConcurrent > 0 {
			o.MaxConcurrentActivityExecutionSize = limits.MaxConcurrent
		}
		if limits.Rate > 0 {
			o.TaskQueueActivitiesPerSecond = limits.Rate
		}
		nw := sdkworker.New(w.c, workflows.AppTaskQueue(app.Name), o)
		registerConnector(nw, app.Connector, w.a)
		if ok {
			// Its calls in flight finish; the queued ones wait for the new worker.
			go cur.w.Stop()
		}
		if err := nw.Start(); err != nil {
			delete(w.running, app.Name)
			if w.failed != nil {
				w.failed(app.Name, err)
			}
			continue
		}
		w.running[app.Name] = appWorker{limits: limits, w: nw}
	}
}

// Stop stops every app worker, together, and starts no more.
func (w *AppWorkers) Stop() {
	w.mu.Lock()
	w.stopped = true
	running := w.running
	w.running = map[string]appWorker{}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range running {
		wg.Go(r.w.Stop)
	}
	wg.Wait()
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
		workflows.RecordDiscardActivity:    a.RecordDiscard,
		workflows.RecordRefusalActivity:    a.RecordRefusal,

		workflows.RecordSupersededActivity:   a.RecordSuperseded,
		workflows.RecordNoticeFailedActivity: a.RecordNoticeFailed,

		workflows.ActivateRolloutActivity:   a.ActivateRollout,
		workflows.NextRolloutBatchActivity:  a.NextRolloutBatch,
		workflows.RunRolloutBatchActivity:   a.RunRolloutBatch,
		workflows.FinishRolloutActivity:     a.FinishRollout,
		workflows.CloseRolloutActivity:      a.CloseRollout,
		workflows.RecordReconvergedActivity: a.RecordReconverged,

		workflows.DeliverActivity:             a.Deliver,
		workflows.DisableSubscriptionActivity: a.DisableSubscription,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	// Notices to people, each again as "inplace.<name>", the local activity
	// of its first try in place.
	for name, fn := range map[string]func(context.Context, workflows.Notice) error{
		workflows.AccessReadyActivity:   a.NotifyAccessReady,
		workflows.LeaverSummaryActivity: a.NotifyLeaver,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
		w.RegisterActivityWithOptions(activities.NoticeInPlace(fn), activity.RegisterOptions{Name: workflows.InPlace(name)})
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
