// Package guard is Tenure's blast-radius guard. It stands in front of every bulk
// path (events:batch, CSV imports, HR webhooks, Workday pulls, inbound SCIM,
// policy rollouts, reconciliation) and counts, per source and within a sliding
// window, the people whose access they would disable or revoke. When a source
// crosses the policy's threshold (the `guard:` block: by default more than 10
// people and more than 5% of the active people within an hour), the excess is
// held: nothing irreversible happens to them, IT is told at once, and an admin
// releases or discards the hold. A workflow-backed operation (a policy rollout, a
// reconciliation) is held whole instead, and its workflow waits for the decision.
//
// The guard never stands in front of one HR event sent on its own, nor the kill
// switch: a leaver never waits behind a guard that nobody tripped.
package guard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/policy"
)

// DecisionSignal is the signal a held workflow-backed operation's workflow
// waits on; it carries a Decision.
const DecisionSignal = "guard-decision"

// Decision is an admin's answer to a hold, as the held workflow receives it.
type Decision struct {
	HoldID  string `json:"hold_id"`
	Release bool   `json:"release"`
	Actor   string `json:"actor"`
}

// The sources of the bulk paths; each has its own window.
const (
	SourcePolicy    = "policy"
	SourceBatch     = "batch"
	SourceImport    = "import"
	SourceWorkday   = "workday"
	SourceSCIM      = "scim"
	SourceReconcile = "reconcile"
)

// WebhookSource is the source of an HR system's webhooks, such as
// "webhook:bamboohr".
func WebhookSource(system string) string { return "webhook:" + system }

// Request is one operation that would disable or revoke access for People.
type Request struct {
	// Source is the bulk path: "policy", "batch", "import", "webhook:<source>",
	// "workday", "scim" or "reconcile". Each has its own window.
	Source string
	// Operation names the operation: a rollout, batch, import or
	// reconciliation ID.
	Operation string
	// People are the employee IDs whose access it would disable or revoke.
	People []string
	Actor  string
	// WorkflowID is set for a workflow-backed operation, which is held whole.
	WorkflowID string
}

// Verdict is what the guard decided about a Request.
type Verdict struct {
	Held   bool
	HoldID string
	Reason string
	// HeldPeople are the people held: every one of the request's for a
	// workflow-backed operation held whole, else those over the threshold (and
	// any whose earlier HR events a hold already keeps).
	HeldPeople []string
}

// Store is what the guard needs of the read model.
type Store interface {
	tenure.GuardStore
	tenure.EventStore
	tenure.AuditStore
	// ListEmployees counts the active people, whose share the threshold is.
	ListEmployees(ctx context.Context, f tenure.EmployeeFilter) ([]tenure.Employee, int, error)
}

// Signaler hands an admin's decision to a held operation's workflow;
// *workflows.Engine is one. A workflow that has closed is not an error:
// nothing waits for the decision any more.
type Signaler interface {
	SignalGuardDecision(ctx context.Context, workflowID string, d Decision) error
}

// Config holds the guard's dependencies.
type Config struct {
	Store Store
	// Engine takes the events of a released hold, through intake, as it takes
	// any HR event.
	Engine tenure.Engine
	// Policy is the policy in force: it sets the threshold (its guard: block)
	// and says what a change of an HR record takes away. Nil, or no policy
	// deployed yet, means the default threshold, and then only terminations
	// are counted.
	Policy Policies
	// Signaler signals held workflow-backed operations; nil makes releasing or
	// discarding one fail (503) rather than leave its workflow waiting.
	Signaler Signaler
	// Notifier tells IT of a new hold; nil logs it.
	Notifier tenure.HoldNotifier
	// Publisher sends the guard.held outbound event; nil sends none.
	Publisher tenure.Publisher
	// HoldsURL is the console's page of holds, for the notice; "" leaves it out.
	HoldsURL string
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Policies gives the policy in force, asked at each decision so that a
// deployed policy's guard: block holds at once; rollout.Service is one.
type Policies interface {
	ActivePolicy(ctx context.Context) (*policy.Policy, error)
}

// StaticPolicy is one policy for good (nil for none), for tests.
type StaticPolicy struct{ Policy *policy.Policy }

// ActivePolicy returns the policy.
func (s StaticPolicy) ActivePolicy(context.Context) (*policy.Policy, error) { return s.Policy, nil }

// active is the policy in force, or nil when there is none.
func (g *Guard) active(ctx context.Context) (*policy.Policy, error) {
	if g.policy == nil {
		return nil, nil
	}
	pol, err := g.policy.ActivePolicy(ctx)
	if tenure.ErrorCode(err) == tenure.ENOTFOUND {
		return nil, nil
	}
	return pol, tenure.Unavailable("the policy", err)
}

// Guard decides, records and alerts. It is safe for concurrent use, and
// several processes may share its store: the windows and holds live there.
type Guard struct {
	store    Store
	intake   *intake.Intake
	policy   Policies
	signaler Signaler
	notifier tenure.HoldNotifier
	pub      tenure.Publisher
	holdsURL string
	log      *slog.Logger
	now      func() time.Time
}

// New returns a guard; Store and Engine are required.
func New(cfg Config) (*Guard, error) {
	if cfg.Store == nil || cfg.Engine == nil {
		return nil, errors.New("guard: Config needs Store and Engine")
	}
	g := &Guard{store: cfg.Store, policy: cfg.Policy, signaler: cfg.Signaler, notifier: cfg.Notifier,
		pub: cfg.Publisher, holdsURL: cfg.HoldsURL, log: cfg.Logger, now: cfg.Now}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.intake = &intake.Intake{Store: cfg.Store, Engine: cfg.Engine, Now: g.now}
	return g, nil
}

// Actor is who the guard's own audit records name.
const Actor = "tenure-guard"

// Preview says what Check would decide now, writing nothing: for plans.
func (g *Guard) Preview(ctx context.Context, r Request) (Verdict, error) {
	people, err := r.check()
	if err != nil || len(people) == 0 {
		return Verdict{}, err
	}
	th, err := g.threshold(ctx)
	if err != nil {
		return Verdict{}, err
	}
	st, err := g.store.PeekGuard(ctx, g.query(r.Source, people, th))
	if err != nil {
		return Verdict{}, tenure.Unavailable("the store", err)
	}
	d := decide(st, th, r, people, nil, "")
	return d.verdict(), nil
}

// Check counts the people into the source's window. Those within the threshold
// go on; when it is crossed, the excess (or a workflow-backed operation, whole)
// is held, and IT is alerted.
func (g *Guard) Check(ctx context.Context, r Request) (Verdict, error) {
	people, err := r.check()
	if err != nil || len(people) == 0 {
		return Verdict{}, err
	}
	d, _, err := g.guard(ctx, r, people, people, nil)
	if err != nil {
		return Verdict{}, err
	}
	return d, nil
}

// check validates r and returns its people, each once, in order.
func (r Request) check() ([]string, error) {
	var fe []tenure.FieldError
	if strings.TrimSpace(r.Source) == "" {
		fe = append(fe, tenure.FieldError{Field: "source", Problem: "is required"})
	}
	if strings.TrimSpace(r.Operation) == "" {
		fe = append(fe, tenure.FieldError{Field: "operation", Problem: "is required"})
	}
	if fe != nil {
		return nil, tenure.Invalid(fe...)
	}
	return uniq(r.People), nil
}

// threshold is the policy's guard settings with today's count of active people.
type threshold struct {
	policy.GuardSettings
	active, limit int
}

func (g *Guard) threshold(ctx context.Context) (threshold, error) {
	_, active, err := g.store.ListEmployees(ctx, tenure.EmployeeFilter{Status: tenure.PersonActive, Limit: 1})
	if err != nil {
		return threshold{}, tenure.Unavailable("the store", err)
	}
	pol, err := g.active(ctx)
	if err != nil {
		return threshold{}, err
	}
	s := pol.Guard()
	return threshold{GuardSettings: s, active: active, limit: s.Limit(active)}, nil
}

func (g *Guard) query(source string, people []string, th threshold) tenure.GuardQuery {
	now := g.now().UTC()
	return tenure.GuardQuery{Source: source, Since: now.Add(-th.Window), At: now, People: people}
}

// guard records an operation against its source's window, in one transaction
// of the store, and alerts IT of a new hold. disabling are the people whose
// access it would take away; concerned are those and everyone whose events it
// carries; events are its HR events.
func (g *Guard) guard(ctx context.Context, r Request, disabling, concerned []string, events []tenure.EventRecord) (Verdict, tenure.GuardResult, error) {
	th, err := g.threshold(ctx)
	if err != nil {
		return Verdict{}, tenure.GuardResult{}, err
	}
	var d plan
	newID := newHoldID()
	res, err := g.store.Guard(ctx, g.query(r.Source, concerned, th), func(st tenure.GuardState) (tenure.GuardWrite, error) {
		d = decide(st, th, r, disabling, events, newID)
		return d.write, nil
	})
	if err != nil {
		return Verdict{}, tenure.GuardResult{}, tenure.Unavailable("the store", err)
	}
	v := d.verdict()
	if v.Held {
		g.held(ctx, r, d, v)
	}
	return v, res, nil
}

// held audits what a Check held and, for a new hold, alerts IT in Slack (or the
// log) and subscribers with guard.held. The hold is already durable: a notice
// that fails is logged, and the console shows the hold whatever happens.
func (g *Guard) held(ctx context.Context, r Request, d plan, v Verdict) {
	g.log.WarnContext(ctx, "the blast-radius guard held an operation", "hold_id", v.HoldID, "source", r.Source,
		"operation", r.Operation, "people", len(v.HeldPeople), "new_hold", d.created)
	g.audit(ctx, tenure.AuditRecord{
		Key:   "guard/" + v.HoldID + "/held/" + r.Source + "/" + r.Operation,
		Actor: Actor, Action: "guard.held", WorkflowID: r.WorkflowID,
		Detail: fmt.Sprintf("%s %s (by %s): %d people held in hold %s. %s", r.Source, r.Operation, r.Actor, len(v.HeldPeople), v.HoldID, v.Reason),
	})
	if !d.created {
		return
	}
	h, err := g.store.GetHold(ctx, v.HoldID)
	if err != nil {
		g.log.ErrorContext(ctx, "reading a new hold to alert IT", "hold_id", v.HoldID, "error", err)
		return
	}
	if err := g.notify().GuardHeld(ctx, tenure.HoldNotice{Hold: h, URL: g.holdsURL}); err != nil {
		g.log.ErrorContext(ctx, "telling IT about a hold", "hold_id", h.ID, "error", err)
	}
	if g.pub == nil {
		return
	}
	data, err := json.Marshal(heldEvent{HoldID: h.ID, Source: h.Source, Operation: h.Operation, Actor: h.Actor,
		WorkflowID: h.WorkflowID, People: h.People, Events: h.Events, Reason: h.Reason, URL: g.holdsURL})
	if err == nil {
		sum := sha256.Sum256([]byte(tenure.EventGuardHeld + "\x00" + h.ID))
		err = g.pub.Publish(ctx, tenure.OutboundEvent{ID: "evt_" + hex.EncodeToString(sum[:12]), Type: tenure.EventGuardHeld,
			At: h.CreatedAt, Data: data})
	}
	if err != nil {
		g.log.ErrorContext(ctx, "publishing guard.held", "hold_id", h.ID, "error", err)
	}
}

// heldEvent is the data of a guard.held outbound event: counts and names, no
// one's personal data.
type heldEvent struct {
	HoldID     string `json:"hold_id"`
	Source     string `json:"source"`
	Operation  string `json:"operation"`
	Actor      string `json:"actor"`
	WorkflowID string `json:"workflow_id,omitempty"`
	People     int    `json:"people"`
	Events     int    `json:"events"`
	Reason     string `json:"reason"`
	URL        string `json:"url,omitempty"`
}

func (g *Guard) notify() tenure.HoldNotifier {
	if g.notifier != nil {
		return g.notifier
	}
	return logNotifier{g.log}
}

// logNotifier is the notice when nothing else is configured: a log line IT's
// alerting can match ("the guard held"), as the other notices are logged.
type logNotifier struct{ log *slog.Logger }

func (l logNotifier) GuardHeld(ctx context.Context, n tenure.HoldNotice) error {
	l.log.WarnContext(ctx, "no notifier configured; would have sent: the guard held", "hold_id", n.Hold.ID,
		"source", n.Hold.Source, "operation", n.Hold.Operation, "people", n.Hold.People, "reason", n.Hold.Reason)
	return nil
}

// audit appends r; the guard's decisions stand without it, so a failure is logged.
func (g *Guard) audit(ctx context.Context, r tenure.AuditRecord) {
	if r.At.IsZero() {
		r.At = g.now().UTC()
	}
	if err := g.store.AppendAudit(ctx, r); err != nil {
		g.log.ErrorContext(ctx, "auditing the guard", "key", r.Key, "error", err)
	}
}

// newHoldID is a new hold's ID: hold_ and 16 random hex digits.
func newHoldID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "hold_" + hex.EncodeToString(b)
}

// uniq keeps the first of each non-empty ID, in order.
func uniq(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
