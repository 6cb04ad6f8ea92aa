package tenure

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Reconciliation compares what is actually in the apps with what the policy
// asks for. It reads every account of an app, page by page, matches each to a
// person (by the app's externalId, then by userName), and records a Finding for
// every account that is not as it should be and for every account the policy
// wants that the app does not have.

// ReconcileMode says what a reconciliation does with its findings.
type ReconcileMode string

// The reconciliation modes.
const (
	// ReconcileReport lists the findings and changes nothing.
	ReconcileReport ReconcileMode = "report"
	// ReconcileEnforce lists the findings and remediates them, through the
	// blast-radius guard.
	ReconcileEnforce ReconcileMode = "enforce"
)

// Valid reports whether m is one of the modes.
func (m ReconcileMode) Valid() bool { return m == ReconcileReport || m == ReconcileEnforce }

// ReconcileStatus is where a reconciliation is.
type ReconcileStatus string

// The reconciliation statuses.
const (
	ReconcileRunning ReconcileStatus = "running"
	// ReconcileHeld means the guard holds an enforce run's remediations until
	// an admin releases or discards the hold.
	ReconcileHeld      ReconcileStatus = "held"
	ReconcileCompleted ReconcileStatus = "completed"
	// ReconcileFailed means at least one app could not be read (its error is
	// on its ReconcileApp); the other apps' findings are kept.
	ReconcileFailed   ReconcileStatus = "failed"
	ReconcileCanceled ReconcileStatus = "canceled"
)

// Closed reports whether a reconciliation with status s has finished.
func (s ReconcileStatus) Closed() bool {
	return s == ReconcileCompleted || s == ReconcileFailed || s == ReconcileCanceled
}

// FindingKind is what is wrong with an account.
type FindingKind string

// The finding kinds.
const (
	// FindingMissing: the policy wants an account and the app has none, or has
	// it disabled when it should be active.
	FindingMissing FindingKind = "missing"
	// FindingDrift: the account's active flag or its managed entitlements
	// differ from what the policy wants.
	FindingDrift FindingKind = "drift"
	// FindingOrphan: an active account whose person is terminated, or whom
	// HR does not know.
	FindingOrphan FindingKind = "orphan"
	// FindingUnmanaged: an account that matches the app's ignore patterns,
	// such as a service account; listed, never touched.
	FindingUnmanaged FindingKind = "unmanaged"
)

// FindingKinds lists the kinds, in the order people read them.
var FindingKinds = []FindingKind{FindingMissing, FindingDrift, FindingOrphan, FindingUnmanaged}

// Remediation is what enforcing a finding does.
type Remediation string

// The remediations.
const (
	// RemediateResync hands the person's app to their own workflow again (a
	// retry of that app), which converges it on the policy and reads it back.
	RemediateResync Remediation = "resync"
	// RemediateDisable disables the account through the app's connector and
	// reads it back.
	RemediateDisable Remediation = "disable"
	// RemediateReport leaves the account to IT: an unknown account in an app
	// without orphans: disable, or a second account for one person.
	RemediateReport Remediation = "report"
	// RemediateNone is for unmanaged accounts, which Tenure leaves alone.
	RemediateNone Remediation = "none"
)

// Acts reports whether enforcing r changes anything in an app.
func (r Remediation) Acts() bool { return r == RemediateResync || r == RemediateDisable }

// FindingStatus is how far a finding's remediation has got.
type FindingStatus string

// The finding statuses.
const (
	// FindingOpen: nothing has been done about it (yet).
	FindingOpen FindingStatus = "open"
	// FindingResyncing: the person's workflow has the resync and has not yet
	// reported its outcome.
	FindingResyncing FindingStatus = "resyncing"
	// FindingRemediated: the remediation was read back from the app.
	FindingRemediated FindingStatus = "remediated"
	// FindingFailed: the remediation failed; Error says why.
	FindingFailed FindingStatus = "failed"
)

// ReconcileCounts counts one reconciliation's accounts and findings.
type ReconcileCounts struct {
	// Accounts is every account listed; Matched those that belong to a person
	// HR knows.
	Accounts  int `json:"accounts"`
	Matched   int `json:"matched"`
	Missing   int `json:"missing"`
	Drift     int `json:"drift"`
	Orphan    int `json:"orphan"`
	Unmanaged int `json:"unmanaged"`
}

// Add returns the sum of c and o.
func (c ReconcileCounts) Add(o ReconcileCounts) ReconcileCounts {
	return ReconcileCounts{
		Accounts: c.Accounts + o.Accounts, Matched: c.Matched + o.Matched, Missing: c.Missing + o.Missing,
		Drift: c.Drift + o.Drift, Orphan: c.Orphan + o.Orphan, Unmanaged: c.Unmanaged + o.Unmanaged,
	}
}

// Count adds one finding of kind k.
func (c *ReconcileCounts) Count(k FindingKind) {
	switch k {
	case FindingMissing:
		c.Missing++
	case FindingDrift:
		c.Drift++
	case FindingOrphan:
		c.Orphan++
	case FindingUnmanaged:
		c.Unmanaged++
	}
}

// Of returns the number of findings of kind k.
func (c ReconcileCounts) Of(k FindingKind) int {
	switch k {
	case FindingMissing:
		return c.Missing
	case FindingDrift:
		return c.Drift
	case FindingOrphan:
		return c.Orphan
	case FindingUnmanaged:
		return c.Unmanaged
	}
	return 0
}

// Actionable is the number of findings that say something is wrong: all but
// the unmanaged accounts.
func (c ReconcileCounts) Actionable() int { return c.Missing + c.Drift + c.Orphan }

// GuardOutcome is what the blast-radius guard said of an enforce run's
// remediations, or, for a report, what it would say were the run enforced.
type GuardOutcome struct {
	Held   bool   `json:"held"`
	HoldID string `json:"hold_id,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Reconciliation is one run of reconciliation over one or more apps.
type Reconciliation struct {
	// ID is also the ID of the Reconcile workflow that runs it.
	ID   string        `json:"id"`
	Mode ReconcileMode `json:"mode"`
	// Apps are the apps it reads, sorted.
	Apps   []string        `json:"apps"`
	Status ReconcileStatus `json:"status"`
	// Actor started it: a person's name, or "schedule".
	Actor string `json:"actor"`
	// Trigger is how it was started: api, console or schedule.
	Trigger string          `json:"trigger"`
	Counts  ReconcileCounts `json:"counts"`
	// ByApp is each app's part, sorted by app.
	ByApp []ReconcileApp `json:"by_app"`
	// Remediated and Failed count an enforce run's remediations.
	Remediated int `json:"remediated"`
	Failed     int `json:"remediation_failed"`
	// Guard is the guard's verdict: on an enforce run's remediations, or what
	// it would have been, for a report.
	Guard     *GuardOutcome `json:"guard,omitempty"`
	Error     string        `json:"error,omitempty"`
	StartedAt time.Time     `json:"started_at"`
	ClosedAt  *time.Time    `json:"closed_at,omitempty"`
}

// ReconcileApp is one app's part of a reconciliation.
type ReconcileApp struct {
	ReconciliationID string          `json:"reconciliation_id"`
	App              string          `json:"app"`
	Mode             ReconcileMode   `json:"mode"`
	Status           ReconcileStatus `json:"status"`
	Counts           ReconcileCounts `json:"counts"`
	Error            string          `json:"error,omitempty"`
	StartedAt        time.Time       `json:"started_at"`
	FinishedAt       *time.Time      `json:"finished_at,omitempty"`
}

// Finding is one account that is not as the policy wants it, or one account
// the policy wants that the app does not have.
type Finding struct {
	// ID is derived from the reconciliation, the app and the account (or the
	// person, for a missing account), so a retried scan writes it once.
	ID               string `json:"id"`
	ReconciliationID string `json:"reconciliation_id"`
	App              string `json:"app"`
	// AccountID, UserName and ExternalID are the account as the app lists it;
	// empty for a missing account.
	AccountID  string `json:"account_id"`
	UserName   string `json:"user_name"`
	ExternalID string `json:"external_id"`
	// EmployeeID is the person the account belongs to; empty when HR knows
	// nobody it could be.
	EmployeeID  string        `json:"employee_id,omitempty"`
	Kind        FindingKind   `json:"kind"`
	Detail      string        `json:"detail"`
	Remediation Remediation   `json:"remediation"`
	Status      FindingStatus `json:"status"`
	// Error says why a remediation failed, or what it is waiting for.
	Error        string     `json:"error,omitempty"`
	RemediatedBy string     `json:"remediated_by,omitempty"`
	RemediatedAt *time.Time `json:"remediated_at,omitempty"`
	// RetryKey is the request ID of a resync handed to the person's workflow.
	RetryKey string `json:"-"`
}

// ReconcileFilter selects reconciliations, newest first.
type ReconcileFilter struct {
	App    string // runs that read this app; "" for all
	Limit  int
	Offset int
}

// FindingFilter selects one reconciliation's findings, ordered by ID.
type FindingFilter struct {
	ReconciliationID string
	App              string
	Kind             FindingKind
	Status           FindingStatus
	// ActsOnly keeps the findings whose remediation changes an app.
	ActsOnly bool
	// AfterID pages by key: only findings whose ID sorts after it.
	AfterID string
	Limit   int
	Offset  int
}

// ReconcileStore keeps reconciliations and their findings.
type ReconcileStore interface {
	// CreateReconciliation inserts r unless one with its ID exists; it returns
	// whether it inserted.
	CreateReconciliation(ctx context.Context, r Reconciliation) (bool, error)
	// UpdateReconciliation writes r's status, counts, guard verdict, error and
	// close time. A closed reconciliation is never reopened.
	UpdateReconciliation(ctx context.Context, r Reconciliation) error
	// DeleteReconciliation removes a run whose workflow never started, so
	// that a request the engine refused leaves nothing behind.
	DeleteReconciliation(ctx context.Context, id string) error
	// GetReconciliation returns one reconciliation with its apps' parts.
	GetReconciliation(ctx context.Context, id string) (Reconciliation, error)
	ListReconciliations(ctx context.Context, f ReconcileFilter) ([]Reconciliation, error)
	// RecordReconcileApp writes one app's part of a reconciliation.
	RecordReconcileApp(ctx context.Context, a ReconcileApp) error
	// LatestReconcileApps returns, for each app, its part of the latest
	// reconciliation that finished reading it.
	LatestReconcileApps(ctx context.Context) ([]ReconcileApp, error)
	// ReplaceFindings drops what an earlier attempt found in one app of one
	// reconciliation, and its checkpoints, in one transaction, before a scan
	// starts over.
	ReplaceFindings(ctx context.Context, reconciliationID, app string) error
	// AddFindings writes findings; one that exists is overwritten.
	AddFindings(ctx context.Context, fs []Finding) error
	// SaveCheckpoint writes a scan's checkpoint and the findings since the
	// one before, in one transaction.
	SaveCheckpoint(ctx context.Context, cp ScanCheckpoint, fs []Finding) error
	// Checkpoints returns one app's checkpoints of a reconciliation, by Seq.
	Checkpoints(ctx context.Context, reconciliationID, app string) ([]ScanCheckpoint, error)
	// DropCheckpoints deletes them, once the scan has finished.
	DropCheckpoints(ctx context.Context, reconciliationID, app string) error
	GetFinding(ctx context.Context, id string) (Finding, error)
	// ListFindings returns one page and the total number that match.
	ListFindings(ctx context.Context, f FindingFilter) ([]Finding, int, error)
	// SetFindingStatus records how far a finding's remediation has got.
	SetFindingStatus(ctx context.Context, f Finding) error
}

// ScanPhase is which pass of one app's scan a checkpoint is in.
type ScanPhase string

// The passes of a scan.
const (
	// ScanListing reads the app's accounts, page by page.
	ScanListing ScanPhase = "listing"
	// ScanMissing reads the people HR has, page by page, for the accounts the
	// app lacks.
	ScanMissing ScanPhase = "missing"
)

// ScanCheckpoint is how far one app's scan of a reconciliation had got when
// it saved its progress, with the findings up to there, so that a scan that
// fails (a rate limit, a worker restart) carries on from there rather than
// from the app's first page. A scan saves one every few pages; together they
// hold everything it must remember.
type ScanCheckpoint struct {
	ReconciliationID string
	App              string
	// Seq numbers one scan's checkpoints from 1.
	Seq   int
	Phase ScanPhase
	// Cursor is where the scan carries on: in ScanListing the app's page
	// cursor (integrations.PageLister), in ScanMissing the HR ID of the last
	// person read ("" for the first page of either).
	Cursor string
	// Counts are the scan's counts up to the cursor.
	Counts ReconcileCounts
	// Seen are the people whose accounts the scan saw since the checkpoint
	// before, as reconcile.Scan.TakeSeen encodes them.
	Seen []byte
}

// PeopleIndex finds people in bulk, as reconciliation matches a page of an
// app's accounts at a time.
type PeopleIndex interface {
	// PeopleByID returns the people with these HR IDs (those that exist).
	PeopleByID(ctx context.Context, ids []string) ([]Employee, error)
	// EmployeesByEmail returns the people with these work emails, compared
	// without case.
	EmployeesByEmail(ctx context.Context, emails []string) ([]Employee, error)
	// EmployeesAfter returns up to limit people whose HR ID sorts after after,
	// ordered by HR ID, with any of the statuses.
	EmployeesAfter(ctx context.Context, after string, limit int, statuses ...PersonStatus) ([]Employee, error)
	// GrantsOf returns the grants of these people in app: who, the app, the
	// entitlement and its status of each.
	GrantsOf(ctx context.Context, app string, ids []string) ([]GrantRecord, error)
}

// ReconcileRequest asks for a reconciliation.
type ReconcileRequest struct {
	// ID names the run; it is also its workflow's ID.
	ID   string
	Apps []string // nil for every app
	Mode ReconcileMode
	// Actor is who asked; Trigger how (api or console).
	Actor, Trigger string
}

// Reconciler starts reconciliations and remediations: the API and the console
// use it, and workflows.Engine implements it over Temporal.
type Reconciler interface {
	// StartReconciliation starts the run r names. The run must already be in
	// the read model (CreateReconciliation), so that it can be read at once.
	StartReconciliation(ctx context.Context, r ReconcileRequest) error
	// RemediateFinding remediates one finding, through the guard, and returns
	// the ID of the workflow that does it. A finding whose remediation is
	// already running is not started twice.
	RemediateFinding(ctx context.Context, f Finding, actor string) (workflowID string, err error)
}

// ReconcileNotice tells IT what a reconciliation found.
type ReconcileNotice struct {
	Reconciliation Reconciliation `json:"reconciliation"`
}

// ReconcileNotifier tells IT about reconciliation findings.
type ReconcileNotifier interface {
	// ReconcileFindings tells IT what a reconciliation found, and did.
	ReconcileFindings(ctx context.Context, n ReconcileNotice) error
}

// Summary says in one line what a reconciliation found, for a notice: the
// count of each kind of finding, then each app's, such as "2 missing, 1
// orphan (github: 1 missing, 1 orphan; slack: 1 missing)".
func (r Reconciliation) Summary() string {
	line := func(c ReconcileCounts) string {
		var parts []string
		for _, k := range FindingKinds {
			if n := c.Of(k); n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, k))
			}
		}
		if len(parts) == 0 {
			return "nothing"
		}
		return strings.Join(parts, ", ")
	}
	var apps []string
	for _, a := range r.ByApp {
		if a.Counts.Actionable()+a.Counts.Unmanaged > 0 {
			apps = append(apps, a.App+": "+line(a.Counts))
		}
	}
	s := line(r.Counts)
	if len(apps) > 0 {
		s += " (" + strings.Join(apps, "; ") + ")"
	}
	return s
}
