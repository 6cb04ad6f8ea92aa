package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/reconcile"
	"github.com/tenure-io/tenure/workflows"
)

// Reconcile holds the activities of the Reconcile workflow. It reaches apps
// through the connector activities' Activities (whose connectors count every
// call), and disables known people's accounts through their DisableAccount,
// so that a remediation is read back, recorded and audited like a leaver's.
type Reconcile struct {
	*Activities
	// People finds the owners of a page of accounts at a time.
	People tenure.PeopleIndex
	// Engine hands a resync to the person's own workflow (Engine.Retry).
	Engine tenure.Engine
	Guard  Guard
	// ResyncWait is how long Remediate waits for the persons' workflows to
	// report on the resyncs it handed them; 0 means DefaultResyncWait.
	ResyncWait time.Duration
	// Batch is how many listed accounts are matched at once; 0 means
	// DefaultReconcileBatch.
	Batch int
	// CheckpointEvery is how many listed accounts a scan matches between two
	// checkpoints (it saves one sooner once a batch of findings waits, and
	// whenever the app refuses a page); 0 means DefaultCheckpointEvery.
	CheckpointEvery int
}

// Defaults of Reconcile's settings.
const (
	DefaultResyncWait     = 15 * time.Minute
	DefaultReconcileBatch = 500
	// DefaultCheckpointEvery bounds what a scan lists again after a crash.
	DefaultCheckpointEvery = 5000
	// peoplePage is how many people the pass for missing accounts reads at once.
	peoplePage = 2000
	// resyncPoll is how often Remediate asks the read model about the resyncs.
	resyncPoll = time.Second
)

func (r *Reconcile) batch() int {
	if r.Batch > 0 {
		return r.Batch
	}
	return DefaultReconcileBatch
}

func (r *Reconcile) checkpointEvery() int {
	if r.CheckpointEvery > 0 {
		return r.CheckpointEvery
	}
	return DefaultCheckpointEvery
}

// invalid is an error no retry can fix.
func invalid(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), workflows.ReconcileInvalidError, nil)
}

// heartbeat reports progress to Temporal, when running as an activity.
func heartbeat(ctx context.Context, details any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details)
	}
}

// Begin records the run and returns the apps it reads, sorted: those asked
// for, or every app of the policy.
func (r *Reconcile) Begin(ctx context.Context, in workflows.ReconcileBegin) ([]string, error) {
	pol, err := r.Policies.Current(ctx)
	if err != nil {
		return nil, err
	}
	apps := slices.Clone(in.Input.Apps)
	if len(apps) == 0 {
		for _, a := range pol.Apps() {
			apps = append(apps, a.Name)
		}
	}
	for _, app := range apps {
		if _, ok := pol.App(app); !ok {
			return nil, invalid("there is no app %q in the policy", app)
		}
	}
	slices.Sort(apps)
	apps = slices.Compact(apps)
	run := tenure.Reconciliation{ID: in.ID, Mode: in.Input.Mode, Apps: apps, Status: tenure.ReconcileRunning,
		Actor: in.Input.Actor, Trigger: in.Input.Trigger, StartedAt: in.StartedAt}
	if _, err := r.Store.CreateReconciliation(ctx, run); err != nil {
		return nil, err
	}
	return apps, r.audit(ctx, tenure.AuditRecord{Key: "reconcile/" + in.ID + "/started", Actor: orTenure(in.Input.Actor),
		Action: "reconcile.started", Detail: fmt.Sprintf("%s reconciliation of %s (%s)", in.Input.Mode, strings.Join(apps, ", "), in.Input.Trigger)})
}

func orTenure(actor string) string {
	if actor == "" {
		return Actor
	}
	return actor
}

// Scan reads every account of one app, page by page, matches each batch of
// accounts to people in a lookup or two, and records what it finds; then it
// reads everyone HR has, page by page, for the accounts the app lacks. It
// holds a batch of accounts and the set of people it has seen, never the
// whole app.
//
// Every few pages it saves a checkpoint (the app's page cursor, its counts,
// the people seen since the checkpoint before) with the findings up to it, in
// one transaction, and heartbeats the checkpoint's number. A retried scan
// (a rate limit, a worker restart) carries on from the last checkpoint: the
// pages before it are not listed again, and nothing is found twice. One whose
// earlier attempts saved none, or whose app's connector can only list from the
// start, starts over, first dropping what they found.
func (r *Reconcile) Scan(ctx context.Context, in workflows.ReconcileScan) (workflows.ReconcileAppResult, error) {
	res := workflows.ReconcileAppResult{App: in.App}
	cps, err := r.checkpoints(ctx, in)
	if err != nil {
		return res, err
	}
	s, err := r.newAppScan(ctx, in, cps)
	if err != nil {
		return res, err
	}
	part := tenure.ReconcileApp{ReconciliationID: in.ID, App: in.App, Mode: in.Mode, Status: tenure.ReconcileRunning, StartedAt: r.now()}
	if err := r.Store.RecordReconcileApp(ctx, part); err != nil {
		return res, err
	}
	err = s.list(ctx)
	if errors.Is(err, integrations.ErrNoResume) {
		// The app's connector is now one that lists from the start only.
		if s, err = r.newAppScan(ctx, in, nil); err == nil {
			err = s.list(ctx)
		}
	}
	if err != nil {
		return res, err
	}
	if err := s.missing(ctx); err != nil {
		return res, err
	}
	done := r.now()
	part.Status, part.Counts, part.FinishedAt = tenure.ReconcileCompleted, s.scan.Counts, &done
	if err := r.Store.RecordReconcileApp(ctx, part); err != nil {
		return res, err
	}
	if err := r.Store.DropCheckpoints(ctx, in.ID, in.App); err != nil {
		return res, err
	}
	res.Counts = s.scan.Counts
	return res, nil
}

// scanProgress is a scan's heartbeat: the number of its last checkpoint, and
// its counts. The checkpoint itself is in the read model: an app's page cursor
// is the app's to shape, and the people seen are too many for a heartbeat and
// are personal data, which Temporal's history and heartbeats never hold.
type scanProgress struct {
	Checkpoint int                    `json:"checkpoint"`
	Counts     tenure.ReconcileCounts `json:"counts"`
}

// checkpoints returns the checkpoints a retried scan carries on from: those
// its earlier attempts saved, when Temporal says there were earlier attempts
// that saved one (their heartbeat) and the read model has it. Otherwise the
// scan starts over.
func (r *Reconcile) checkpoints(ctx context.Context, in workflows.ReconcileScan) ([]tenure.ScanCheckpoint, error) {
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return nil, nil
	}
	var last scanProgress
	if err := activity.GetHeartbeatDetails(ctx, &last); err != nil || last.Checkpoint == 0 {
		return nil, nil
	}
	cps, err := r.Store.Checkpoints(ctx, in.ID, in.App)
	if err != nil {
		return nil, err
	}
	for i, cp := range cps {
		if cp.Seq != i+1 {
			return nil, nil
		}
	}
	if len(cps) < last.Checkpoint {
		// Fewer than were reported: not those of this scan's attempts.
		return nil, nil
	}
	return cps, nil
}

// appScan is one attempt at one app's scan.
type appScan struct {
	r     *Reconcile
	in    workflows.ReconcileScan
	c     integrations.Connector
	names map[string]string
	scan  *reconcile.Scan
	// seq is the number of the last checkpoint; phase and cursor are where
	// the scan carries on.
	seq    int
	phase  tenure.ScanPhase
	cursor string
	// page holds the listed accounts not yet matched, found the findings not
	// yet written; since counts the accounts matched since the last
	// checkpoint.
	page  []integrations.Account
	found []tenure.Finding
	since int
}

// newAppScan starts one attempt at a scan: from the checkpoints cps, or, with
// none, from the start, dropping what earlier attempts found.
func (r *Reconcile) newAppScan(ctx context.Context, in workflows.ReconcileScan, cps []tenure.ScanCheckpoint) (*appScan, error) {
	pol, err := r.Policies.Current(ctx)
	if err != nil {
		return nil, err
	}
	scan, err := reconcile.NewScan(in.ID, pol, in.App)
	if err != nil {
		return nil, invalid("%s", tenure.ErrorMessage(err))
	}
	c, err := r.connector(ctx, in.App)
	if err != nil {
		return nil, err
	}
	if r.listsNoGroups(ctx, in.App) {
		scan.SkipEntitlements()
	}
	names, err := r.accountNames(ctx, in.App)
	if err != nil {
		return nil, err
	}
	s := &appScan{r: r, in: in, c: c, names: names, scan: scan, phase: tenure.ScanListing}
	if len(cps) == 0 {
		return s, r.Store.ReplaceFindings(ctx, in.ID, in.App)
	}
	seen := make([][]byte, len(cps))
	for i, cp := range cps {
		seen[i] = cp.Seen
	}
	last := cps[len(cps)-1]
	if err := scan.Resume(last.Counts, seen...); err != nil {
		return nil, err
	}
	s.seq, s.phase, s.cursor = last.Seq, last.Phase, last.Cursor
	heartbeat(ctx, scanProgress{Checkpoint: s.seq, Counts: scan.Counts})
	return s, nil
}

// list reads the app's accounts from the scan's cursor, matching them a batch
// at a time. Where the connector says where the next page starts, it saves a
// checkpoint there every CheckpointEvery accounts, or sooner once a batch of
// findings waits; and when the app refuses a page (a rate limit, an outage),
// it matches the pages it has and saves one at the page refused, before it
// fails. A connector that cannot say has the findings written as they come,
// and a retry starts over.
func (s *appScan) list(ctx context.Context) error {
	if s.phase != tenure.ScanListing {
		return nil
	}
	var fail error
	// resume is where the page after those held starts.
	resume := ""
	err := integrations.ListPages(ctx, s.c, s.cursor, func(accounts []integrations.Account, next string) bool {
		s.page, resume = append(s.page, accounts...), next
		if len(s.page) < s.r.batch() {
			return true
		}
		if fail = s.match(ctx); fail != nil {
			return false
		}
		if next != "" && (s.since >= s.r.checkpointEvery() || len(s.found) >= s.r.batch()) {
			fail = s.checkpoint(ctx, tenure.ScanListing, next)
			return fail == nil
		}
		if next == "" && len(s.found) >= s.r.batch() {
			fail = s.r.Store.AddFindings(ctx, s.found)
			s.found = s.found[:0]
		}
		heartbeat(ctx, scanProgress{Checkpoint: s.seq, Counts: s.scan.Counts})
		return fail == nil
	})
	if err != nil && fail == nil && resume != "" && len(s.page)+s.since > 0 {
		// The app refused a page: what came before it is kept, so that the
		// retry starts there. Should that fail too, the app's error stands.
		if s.match(ctx) == nil {
			_ = s.checkpoint(ctx, tenure.ScanListing, resume)
		}
	}
	if err == nil {
		err = fail
	}
	if err == nil {
		err = s.match(ctx)
	}
	if err != nil {
		return scanError(err)
	}
	return s.checkpoint(ctx, tenure.ScanMissing, "")
}

// match finds the owners of the accounts held, classifies each, and keeps
// the findings.
func (s *appScan) match(ctx context.Context) error {
	if len(s.page) == 0 {
		return nil
	}
	owners, whys, err := s.r.owners(ctx, s.in.App, s.page, s.scan.NeedsGrants(), s.names)
	if err != nil {
		return err
	}
	reread := func(id string, groups []string) (integrations.Account, error) {
		return integrations.GetWithGroups(ctx, s.c, id, groups)
	}
	for i, a := range s.page {
		f, ok, err := s.scan.Account(a, owners[i], whys[i], reread)
		if err != nil {
			return err
		}
		if ok {
			s.found = append(s.found, f)
		}
	}
	s.since += len(s.page)
	s.page = s.page[:0]
	return nil
}

// checkpoint saves how far the scan has got, at cursor in phase, with the
// findings not yet written, and heartbeats its number.
func (s *appScan) checkpoint(ctx context.Context, phase tenure.ScanPhase, cursor string) error {
	cp := tenure.ScanCheckpoint{ReconciliationID: s.in.ID, App: s.in.App, Seq: s.seq + 1, Phase: phase, Cursor: cursor,
		Counts: s.scan.Counts, Seen: s.scan.TakeSeen()}
	if err := s.r.Store.SaveCheckpoint(ctx, cp, s.found); err != nil {
		return err
	}
	s.seq, s.phase, s.cursor, s.found, s.since = cp.Seq, phase, cursor, s.found[:0], 0
	heartbeat(ctx, scanProgress{Checkpoint: s.seq, Counts: s.scan.Counts})
	return nil
}

// missing reads everyone who may be owed an account, page by page from the
// scan's cursor, adds a finding for each whom the policy gives an account the
// listing did not show, and saves a checkpoint after each page.
func (s *appScan) missing(ctx context.Context) error {
	for {
		people, err := s.r.People.EmployeesAfter(ctx, s.cursor, peoplePage, tenure.PersonActive, tenure.PersonPending)
		if err != nil {
			return err
		}
		grants, err := s.r.grantsOf(ctx, s.in.App, people, s.scan.MissingNeedsGrants())
		if err != nil {
			return err
		}
		for _, e := range people {
			if f, ok := s.scan.Missing(reconcile.Person{Employee: e, Grants: grants[e.ID]}); ok {
				s.found = append(s.found, f)
			}
		}
		if len(people) < peoplePage {
			return s.r.Store.AddFindings(ctx, s.found)
		}
		if err := s.checkpoint(ctx, tenure.ScanMissing, people[len(people)-1].ID); err != nil {
			return err
		}
	}
}

// scanError decides whether a failed scan is tried again, as every activity
// does with an app's verdict (appVerdict): after the delay the app asked for
// when rate limited, never when it refused for good (a permanent error), which
// needs a person.
func scanError(err error) error {
	var e *integrations.Error
	if errors.As(err, &e) {
		if verdict := appVerdict(e, err); verdict != nil {
			return verdict
		}
		return temporal.NewApplicationError(e.Error(), e.Kind.String(), err)
	}
	return err
}

// listsNoGroups reports whether the app's listing shows no memberships
// (integrations.GrouplessLister), so that a scan compares no entitlements.
func (r *Reconcile) listsNoGroups(ctx context.Context, app string) bool {
	_, conn, err := r.Policies.App(ctx, app)
	g, ok := conn.(integrations.GrouplessLister)
	return err == nil && ok && g.ListsNoGroups()
}

// accountNames indexes everyone HR has by the name the app knows them by,
// lower-cased, for an app whose accounts are known by a name only the HR
// record gives (integrations.AccountNamer, such as GitHub); nil for any
// other app. It reads HR a page at a time and keeps only the names.
func (r *Reconcile) accountNames(ctx context.Context, app string) (map[string]string, error) {
	_, conn, err := r.Policies.App(ctx, app)
	if err != nil {
		return nil, err
	}
	namer, ok := conn.(integrations.AccountNamer)
	if !ok {
		return nil, nil
	}
	out := map[string]string{}
	after := ""
	for {
		people, err := r.People.EmployeesAfter(ctx, after, peoplePage)
		if err != nil {
			return nil, err
		}
		for _, e := range people {
			if name := namer.Username(userFor(e.Person, false)); name != "" {
				out[strings.ToLower(name)] = e.ID
			}
		}
		if len(people) < peoplePage {
			return out, nil
		}
		after = people[len(people)-1].ID
	}
}

// owners finds the owner of each account of a page, by externalId and then
// by userName (the work email, or the name names gives), in a lookup or two
// for the whole page; withGrants, with their grants in app, in one more.
func (r *Reconcile) owners(ctx context.Context, app string, page []integrations.Account, withGrants bool, names map[string]string) ([]*reconcile.Person, []string, error) {
	ids := make([]string, 0, len(page))
	for _, a := range page {
		if a.ExternalID != "" {
			ids = append(ids, a.ExternalID)
		}
	}
	byID := map[string]*reconcile.Person{}
	found, err := r.People.PeopleByID(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range found {
		byID[e.ID] = &reconcile.Person{Employee: e}
	}
	var emails, named []string
	for _, a := range page {
		switch {
		case byID[a.ExternalID] != nil || a.UserName == "":
		case names[strings.ToLower(a.UserName)] != "":
			named = append(named, names[strings.ToLower(a.UserName)])
		default:
			emails = append(emails, a.UserName)
		}
	}
	byUserName := map[string]*reconcile.Person{}
	if len(emails) > 0 {
		found, err := r.People.EmployeesByEmail(ctx, emails)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range found {
			p := byID[e.ID]
			if p == nil {
				p = &reconcile.Person{Employee: e}
			}
			byUserName[strings.ToLower(e.Email)] = p
		}
	}
	if len(named) > 0 {
		found, err := r.People.PeopleByID(ctx, named)
		if err != nil {
			return nil, nil, err
		}
		byName := map[string]*reconcile.Person{}
		for _, e := range found {
			byName[e.ID] = &reconcile.Person{Employee: e}
		}
		for _, a := range page {
			if p := byName[names[strings.ToLower(a.UserName)]]; p != nil {
				byUserName[strings.ToLower(a.UserName)] = p
			}
		}
	}
	owners := make([]*reconcile.Person, len(page))
	whys := make([]string, len(page))
	var people []tenure.Employee
	for i, a := range page {
		owners[i], whys[i] = reconcile.Owner(a, byID, byUserName)
		if owners[i] != nil && withGrants {
			people = append(people, owners[i].Employee)
		}
	}
	if withGrants {
		grants, err := r.grantsOf(ctx, app, people, true)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range owners {
			if p != nil {
				p.Grants = grants[p.ID]
			}
		}
	}
	return owners, whys, nil
}

// grantsOf returns the grants of people in app, by person, when they are
// needed.
func (r *Reconcile) grantsOf(ctx context.Context, app string, people []tenure.Employee, needed bool) (map[string][]tenure.GrantRecord, error) {
	if !needed || len(people) == 0 {
		return nil, nil
	}
	ids := make([]string, len(people))
	for i, e := range people {
		ids[i] = e.ID
	}
	grants, err := r.People.GrantsOf(ctx, app, ids)
	if err != nil {
		return nil, err
	}
	out := map[string][]tenure.GrantRecord{}
	for _, g := range grants {
		out[g.EmployeeID] = append(out[g.EmployeeID], g)
	}
	return out, nil
}

// remediable lists, a page at a time, the open findings of a run whose
// remediation changes an app, or the one finding asked for.
func (r *Reconcile) remediable(ctx context.Context, run, finding string, status tenure.FindingStatus, fn func(tenure.Finding) error) error {
	if finding != "" {
		f, err := r.Store.GetFinding(ctx, finding)
		if tenure.ErrorCode(err) == tenure.ENOTFOUND {
			return invalid("there is no finding %q", finding)
		}
		if err != nil {
			return err
		}
		if f.Status != status {
			return nil
		}
		return fn(f)
	}
	after := ""
	for {
		page, _, err := r.Store.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: run, Status: status, ActsOnly: true,
			AfterID: after, Limit: 500})
		if err != nil {
			return err
		}
		for _, f := range page {
			if err := fn(f); err != nil {
				return err
			}
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// affected is who a remediation would take access from, for the guard: the
// person of a disable or of a drift's resync (which may revoke), and, as one
// each, the unknown accounts it would disable.
func affected(f tenure.Finding) string {
	switch {
	case f.Remediation == tenure.RemediateDisable && f.EmployeeID == "":
		return f.App + ":" + f.AccountID
	case f.Remediation == tenure.RemediateDisable, f.Kind == tenure.FindingDrift && f.Remediation == tenure.RemediateResync:
		return f.EmployeeID
	}
	return ""
}

// AskGuard asks the guard about a run's remediations, or one finding's: Check
// for an enforce run, which the guard may hold (the run is then recorded as
// held), or Preview for a report, whose verdict is recorded as what enforcing
// it would meet.
func (r *Reconcile) AskGuard(ctx context.Context, in workflows.ReconcileGuardInput) (*tenure.GuardOutcome, error) {
	seen := map[string]bool{}
	var people []string
	add := func(f tenure.Finding) {
		if who := affected(f); who != "" && !seen[who] {
			seen[who] = true
			people = append(people, who)
		}
	}
	var one tenure.Finding
	if in.Finding != "" {
		// One finding is asked about whatever its status: one that failed
		// may be remediated again.
		f, err := r.Store.GetFinding(ctx, in.Finding)
		if tenure.ErrorCode(err) == tenure.ENOTFOUND {
			return nil, invalid("there is no finding %q", in.Finding)
		} else if err != nil {
			return nil, err
		}
		one = f
		if f.Status != tenure.FindingRemediated {
			add(f)
		}
	} else if err := r.remediable(ctx, in.ID, "", tenure.FindingOpen, func(f tenure.Finding) error { add(f); return nil }); err != nil {
		return nil, err
	}
	out := &tenure.GuardOutcome{}
	if len(people) > 0 {
		req := guard.Request{Source: guard.SourceReconcile, Operation: in.ID, People: people, Actor: in.Actor, WorkflowID: in.WorkflowID}
		ask := r.Guard.Check
		if in.Preview {
			ask = r.Guard.Preview
		}
		v, err := ask(ctx, req)
		if err != nil {
			return nil, err
		}
		out = &tenure.GuardOutcome{Held: v.Held, HoldID: v.HoldID, Reason: v.Reason}
	}
	if in.Finding != "" {
		if out.Held {
			one.Error = fmt.Sprintf("held by the guard (hold %s): %s", out.HoldID, out.Reason)
			if err := r.Store.SetFindingStatus(ctx, one); err != nil {
				return nil, err
			}
		}
		return out, r.heldAudit(ctx, in, out, one.EmployeeID, one.App)
	}
	run, err := r.Store.GetReconciliation(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	run.Guard = out
	if out.Held && !in.Preview {
		run.Status = tenure.ReconcileHeld
	}
	if err := r.Store.UpdateReconciliation(ctx, run); err != nil {
		return nil, err
	}
	return out, r.heldAudit(ctx, in, out, "", "")
}

// heldAudit records that the guard holds an operation.
func (r *Reconcile) heldAudit(ctx context.Context, in workflows.ReconcileGuardInput, v *tenure.GuardOutcome, employeeID, app string) error {
	if !v.Held || in.Preview {
		return nil
	}
	return r.audit(ctx, tenure.AuditRecord{Key: "reconcile/" + in.ID + "/held/" + v.HoldID, Actor: Actor, Action: "reconcile.held",
		EmployeeID: employeeID, App: app, Detail: fmt.Sprintf("remediations of %s held by the guard (hold %s): %s", in.ID, v.HoldID, v.Reason)})
}

// Remediate remediates a run's open findings whose remediation changes an
// app, or the one finding asked for: it disables an account through the app's
// connector and reads it back, or hands a resync to the person's workflow and
// waits, up to ResyncWait, for that workflow to report on it. Each finding's
// outcome is written as it happens, so a retried activity carries on where
// the last attempt stopped. An app error that a retry may cure fails the
// activity, to be retried; one that it cannot fails the finding.
func (r *Reconcile) Remediate(ctx context.Context, in workflows.ReconcileRemediate) (workflows.ReconcileRemediated, error) {
	var out workflows.ReconcileRemediated
	if in.Finding == "" {
		run, err := r.Store.GetReconciliation(ctx, in.ID)
		if err != nil {
			return out, err
		}
		if run.Status == tenure.ReconcileHeld {
			run.Status = tenure.ReconcileRunning
			if err := r.Store.UpdateReconciliation(ctx, run); err != nil {
				return out, err
			}
		}
	}
	if in.Finding != "" {
		f, err := r.Store.GetFinding(ctx, in.Finding)
		if tenure.ErrorCode(err) == tenure.ENOTFOUND {
			return out, invalid("there is no finding %q", in.Finding)
		} else if err != nil {
			return out, err
		}
		if !f.Remediation.Acts() {
			return out, invalid("finding %s is to be %s, not remediated", f.ID, f.Remediation)
		}
		if f.Status == tenure.FindingFailed {
			// Asked again, after it failed: try again.
			f.Status, f.Error = tenure.FindingOpen, ""
			if err := r.Store.SetFindingStatus(ctx, f); err != nil {
				return out, err
			}
		}
	}
	err := r.remediable(ctx, in.ID, in.Finding, tenure.FindingOpen, func(f tenure.Finding) error {
		f, err := r.remediate(ctx, f, in.Actor)
		if err != nil {
			return err
		}
		switch f.Status {
		case tenure.FindingRemediated:
			out.Remediated++
		case tenure.FindingFailed:
			out.Failed++
			out.Error = f.Error
		}
		heartbeat(ctx, out)
		return nil
	})
	if err != nil {
		return out, err
	}
	return out, r.awaitResyncs(ctx, in, &out)
}

// remediate acts on one finding and records the outcome. The error is one a
// retry may cure; the finding is then left open.
func (r *Reconcile) remediate(ctx context.Context, f tenure.Finding, actor string) (tenure.Finding, error) {
	at := r.now()
	f.RemediatedBy, f.RemediatedAt = orTenure(actor), &at
	var err error
	switch f.Remediation {
	case tenure.RemediateDisable:
		f, err = r.disable(ctx, f)
	case tenure.RemediateResync:
		f, err = r.resync(ctx, f, actor)
	default:
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := r.Store.SetFindingStatus(ctx, f); err != nil {
		return f, err
	}
	detail := fmt.Sprintf("%s %s of finding %s (%s in %s, account %s): %s", f.Remediation, f.Status, f.ID, f.Kind, f.App, orNone(f.AccountID), f.Detail)
	if f.Error != "" {
		detail += "; " + f.Error
	}
	return f, r.audit(ctx, tenure.AuditRecord{Key: "reconcile/" + f.ID + "/" + string(f.Status), Actor: orTenure(actor),
		Action: "reconcile." + string(f.Status), EmployeeID: f.EmployeeID, App: f.App, Detail: detail})
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// disable switches off the finding's account, once the account, read again,
// still calls for it: a finding of yesterday's run may no longer hold.
func (r *Reconcile) disable(ctx context.Context, f tenure.Finding) (tenure.Finding, error) {
	c, err := r.connector(ctx, f.App)
	if err != nil {
		return failed(f, tenure.ErrorMessage(err)), nil
	}
	acct, err := c.Get(ctx, f.AccountID)
	if integrations.IsNotFound(err) {
		f.Status, f.Error = tenure.FindingRemediated, "the account is gone from the app"
		return f, nil
	}
	if err != nil {
		return f, retryable(err)
	}
	pol, err := r.Policies.Current(ctx)
	if err != nil {
		return f, err
	}
	scan, err := reconcile.NewScan(f.ReconciliationID, pol, f.App)
	if err != nil {
		return failed(f, tenure.ErrorMessage(err)), nil
	}
	if r.listsNoGroups(ctx, f.App) {
		scan.SkipEntitlements()
	}
	names, err := r.accountNames(ctx, f.App)
	if err != nil {
		return f, err
	}
	owners, whys, err := r.owners(ctx, f.App, []integrations.Account{acct}, scan.NeedsGrants(), names)
	if err != nil {
		return f, err
	}
	now, ok, err := scan.Account(acct, owners[0], whys[0], nil)
	if err != nil {
		return f, err
	}
	if !ok || now.Remediation != tenure.RemediateDisable {
		return failed(f, "no longer applies: the account, read again, does not call for a disable; run a new reconciliation"), nil
	}
	if owners[0] == nil {
		return r.disableUnknown(ctx, c, f, acct)
	}
	req := workflows.AccountRequest{Key: "reconcile/" + f.ID + "/disable", EmployeeID: owners[0].ID, App: f.App,
		Person: owners[0].Person, AccountID: acct.ID}
	res, err := r.DisableAccount(ctx, req)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return failed(f, appErr.Message()), nil
	}
	if err != nil {
		return f, err
	}
	f.Status, f.Error = tenure.FindingRemediated, res.Note
	return f, nil
}

// disableUnknown switches off an account HR knows nobody for, and reads it
// back. There is no person's read model to write: the audit trail and the
// finding are the record.
func (r *Reconcile) disableUnknown(ctx context.Context, c integrations.Connector, f tenure.Finding, acct integrations.Account) (tenure.Finding, error) {
	if acct.Active || acct.Pending {
		if err := c.SetActive(ctx, acct.ID, false); err != nil {
			return f, retryable(err)
		}
	}
	got, err := c.Get(ctx, acct.ID)
	switch {
	case integrations.IsNotFound(err):
		// An app whose disable deletes (a SCIM app without active).
	case err != nil:
		return f, retryable(err)
	case got.Active || got.Pending:
		return failed(f, fmt.Sprintf("not verified: account %s reads back active=%t, pending=%t", acct.ID, got.Active, got.Pending)), nil
	}
	if err := r.audit(ctx, tenure.AuditRecord{Key: "reconcile/" + f.ID + "/disable", Actor: Actor, Action: "account.disabled",
		App: f.App, Detail: fmt.Sprintf("account %s, which nobody in HR has (finding %s of reconciliation %s), was active=%t, now verified disabled",
			acct.ID, f.ID, f.ReconciliationID, acct.Active)}); err != nil {
		return f, err
	}
	if err := r.publish(ctx, tenure.EventAccessRevoked, "reconcile/"+f.ID+"/disable", "", map[string]any{
		"app": f.App, "account_id": acct.ID, "action": "account.disabled", "active": false, "verified_at": r.now(),
	}); err != nil {
		return f, err
	}
	f.Status, f.Error = tenure.FindingRemediated, ""
	return f, nil
}

// retryable passes on an app error a retry may cure, after the delay the app
// asked for where it did, and fails the activity at once on one it cannot
// (appVerdict).
func retryable(err error) error {
	var e *integrations.Error
	if errors.As(err, &e) {
		if verdict := appVerdict(e, err); verdict != nil {
			return verdict
		}
	}
	return err
}

func failed(f tenure.Finding, why string) tenure.Finding {
	f.Status, f.Error = tenure.FindingFailed, why
	return f
}

// resync hands the finding's app to the person's workflow, as a retry of that
// app: the workflow converges it on the policy and reads it back.
func (r *Reconcile) resync(ctx context.Context, f tenure.Finding, actor string) (tenure.Finding, error) {
	key := ResyncKey(f)
	_, err := r.Engine.Retry(ctx, f.EmployeeID, f.App, key, orTenure(actor))
	switch tenure.ErrorCode(err) {
	case "":
		f.Status, f.RetryKey, f.Error = tenure.FindingResyncing, key, ""
		return f, nil
	case tenure.ECONFLICT, tenure.ENOTFOUND:
		return failed(f, tenure.ErrorMessage(err)), nil
	}
	return f, err
}

// ResyncKey is the request ID of a finding's resync: the person's workflow
// runs it as the child employee/<id>/<kind>/retry-<key>.
func ResyncKey(f tenure.Finding) string { return "reconcile-" + f.ID }

// awaitResyncs waits, up to ResyncWait, for the persons' workflows to finish
// the resyncs handed to them, and records each outcome as the run the
// workflow recorded: completed is remediated, anything else failed.
func (r *Reconcile) awaitResyncs(ctx context.Context, in workflows.ReconcileRemediate, out *workflows.ReconcileRemediated) error {
	wait := r.ResyncWait
	if wait <= 0 {
		wait = DefaultResyncWait
	}
	deadline := time.Now().Add(wait)
	for {
		pending := 0
		err := r.remediable(ctx, in.ID, in.Finding, tenure.FindingResyncing, func(f tenure.Finding) error {
			run, ok, err := r.resyncRun(ctx, f)
			if err != nil {
				return err
			}
			if !ok {
				pending++
				return nil
			}
			if run.Status == tenure.RunCompleted {
				f.Status, f.Error = tenure.FindingRemediated, ""
				out.Remediated++
			} else {
				f = failed(f, fmt.Sprintf("the person's run %s %s: %s", run.WorkflowID, run.Status, run.Error))
				out.Failed++
				out.Error = f.Error
			}
			if err := r.Store.SetFindingStatus(ctx, f); err != nil {
				return err
			}
			return r.audit(ctx, tenure.AuditRecord{Key: "reconcile/" + f.ID + "/" + string(f.Status), Actor: f.RemediatedBy,
				Action: "reconcile." + string(f.Status), EmployeeID: f.EmployeeID, App: f.App,
				Detail: fmt.Sprintf("resync of finding %s (%s in %s) %s, as run %s read it back", f.ID, f.Kind, f.App, f.Status, run.WorkflowID)})
		})
		if err != nil {
			return err
		}
		out.Resyncing = pending
		heartbeat(ctx, *out)
		if pending == 0 || time.Now().After(deadline) {
			return nil
		}
		t := time.NewTimer(resyncPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// resyncRun finds the run in which the person's workflow carried out f's
// resync, once it has closed.
func (r *Reconcile) resyncRun(ctx context.Context, f tenure.Finding) (tenure.Run, bool, error) {
	runs, err := r.Store.ListRuns(ctx, f.EmployeeID)
	if err != nil {
		return tenure.Run{}, false, err
	}
	for _, run := range runs {
		if strings.HasSuffix(run.WorkflowID, "/retry-"+f.RetryKey) && run.ClosedAt != nil {
			return run, true, nil
		}
	}
	return tenure.Run{}, false, nil
}

// Finish closes the run: it records the apps that could not be read, adds up
// every app's counts, and, when anything was found, tells IT and publishes a
// reconcile.findings event.
func (r *Reconcile) Finish(ctx context.Context, in workflows.ReconcileFinish) (workflows.ReconcileResult, error) {
	for _, a := range in.Apps {
		if a.Error == "" {
			continue
		}
		at := in.ClosedAt
		part := tenure.ReconcileApp{ReconciliationID: in.ID, App: a.App, Status: tenure.ReconcileFailed, Error: a.Error,
			StartedAt: at, FinishedAt: &at}
		if run, err := r.Store.GetReconciliation(ctx, in.ID); err == nil {
			part.Mode = run.Mode
		}
		if err := r.Store.RecordReconcileApp(ctx, part); err != nil {
			return workflows.ReconcileResult{}, err
		}
	}
	run, err := r.Store.GetReconciliation(ctx, in.ID)
	if err != nil {
		return workflows.ReconcileResult{}, err
	}
	run.Counts = tenure.ReconcileCounts{}
	for _, a := range run.ByApp {
		run.Counts = run.Counts.Add(a.Counts)
	}
	run.Status, run.Error = in.Status, in.Error
	run.Remediated, run.Failed = in.Remediation.Remediated, in.Remediation.Failed
	if in.Guard != nil {
		run.Guard = in.Guard
	}
	closed := in.ClosedAt
	run.ClosedAt = &closed
	if err := r.Store.UpdateReconciliation(ctx, run); err != nil {
		return workflows.ReconcileResult{}, err
	}
	res := workflows.ReconcileResult{ID: run.ID, Status: run.Status, Counts: run.Counts, Remediation: in.Remediation}
	detail := fmt.Sprintf("%s %s: found %s", run.Mode, run.Status, run.Summary())
	if run.Mode == tenure.ReconcileEnforce {
		detail += fmt.Sprintf("; remediated %d, failed %d, resyncing %d", in.Remediation.Remediated, in.Remediation.Failed, in.Remediation.Resyncing)
	}
	if run.Error != "" {
		detail += "; " + run.Error
	}
	if err := r.audit(ctx, tenure.AuditRecord{Key: "reconcile/" + run.ID + "/finished", Actor: Actor,
		Action: "reconcile.finished", Detail: detail}); err != nil {
		return res, err
	}
	if run.Counts.Actionable() == 0 {
		return res, nil
	}
	if err := r.notifier().ReconcileFindings(ctx, tenure.ReconcileNotice{Reconciliation: run}); err != nil {
		return res, err
	}
	byApp := map[string]tenure.ReconcileCounts{}
	for _, a := range run.ByApp {
		byApp[a.App] = a.Counts
	}
	return res, r.publish(ctx, tenure.EventReconcileFindings, "reconcile/"+run.ID+"/findings", "", map[string]any{
		"reconciliation_id": run.ID, "mode": run.Mode, "status": run.Status, "counts": run.Counts, "by_app": byApp,
		"remediated": run.Remediated, "remediation_failed": run.Failed,
	})
}
