package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/workflows"
)

// fakeApps stands in for the activities: a set of in-memory apps with the same
// contract as the real connector activities, and a read model of accounts. It lets
// workflow tests assert on the state of the apps, not on calls.
type fakeApps struct {
	mu        sync.Mutex
	accounts  map[string]map[string]*fakeAccount // app -> employee -> account
	rows      map[string][]tenure.Account        // employee -> read model
	approvals []tenure.Approval
	decisions []tenure.Approval
	runs      map[string]tenure.Run
	statuses  []tenure.PersonStatus
	calls     []string
	fail      map[string]error // "app" or "activity app" -> the error it fails with
	failOnce  map[string]error // "activity app" -> the error its next call fails with
	lanes     []string         // "activity app lane", lane "local" for a local activity, else the task queue
	notices   []string         // "kind id" for reminders, escalations, notices and discards
	next      int
	// grace is the test policy's mover_grace.
	grace time.Duration
	// policy is the policy in force; nil is plan.
	policy func(tenure.Person) workflows.Plan
	// reconverged are the outcomes people's workflows recorded.
	reconverged []workflows.Reconverged
}

type fakeAccount struct {
	ID     string
	Active bool
	Groups []string
}

func newFakeApps() *fakeApps {
	return &fakeApps{
		accounts: map[string]map[string]*fakeAccount{},
		rows:     map[string][]tenure.Account{},
		runs:     map[string]tenure.Run{},
		fail:     map[string]error{},
		failOnce: map[string]error{},
	}
}

// testApps are the apps of the test policy.
var testApps = []string{"aws", "github", "google", "slack"}

// plan is the test policy: everyone gets google and slack/general, Engineering gets
// github/engineering, Senior engineers get aws/admin with their manager's approval,
// and Sales gets slack/sales.
func plan(p tenure.Person) workflows.Plan {
	pl := workflows.Plan{Retention: 30 * 24 * time.Hour, ITApprover: "it",
		RemindAfter: 24 * time.Hour, EscalateAfter: 48 * time.Hour, ExpireAfter: 7 * 24 * time.Hour}
	for _, app := range testApps {
		managed := map[string][]string{"github": {"engineering"}, "slack": {"general", "sales"}, "aws": {"admin"}}[app]
		pl.Apps = append(pl.Apps, workflows.AppRef{Name: app, Connector: "fake", Managed: managed})
	}
	add := func(app, ent string, approval tenure.Approver) {
		pl.Grants = append(pl.Grants, tenure.Grant{App: app, Entitlement: ent, Approval: approval, Rule: "test"})
	}
	add("google", "", "")
	add("slack", "", "")
	add("slack", "general", "")
	if p.Department == "Engineering" {
		add("github", "", "")
		add("github", "engineering", "")
		if strings.Contains(p.Title, "Senior") {
			add("aws", "", tenure.ApproverManager)
			add("aws", "admin", tenure.ApproverManager)
		}
	}
	if p.Department == "Sales" {
		add("slack", "sales", "")
	}
	sort.Slice(pl.Grants, func(i, j int) bool { return pl.Grants[i].Key() < pl.Grants[j].Key() })
	return pl
}

func (f *fakeApps) register(env *testsuite.TestWorkflowEnvironment) {
	for name, fn := range workflows.Registry() {
		env.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
	for name, fn := range map[string]any{
		workflows.EvaluatePolicyActivity: func(_ context.Context, p tenure.Person) (workflows.Plan, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			pl := plan(p)
			if f.policy != nil {
				pl = f.policy(p)
			}
			pl.MoverGrace = f.grace
			return pl, nil
		},
		workflows.RecordReconvergedActivity: func(_ context.Context, r workflows.Reconverged) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.reconverged = append(f.reconverged, r)
			return nil
		},
		workflows.RecordEmployeeActivity: func(_ context.Context, r workflows.EmployeeRecord) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.statuses = append(f.statuses, r.Employee.Status)
			return nil
		},
		workflows.RecordRunActivity: func(_ context.Context, r tenure.Run) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.runs[r.WorkflowID] = r
			return nil
		},
		workflows.ListAccessActivity: func(_ context.Context, id string) ([]tenure.Account, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return slices.Clone(f.rows[id]), nil
		},
		workflows.RecordFailureActivity: func(_ context.Context, r workflows.FailureRecord) error { return nil },
		workflows.RequestApprovalActivity: func(_ context.Context, r workflows.ApprovalRequest) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if !slices.ContainsFunc(f.approvals, func(a tenure.Approval) bool { return a.ID == r.Approval.ID }) {
				f.approvals = append(f.approvals, r.Approval)
			}
			// Set, it is how asking the approver fails, after the request is stored.
			return f.fail[workflows.RequestApprovalActivity]
		},
		workflows.RecordNoticeFailedActivity: func(_ context.Context, n workflows.NoticeFailure) error {
			f.note("notice failed " + n.Request.Approval.ID)
			return nil
		},
		workflows.RecordSupersededActivity: func(_ context.Context, r workflows.SupersededRecord) error {
			f.mu.Lock()
			f.runs[r.Run.WorkflowID] = r.Run
			f.mu.Unlock()
			f.note("superseded " + r.Run.WorkflowID + " by " + r.By)
			return nil
		},
		workflows.RecordDecisionActivity: func(_ context.Context, r workflows.DecisionRecord) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.decisions = append(f.decisions, r.Approval)
			return nil
		},
		workflows.RemindApprovalActivity: func(_ context.Context, st workflows.ApprovalStep) error {
			f.note("remind " + st.ApprovalID)
			return nil
		},
		workflows.EscalateApprovalActivity: func(_ context.Context, st workflows.ApprovalStep) (string, error) {
			f.note("escalate " + st.ApprovalID)
			return st.ITApprover, nil
		},
		workflows.RecordRefusalActivity: func(_ context.Context, r workflows.RefusalRecord) error {
			f.note("refused " + r.ApprovalID + " " + r.By)
			return nil
		},
		workflows.RecordDiscardActivity: func(_ context.Context, d workflows.DiscardRecord) error {
			f.note("discard " + d.EventID)
			return nil
		},
	} {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	for name, fn := range map[string]func(context.Context, workflows.Notice) error{
		workflows.AccessReadyActivity: func(ctx context.Context, n workflows.Notice) error {
			return f.notify(ctx, "ready "+n.EmployeeID)
		},
		workflows.LeaverSummaryActivity: func(ctx context.Context, n workflows.Notice) error {
			return f.notify(ctx, fmt.Sprintf("leaver %s %d", n.EmployeeID, len(n.Result.Outcomes)))
		},
	} {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
		// As the worker registers it, for the first try in place.
		env.RegisterActivityWithOptions(activities.NoticeInPlace(fn), activity.RegisterOptions{Name: workflows.InPlace(name)})
	}
	for op, fn := range f.ops() {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: workflows.ConnectorActivity("fake", op)})
		// The worker's own wrapper, so the failure comes back as it does there.
		env.RegisterActivityWithOptions(activities.InPlace(fn), activity.RegisterOptions{Name: workflows.InPlaceActivity("fake", op)})
	}
}

// ops are the fake connector's operations, by name.
func (f *fakeApps) ops() map[string]func(context.Context, workflows.AccountRequest) (workflows.AccountResult, error) {
	return map[string]func(context.Context, workflows.AccountRequest) (workflows.AccountResult, error){
		workflows.OpCreateAccount:    f.create,
		workflows.OpSyncEntitlements: f.sync,
		workflows.OpEnableAccount: func(ctx context.Context, r workflows.AccountRequest) (workflows.AccountResult, error) {
			return f.setActive(ctx, r, true)
		},
		workflows.OpDisableAccount: func(ctx context.Context, r workflows.AccountRequest) (workflows.AccountResult, error) {
			return f.setActive(ctx, r, false)
		},
		workflows.OpDeleteAccount: f.delete,
		workflows.OpProvisionAccount: func(ctx context.Context, r workflows.AccountRequest) (workflows.AccountResult, error) {
			res, err := f.create(ctx, r.Step(workflows.OpCreateAccount))
			if err != nil {
				return res, err
			}
			sync := r.Step(workflows.OpSyncEntitlements)
			sync.AccountID = res.AccountID
			return f.sync(ctx, sync)
		},
		workflows.OpRevokeAccount: func(ctx context.Context, r workflows.AccountRequest) (workflows.AccountResult, error) {
			res, err := f.setActive(ctx, r.Step(workflows.OpDisableAccount), false)
			if err != nil || !res.Found {
				return res, err
			}
			sync := r.Step(workflows.OpSyncEntitlements)
			sync.AccountID, sync.Entitlements = res.AccountID, nil
			out, err := f.sync(ctx, sync)
			out.WasActive = res.WasActive
			return out, err
		},
	}
}

func (f *fakeApps) note(n string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices = append(f.notices, n)
}

// notify sends the notice n, noting its lane as call does, unless
// failOnce["notice"] fails it.
func (f *fakeApps) notify(ctx context.Context, n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	lane := activity.GetInfo(ctx).TaskQueue
	if activity.GetInfo(ctx).IsLocalActivity {
		lane = "local"
	}
	f.lanes = append(f.lanes, "notice "+n+" "+lane)
	if err := f.failOnce["notice"]; err != nil {
		delete(f.failOnce, "notice")
		return err
	}
	f.notices = append(f.notices, n)
	return nil
}

func (f *fakeApps) noted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.notices)
}

func (f *fakeApps) call(ctx context.Context, r workflows.AccountRequest) error {
	// The operation is the key's last part, so a ProvisionAccount's create and
	// sync are seen as they are when they run as steps of their own.
	info := activity.GetInfo(ctx)
	op := "fake." + r.Key[strings.LastIndexByte(r.Key, '/')+1:]
	f.calls = append(f.calls, op+" "+r.App)
	lane := info.TaskQueue
	if info.IsLocalActivity {
		lane = "local"
	}
	f.lanes = append(f.lanes, op+" "+r.App+" "+lane)
	if err := f.failOnce[op+" "+r.App]; err != nil {
		delete(f.failOnce, op+" "+r.App)
		return err
	}
	if err := f.fail[r.App]; err != nil {
		return err
	}
	return f.fail[op+" "+r.App]
}

func (f *fakeApps) result(app string, a *fakeAccount, was bool) workflows.AccountResult {
	return workflows.AccountResult{App: app, AccountID: a.ID, Found: true, Active: a.Active, WasActive: was,
		Groups: slices.Clone(a.Groups), VerifiedAt: time.Unix(0, 0)}
}

// row writes the read model's row for an account, as the real activities do.
func (f *fakeApps) row(employeeID, app string, a *fakeAccount, status tenure.AccessStatus) {
	rows := f.rows[employeeID]
	for i := range rows {
		if rows[i].App == app {
			rows[i] = tenure.Account{EmployeeID: employeeID, App: app, AccountID: a.ID, Status: status, Entitlements: slices.Clone(a.Groups)}
			return
		}
	}
	f.rows[employeeID] = append(rows, tenure.Account{EmployeeID: employeeID, App: app, AccountID: a.ID, Status: status, Entitlements: slices.Clone(a.Groups)})
}

func (f *fakeApps) create(ctx context.Context, r workflows.AccountRequest) (workflows.AccountResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, r); err != nil {
		return workflows.AccountResult{}, err
	}
	if f.accounts[r.App] == nil {
		f.accounts[r.App] = map[string]*fakeAccount{}
	}
	a := f.accounts[r.App][r.EmployeeID]
	if a == nil {
		f.next++
		a = &fakeAccount{ID: fmt.Sprintf("%s-%d", r.App, f.next)}
		f.accounts[r.App][r.EmployeeID] = a
	}
	was := a.Active
	a.Active = r.Active
	status := tenure.AccessPending
	if a.Active {
		status = tenure.AccessActive
	}
	f.row(r.EmployeeID, r.App, a, status)
	return f.result(r.App, a, was), nil
}

func (f *fakeApps) sync(ctx context.Context, r workflows.AccountRequest) (workflows.AccountResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, r); err != nil {
		return workflows.AccountResult{}, err
	}
	a := f.accounts[r.App][r.EmployeeID]
	var groups []string
	for _, g := range a.Groups {
		if !slices.Contains(r.Managed, g) || slices.Contains(r.Entitlements, g) {
			groups = append(groups, g)
		}
	}
	for _, g := range r.Entitlements {
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	sort.Strings(groups)
	a.Groups = groups
	for i, row := range f.rows[r.EmployeeID] {
		if row.App == r.App {
			f.rows[r.EmployeeID][i].Entitlements = slices.Clone(groups)
		}
	}
	return f.result(r.App, a, a.Active), nil
}

func (f *fakeApps) setActive(ctx context.Context, r workflows.AccountRequest, active bool) (workflows.AccountResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, r); err != nil {
		return workflows.AccountResult{}, err
	}
	a := f.accounts[r.App][r.EmployeeID]
	if a == nil {
		return workflows.AccountResult{App: r.App}, nil
	}
	was := a.Active
	a.Active = active
	status := tenure.AccessDisabled
	if active {
		status = tenure.AccessActive
	}
	f.row(r.EmployeeID, r.App, a, status)
	return f.result(r.App, a, was), nil
}

func (f *fakeApps) delete(ctx context.Context, r workflows.AccountRequest) (workflows.AccountResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, r); err != nil {
		return workflows.AccountResult{}, err
	}
	a := f.accounts[r.App][r.EmployeeID]
	if a == nil {
		return workflows.AccountResult{App: r.App}, nil
	}
	delete(f.accounts[r.App], r.EmployeeID)
	f.row(r.EmployeeID, r.App, a, tenure.AccessDeleted)
	return workflows.AccountResult{App: r.App, AccountID: a.ID, Found: true}, nil
}

// state is one person's accounts across the fake apps: app -> "active [groups]".
func (f *fakeApps) state(employeeID string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for app, byPerson := range f.accounts {
		if a := byPerson[employeeID]; a != nil {
			s := "disabled"
			if a.Active {
				s = "active"
			}
			out[app] = strings.TrimSpace(s + " " + strings.Join(a.Groups, ","))
		}
	}
	return out
}

var permanent = temporal.NewNonRetryableApplicationError("github: HTTP 401: bad token", "Permanent", nil)
