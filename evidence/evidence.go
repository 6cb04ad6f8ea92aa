// Package evidence builds what Tenure gives auditors from its verified state: a
// leaver's evidence, one signed JSON document (an attest.Envelope) that says,
// app by app, what the person had, what Tenure read back after taking it away,
// when, why and in which workflows; and the access review, who has what and
// why. The API and the console serve both from here, so they cannot disagree.
package evidence

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/attest"
)

// KeyEnv is the setting that holds the key evidence is signed with.
const KeyEnv = "TENURE_AUDIT_SIGNING_KEY"

// DocumentType and Version name the format of a leaver's evidence, so that a
// reader knows what it holds before it reads on.
const (
	DocumentType = "tenure.leaver-evidence"
	Version      = 1
)

// The run types that take access away; they are the Leaver and Lock workflows'
// names (package workflows), which this package does not import.
const (
	runLeaver = "Leaver"
	runLock   = "Lock"
)

// Document is a leaver's evidence: the payload of the signed envelope.
type Document struct {
	Type        string    `json:"type"`
	Version     int       `json:"version"`
	GeneratedAt time.Time `json:"generated_at"`
	// GeneratedBy is who asked for the document (an HR ID or a token's name).
	GeneratedBy string `json:"generated_by"`
	Employee    Person `json:"employee"`
	// Complete is true when every app's account reads back disabled or deleted.
	Complete bool `json:"complete"`
	// Workflows are the runs that took the person's access away, oldest first.
	Workflows []Workflow `json:"workflows"`
	Apps      []App      `json:"apps"`
	// Audit holds the records that started it: employee.terminated, employee.locked.
	Audit []tenure.AuditRecord `json:"audit"`
}

// Person is who the evidence is about.
type Person struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Email      string              `json:"email"`
	ManagerID  string              `json:"manager_id,omitempty"`
	Department string              `json:"department,omitempty"`
	Title      string              `json:"title,omitempty"`
	Status     tenure.PersonStatus `json:"status"`
}

// The kinds of Trigger.
const (
	TriggerHREvent = "hr_event" // an HR termination; ID is the HR event's
	TriggerEndDate = "end_date" // a contractor's end date passed; ID is the date
	TriggerLock    = "lock"     // the kill switch; ID is the lock's request ID
	TriggerRetry   = "retry"    // IT retried one app; ID is the retry's request ID
)

// Trigger is what started a workflow, and who.
type Trigger struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Actor is who: "hr" for an HR event, the admin for a lock. A retry's is
	// not recorded.
	Actor string `json:"actor,omitempty"`
	// At is when Tenure recorded it (the employee.terminated or
	// employee.locked audit record).
	At *time.Time `json:"at,omitempty"`
}

// Workflow is one run, with its page in the Temporal UI.
type Workflow struct {
	WorkflowID  string           `json:"workflow_id"`
	Type        string           `json:"type"`
	Status      tenure.RunStatus `json:"status"`
	TemporalURL string           `json:"temporal_url,omitempty"`
	StartedAt   time.Time        `json:"started_at"`
	ClosedAt    *time.Time       `json:"closed_at,omitempty"`
	Trigger     Trigger          `json:"trigger"`
}

// App is what happened to the person's account in one app.
type App struct {
	App       string `json:"app"`
	AccountID string `json:"account_id"`
	// UserName is the account's user name as the app showed it before the change.
	UserName string `json:"user_name,omitempty"`
	// Before is the account as the first step of the leaving found it; nil
	// where that step found no account (see the account.absent audit record).
	Before *Before `json:"before"`
	After  After   `json:"after"`
	// VerifiedAt is when Tenure last read After back from the app.
	VerifiedAt *time.Time `json:"verified_at"`
	// Workflows are the runs that acted on this app.
	Workflows []Workflow `json:"workflows"`
	// Audit holds those runs' records about this app, oldest first.
	Audit []tenure.AuditRecord `json:"audit"`
}

// Before is an account as a step found it, before changing it.
type Before struct {
	// Status is what the app showed: active, pending or disabled.
	Status tenure.AccessStatus `json:"status"`
	// Entitlements are those Tenure had last verified in the app, at
	// EntitlementsVerifiedAt.
	Entitlements           []string   `json:"entitlements"`
	EntitlementsVerifiedAt *time.Time `json:"entitlements_verified_at,omitempty"`
	ReadAt                 time.Time  `json:"read_at"`
	WorkflowID             string     `json:"workflow_id"`
	Operation              string     `json:"operation"`
}

// After is the account as Tenure last read it back.
type After struct {
	Status       tenure.AccessStatus `json:"status"`
	Entitlements []string            `json:"entitlements"`
	Error        string              `json:"error,omitempty"`
}

// Store is the read model the evidence is built from.
type Store interface {
	tenure.EmployeeStore
	tenure.AccountStore
	tenure.RunStore
	tenure.EventStore
	tenure.AuditStore
	tenure.AccountHistoryStore
}

// Builder makes leavers' evidence.
type Builder struct {
	Store Store
	// RunURL links a workflow to the Temporal UI; nil for no links.
	RunURL func(workflowID string) string
	// Key signs the evidence; nil means evidence cannot be had.
	Key ed25519.PrivateKey
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Signed returns the person's evidence, signed. Who may have it is decided
// here, for the API and the console alike: whoever may read the person
// (tenure.MayRead, so a manager only their own reports, and anyone else is
// ENOTFOUND), and only about someone who left or is locked (ECONFLICT).
// Without a key it is EUNAVAILABLE.
func (b *Builder) Signed(ctx context.Context, p tenure.Principal, employeeID string) (attest.Envelope, error) {
	if b == nil || b.Key == nil {
		return attest.Envelope{}, tenure.Errorf(tenure.EUNAVAILABLE, "evidence cannot be signed: %s is not set", KeyEnv)
	}
	doc, err := b.Build(ctx, p, employeeID)
	if err != nil {
		return attest.Envelope{}, err
	}
	return attest.Sign(b.Key, doc)
}

// Build returns the person's evidence, unsigned, under the same rules as Signed.
func (b *Builder) Build(ctx context.Context, p tenure.Principal, employeeID string) (Document, error) {
	emp, err := b.Store.GetEmployee(ctx, employeeID)
	if err != nil {
		return Document{}, tenure.Unavailable("the store", err)
	}
	if err := tenure.MayRead(p, emp); err != nil {
		return Document{}, err
	}
	if emp.Status != tenure.PersonTerminated && emp.Status != tenure.PersonLocked {
		return Document{}, tenure.Errorf(tenure.ECONFLICT,
			"%s is %s: evidence is for people who have left or are locked", emp.ID, emp.Status)
	}
	r, err := b.read(ctx, emp.ID)
	if err != nil {
		return Document{}, tenure.Unavailable("the store", err)
	}
	doc := Document{
		Type: DocumentType, Version: Version, GeneratedAt: b.now(), GeneratedBy: p.Actor(),
		Employee: Person{ID: emp.ID, Name: emp.DisplayName(), Email: emp.Email, ManagerID: emp.ManagerID,
			Department: emp.Department, Title: emp.Title, Status: emp.Status},
		Workflows: []Workflow{}, Apps: []App{}, Audit: []tenure.AuditRecord{},
	}
	leaving := map[string]Workflow{}
	for _, run := range leavingRuns(r.runs) {
		w := b.workflow(run, r)
		leaving[run.WorkflowID] = w
		doc.Workflows = append(doc.Workflows, w)
		if rec, ok := r.audit[triggerKey(emp.ID, run)]; ok && !slices.ContainsFunc(doc.Audit, func(a tenure.AuditRecord) bool { return a.Key == rec.Key }) {
			doc.Audit = append(doc.Audit, rec)
		}
	}
	sortAudit(doc.Audit)
	doc.Apps = apps(r, leaving)
	doc.Complete = len(doc.Apps) > 0
	for _, a := range doc.Apps {
		off := a.After.Status == tenure.AccessDisabled || a.After.Status == tenure.AccessDeleted
		doc.Complete = doc.Complete && off && a.VerifiedAt != nil
	}
	return doc, nil
}

// record is what the evidence is built from, read once.
type record struct {
	accounts []tenure.Account
	runs     []tenure.Run
	before   []tenure.AccountBefore
	events   map[string]tenure.EventRecord
	audit    map[string]tenure.AuditRecord // by key
}

// auditPage is how many audit records are read at a time.
const auditPage = 500

func (b *Builder) read(ctx context.Context, id string) (record, error) {
	r := record{events: map[string]tenure.EventRecord{}, audit: map[string]tenure.AuditRecord{}}
	var err error
	if r.accounts, err = b.Store.ListAccounts(ctx, id); err != nil {
		return r, err
	}
	if r.runs, err = b.Store.ListRuns(ctx, id); err != nil {
		return r, err
	}
	if r.before, err = b.Store.ListAccountsBefore(ctx, id); err != nil {
		return r, err
	}
	events, err := b.Store.ListEvents(ctx, id)
	if err != nil {
		return r, err
	}
	for _, ev := range events {
		r.events[ev.ID] = ev
	}
	for off := 0; ; off += auditPage {
		page, err := b.Store.ListAudit(ctx, tenure.AuditFilter{EmployeeID: id, Limit: auditPage, Offset: off})
		if err != nil {
			return r, err
		}
		for _, a := range page {
			r.audit[a.Key] = a
		}
		if len(page) < auditPage {
			return r, nil
		}
	}
}

// leavingRuns are the runs that took the person's access away: the Lock and
// Leaver runs since the last run of any other kind (a rehire's Joiner, an
// Unlock), so that an earlier lock that was lifted is not counted. A
// superseded run never ran, lifted nothing, and is left out.
func leavingRuns(runs []tenure.Run) []tenure.Run {
	var out []tenure.Run
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		if r.Status == tenure.RunSuperseded {
			continue
		}
		if r.Type != runLeaver && r.Type != runLock {
			break
		}
		out = append(out, r)
	}
	slices.Reverse(out)
	return out
}

// workflow describes a run and what started it.
func (b *Builder) workflow(run tenure.Run, r record) Workflow {
	w := Workflow{WorkflowID: run.WorkflowID, Type: run.Type, Status: run.Status,
		StartedAt: run.StartedAt, ClosedAt: run.ClosedAt, Trigger: trigger(run, r)}
	if b.RunURL != nil {
		w.TemporalURL = b.RunURL(run.HistoryID())
	}
	return w
}

// triggerKey is the audit key of the record that started run: the person's
// workflow writes employee.locked as <id>/locked:<request ID> and
// employee.terminated as <id>/terminated:<event ID or end-DATE>. A leaver's
// phase 2 is keyed <key>-delete; a retry's runs retry-<request ID>.
func triggerKey(employeeID string, run tenure.Run) string {
	key := strings.TrimSuffix(run.EventID, "-delete")
	if run.Type == runLock {
		return employeeID + "/locked:" + key
	}
	return employeeID + "/terminated:" + key
}

func trigger(run tenure.Run, r record) Trigger {
	key := strings.TrimSuffix(run.EventID, "-delete")
	if id, ok := strings.CutPrefix(key, "retry-"); ok {
		return Trigger{Kind: TriggerRetry, ID: id}
	}
	t := Trigger{Kind: TriggerHREvent, ID: key}
	switch _, isEvent := r.events[key]; {
	case run.Type == runLock:
		t.Kind = TriggerLock
	case !isEvent && strings.HasPrefix(key, "end-"):
		t.Kind, t.ID = TriggerEndDate, strings.TrimPrefix(key, "end-")
	}
	if rec, ok := r.audit[triggerKey(run.EmployeeID, run)]; ok {
		at := rec.At
		t.Actor, t.At = rec.Actor, &at
	}
	return t
}

// apps describes every app the person has an account row in: the account
// as last read back, as the leaving's first step found it, and the runs and
// audit records of the leaving that acted on it.
func apps(r record, leaving map[string]Workflow) []App {
	out := make([]App, 0, len(r.accounts))
	for _, acct := range r.accounts {
		a := App{App: acct.App, AccountID: acct.AccountID, VerifiedAt: acct.VerifiedAt,
			After:     After{Status: acct.Status, Entitlements: orEmpty(acct.Entitlements), Error: acct.Error},
			Workflows: []Workflow{}, Audit: []tenure.AuditRecord{}}
		acted := map[string]bool{}
		for _, bf := range r.before { // oldest first: the first is what the leaving found
			if bf.App != acct.App || !isLeaving(leaving, bf.WorkflowID) {
				continue
			}
			acted[bf.WorkflowID] = true
			if a.Before == nil {
				a.Before = &Before{Status: bf.Status, Entitlements: orEmpty(bf.Entitlements),
					EntitlementsVerifiedAt: bf.EntitlementsVerifiedAt, ReadAt: bf.ReadAt,
					WorkflowID: bf.WorkflowID, Operation: bf.Operation}
				a.UserName = bf.UserName
			}
		}
		for _, rec := range r.audit {
			if rec.App == acct.App && isLeaving(leaving, rec.WorkflowID) {
				a.Audit = append(a.Audit, rec)
				acted[rec.WorkflowID] = true
			}
		}
		sortAudit(a.Audit)
		for id := range acted {
			a.Workflows = append(a.Workflows, leaving[id])
		}
		slices.SortFunc(a.Workflows, func(x, y Workflow) int {
			return cmp.Or(x.StartedAt.Compare(y.StartedAt), strings.Compare(x.WorkflowID, y.WorkflowID))
		})
		out = append(out, a)
	}
	return out
}

func isLeaving(leaving map[string]Workflow, workflowID string) bool {
	_, ok := leaving[workflowID]
	return ok
}

// sortAudit puts records in the audit chain's order where they carry their
// position in it, and in time order where they do not.
func sortAudit(recs []tenure.AuditRecord) {
	slices.SortFunc(recs, func(x, y tenure.AuditRecord) int {
		if x.Seq > 0 && y.Seq > 0 {
			return cmp.Compare(x.Seq, y.Seq)
		}
		return cmp.Or(x.At.Compare(y.At), strings.Compare(x.Key, y.Key))
	})
}

func (b *Builder) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
