package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

var ctx = context.Background()

// engine records the events handed to people's workflows.
type engine struct {
	mu      sync.Mutex
	submits []tenure.Event
	fail    error
}

func (e *engine) SubmitEvent(_ context.Context, ev tenure.Event) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return "", e.fail
	}
	e.submits = append(e.submits, ev)
	return tenure.WorkflowID(ev.Employee.ID), nil
}
func (e *engine) Lock(context.Context, string, string, string) (string, error)   { return "", nil }
func (e *engine) Unlock(context.Context, string, string, string) (string, error) { return "", nil }
func (e *engine) Decide(context.Context, tenure.Approval, tenure.Decision) (tenure.ApprovalStatus, error) {
	return "", nil
}
func (e *engine) Retry(context.Context, string, string, string, string) (string, error) {
	return "", nil
}
func (e *engine) Reconverge(context.Context, string, string, string) (string, error) {
	return "", nil
}
func (e *engine) Ready(context.Context) error { return nil }
func (e *engine) RunURL(string) string        { return "" }
func (e *engine) submitted() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for _, ev := range e.submits {
		ids = append(ids, ev.ID)
	}
	return ids
}

// signals records the decisions held workflows were sent.
type signals struct {
	mu   sync.Mutex
	sent map[string][]guard.Decision
}

func (s *signals) SignalGuardDecision(_ context.Context, workflowID string, d guard.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[string][]guard.Decision{}
	}
	s.sent[workflowID] = append(s.sent[workflowID], d)
	return nil
}

// notices records what IT was told, and what subscribers were sent.
type notices struct {
	mu        sync.Mutex
	held      []tenure.HoldNotice
	published []tenure.OutboundEvent
}

func (n *notices) GuardHeld(_ context.Context, h tenure.HoldNotice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.held = append(n.held, h)
	return nil
}

func (n *notices) Publish(_ context.Context, evs ...tenure.OutboundEvent) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.published = append(n.published, evs...)
	return nil
}

type fixture struct {
	t       *testing.T
	db      *store.DB
	g       *guard.Guard
	engine  *engine
	signals *signals
	notices *notices
	now     time.Time
}

// newFixture is a guard on a real SQLite store with active people A000..A<n-1>.
func newFixture(t *testing.T, active int, pol *policy.Policy) *fixture {
	t.Helper()
	f := &fixture{t: t, db: storetest.SQLite(t), engine: &engine{}, signals: &signals{}, notices: &notices{},
		now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	for i := range active {
		p := person(fmt.Sprintf("A%03d", i), "Engineering")
		if err := f.db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonActive}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := guard.New(guard.Config{Store: f.db, Engine: f.engine, Policy: guard.StaticPolicy{Policy: pol}, Signaler: f.signals,
		Notifier: f.notices, Publisher: f.notices, HoldsURL: "http://tenure.test/holds", Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.g = g
	return f
}

func person(id, dept string) tenure.Person {
	return tenure.Person{ID: id, Email: strings.ToLower(id) + "@example.com", GivenName: "G", FamilyName: id, Department: dept}
}

func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

func (f *fixture) check(source string, people []string) guard.Verdict {
	f.t.Helper()
	v, err := f.g.Check(ctx, guard.Request{Source: source, Operation: "op-" + source, People: people, Actor: "ada"})
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// TestThresholdNeedsBothConditions: the default holds more than 10 people AND
// more than 5% of the active people.
func TestThresholdNeedsBothConditions(t *testing.T) {
	// 100 active: 5% is 5, so the 10 people are the binding limit.
	f := newFixture(t, 100, nil)
	if v := f.check("batch", ids("A", 0, 10)); v.Held {
		t.Fatalf("10 of 100 held: %+v", v)
	}
	v := f.check("batch", ids("A", 10, 11))
	if !v.Held || fmt.Sprint(v.HeldPeople) != "[A010]" || v.HoldID == "" {
		t.Fatalf("the 11th of 100 = %+v, want held", v)
	}
	if !strings.Contains(v.Reason, "at most 10 per 1h") || !strings.Contains(v.Reason, "5% of the 100 active people") {
		t.Errorf("reason %q does not give the threshold", v.Reason)
	}

	// 400 active: 5% is 20, so 15 people (more than 10) still go ahead.
	f = newFixture(t, 400, nil)
	if v := f.check("batch", ids("A", 0, 15)); v.Held {
		t.Fatalf("15 of 400 held: %+v", v)
	}
	if v := f.check("batch", ids("A", 15, 20)); v.Held {
		t.Fatalf("20 of 400 held: %+v", v)
	}
	v = f.check("batch", ids("A", 20, 23))
	if !v.Held || fmt.Sprint(v.HeldPeople) != "[A020 A021 A022]" {
		t.Fatalf("21 to 23 of 400 = %+v, want the 3 over 20 held", v)
	}
}

// TestEachSourceHasItsOwnWindow, and a person counts once per window.
func TestEachSourceHasItsOwnWindow(t *testing.T) {
	f := newFixture(t, 100, nil)
	if v := f.check("batch", ids("A", 0, 10)); v.Held {
		t.Fatalf("batch: %+v", v)
	}
	if v := f.check("webhook:generic", ids("A", 10, 20)); v.Held {
		t.Fatalf("a webhook's window was filled by a batch: %+v", v)
	}
	// The same 10 people again are no newcomers.
	if v := f.check("batch", ids("A", 0, 10)); v.Held {
		t.Fatalf("the same people twice: %+v", v)
	}
	if v := f.check("batch", ids("A", 30, 31)); !v.Held {
		t.Fatalf("an 11th person in the batch window went ahead")
	}
}

// TestTheWindowSlides: people leave the window an hour after they were counted.
func TestTheWindowSlides(t *testing.T) {
	f := newFixture(t, 100, nil)
	f.check("scim", ids("A", 0, 5))
	f.now = f.now.Add(30 * time.Minute)
	f.check("scim", ids("A", 5, 10))
	f.now = f.now.Add(29 * time.Minute)
	if v := f.check("scim", ids("A", 10, 11)); !v.Held {
		t.Fatal("59 minutes in, an 11th person went ahead")
	}
	// 61 minutes after the first five: they have left, and five places are free.
	f.now = f.now.Add(2 * time.Minute)
	v := f.check("scim", ids("A", 11, 17))
	if !v.Held || fmt.Sprint(v.HeldPeople) != "[A016]" {
		t.Fatalf("61 minutes in = %+v, want 5 ahead and A016 held", v)
	}
}

// TestPolicySetsTheThreshold: the guard: block replaces the defaults.
func TestPolicySetsTheThreshold(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte("version: 1\nguard: {people: 3, percent: 0, window: 10m}\n"), []integrations.Spec{scim.Spec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 10, pol)
	if v := f.check("batch", ids("A", 0, 4)); !v.Held || fmt.Sprint(v.HeldPeople) != "[A003]" {
		t.Fatalf("4 with people: 3 = %+v", v)
	}
	f.now = f.now.Add(11 * time.Minute)
	if v := f.check("batch", ids("A", 4, 7)); v.Held {
		t.Fatalf("after the 10m window: %+v", v)
	}
}

// TestWorkflowBackedOperationIsHeldWhole, alerts IT, and its workflow gets the
// decision as a signal.
func TestWorkflowBackedOperationIsHeldWhole(t *testing.T) {
	f := newFixture(t, 100, nil)
	r := guard.Request{Source: "policy", Operation: "rollout-1", People: ids("A", 0, 30), Actor: "ada", WorkflowID: "rollout/rollout-1"}
	pv, err := f.g.Preview(ctx, r)
	if err != nil || !pv.Held || pv.HoldID != "" || len(pv.HeldPeople) != 30 {
		t.Fatalf("preview = %+v, %v; want held whole, no hold yet", pv, err)
	}
	if holds, _ := f.db.ListHolds(ctx, tenure.HoldFilter{}); len(holds) != 0 {
		t.Fatalf("the preview wrote holds: %+v", holds)
	}
	v, err := f.g.Check(ctx, r)
	if err != nil || !v.Held || len(v.HeldPeople) != 30 || v.HoldID == "" || !strings.Contains(v.Reason, "held whole") {
		t.Fatalf("check = %+v, %v", v, err)
	}
	// Nothing entered the window: a batch may still take its 10.
	if v := f.check("policy", ids("A", 40, 50)); v.Held {
		t.Fatalf("the held rollout took places in the window: %+v", v)
	}
	h, err := f.db.GetHold(ctx, v.HoldID)
	if err != nil || h.WorkflowID != "rollout/rollout-1" || h.People != 30 || h.Source != "policy" {
		t.Fatalf("hold = %+v, %v", h, err)
	}
	if len(f.notices.held) != 1 || f.notices.held[0].Hold.ID != h.ID || f.notices.held[0].URL != "http://tenure.test/holds" {
		t.Fatalf("IT was told %+v", f.notices.held)
	}
	if len(f.notices.published) != 1 || f.notices.published[0].Type != tenure.EventGuardHeld {
		t.Fatalf("published %+v", f.notices.published)
	}
	var data map[string]any
	json.Unmarshal(f.notices.published[0].Data, &data)
	if data["hold_id"] != h.ID || data["people"] != float64(30) || strings.Contains(string(f.notices.published[0].Data), "A001") {
		t.Fatalf("guard.held data = %s", f.notices.published[0].Data)
	}

	released, err := f.g.Release(ctx, h.ID, "ada", "planned swap")
	if err != nil || released.Status != tenure.HoldReleased {
		t.Fatalf("release = %+v, %v", released, err)
	}
	if got := f.signals.sent["rollout/rollout-1"]; len(got) != 1 || got[0] != (guard.Decision{HoldID: h.ID, Release: true, Actor: "ada"}) {
		t.Fatalf("signals = %+v", f.signals.sent)
	}
	// A second small rollout is not held; a big one held and discarded signals Release=false.
	v, _ = f.g.Check(ctx, guard.Request{Source: "reconcile", Operation: "rec-1", People: ids("A", 0, 20), WorkflowID: "reconcile/rec-1"})
	if _, err := f.g.Discard(ctx, v.HoldID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if got := f.signals.sent["reconcile/rec-1"]; len(got) != 1 || got[0].Release || got[0].Actor != "bob" {
		t.Fatalf("signals = %+v", f.signals.sent)
	}
	wantAudit(t, f.db, "guard.released", "ada", "planned swap")
	wantAudit(t, f.db, "guard.discarded", "bob", "reconcile rec-1")
}

func wantAudit(t *testing.T, db *store.DB, action, actor, detail string) {
	t.Helper()
	recs, err := db.ListAudit(ctx, tenure.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Actor == actor && strings.Contains(r.Detail, detail) {
			return
		}
	}
	t.Fatalf("no %s audit record by %s mentioning %q in %+v", action, actor, detail, recs)
}

func terminate(id string) tenure.Event {
	return tenure.Event{ID: "term-" + id, Type: tenure.EventTerminate, Employee: person(id, "Engineering")}
}

// TestEventsHoldTheExcessAndReleaseHandsThemOn: a bulk of terminations goes
// ahead up to the threshold; the rest are held, recorded, not handed on, and
// anything later for the same people waits behind them. Release hands them on
// in order; intake never dispatches a held event on its own.
func TestEventsHoldTheExcessAndReleaseHandsThemOn(t *testing.T) {
	f := newFixture(t, 100, nil)
	in := &intake.Intake{Store: f.db, Engine: f.engine}
	var events []tenure.Event
	for _, id := range ids("A", 0, 15) {
		events = append(events, terminate(id))
	}
	// Hires count nobody.
	events = append(events, tenure.Event{ID: "hire-N1", Type: tenure.EventHire, Employee: person("N001", "Sales")})
	v, err := f.g.Events(ctx, guard.Bulk{Source: "batch", Operation: "b1", Actor: "hr"}, events)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for i, h := range v.HoldOf {
		if h != "" {
			if h != v.HoldID {
				t.Fatalf("event %d in hold %s, want %s", i, h, v.HoldID)
			}
			held = append(held, events[i].ID)
			continue
		}
		if _, err := in.Accept(ctx, events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(held) != "[term-A010 term-A011 term-A012 term-A013 term-A014]" || !v.Held {
		t.Fatalf("held %v (%+v), want the last 5 terminations", held, v.Verdict)
	}
	if n := len(f.engine.submitted()); n != 11 {
		t.Fatalf("%d events handed on, want 10 terminations and the hire", n)
	}
	// Sent again, a held event stays held: intake says so and hands nothing on.
	acc, err := in.Accept(ctx, terminate("A012"))
	if err != nil || !acc.Held {
		t.Fatalf("re-sent held event: %+v, %v", acc, err)
	}
	if rec, _ := f.db.GetEvent(ctx, "term-A012"); rec.Status != tenure.EventHeld {
		t.Fatalf("term-A012 is %s", rec.Status)
	}
	// A later update for a held person waits behind their termination, though
	// it takes nothing away; one for someone else goes ahead.
	later := []tenure.Event{
		{ID: "upd-A013", Type: tenure.EventUpdate, Employee: person("A013", "Sales")},
		{ID: "upd-A050", Type: tenure.EventUpdate, Employee: person("A050", "Sales")},
	}
	v2, err := f.g.Events(ctx, guard.Bulk{Source: "webhook:generic", Operation: "d1", Actor: "hr-webhook:generic"}, later)
	if err != nil {
		t.Fatal(err)
	}
	if v2.HoldOf[0] != v.HoldID || v2.HoldOf[1] != "" {
		t.Fatalf("later holds = %v, want upd-A013 in %s", v2.HoldOf, v.HoldID)
	}
	h, _ := f.db.GetHold(ctx, v.HoldID)
	if h.People != 5 || h.Events != 6 || h.Pending != 6 {
		t.Fatalf("hold = %+v, want 5 people and 6 events", h)
	}
	// IT heard once, for the one hold.
	if len(f.notices.held) != 1 {
		t.Fatalf("%d notices, want 1", len(f.notices.held))
	}

	before := len(f.engine.submitted())
	f.engine.fail = fmt.Errorf("temporal is down")
	if _, err := f.g.Release(ctx, h.ID, "ada", ""); tenure.ErrorCode(err) != tenure.EUNAVAILABLE {
		t.Fatalf("release while Temporal is down = %v, want unavailable", err)
	}
	f.engine.fail = nil
	h, err = f.g.Release(ctx, h.ID, "ada", "")
	if err != nil || h.Pending != 0 || h.Status != tenure.HoldReleased {
		t.Fatalf("release = %+v, %v", h, err)
	}
	got := f.engine.submitted()[before:]
	if len(got) != 6 || slices.Index(got, "term-A013") > slices.Index(got, "upd-A013") {
		t.Fatalf("released %v, want all 6 with A013's termination before its update", got)
	}
	for _, id := range got {
		if rec, _ := f.db.GetEvent(ctx, id); rec.Status != tenure.EventDispatched {
			t.Fatalf("%s is %s after the release", id, rec.Status)
		}
	}
	if _, err := f.g.Discard(ctx, h.ID, "bob", ""); tenure.ErrorCode(err) != tenure.ECONFLICT {
		t.Fatalf("discard after release = %v, want conflict", err)
	}
}

// TestDiscardDropsTheEvents: a discarded hold's events are never run, even when
// their sender tries again.
func TestDiscardDropsTheEvents(t *testing.T) {
	f := newFixture(t, 100, nil)
	in := &intake.Intake{Store: f.db, Engine: f.engine}
	var events []tenure.Event
	for _, id := range ids("A", 0, 12) {
		events = append(events, terminate(id))
	}
	v, err := f.g.Events(ctx, guard.Bulk{Source: "import", Operation: "people.csv", Actor: "hr"}, events)
	if err != nil || !v.Held {
		t.Fatalf("%+v, %v", v, err)
	}
	h, err := f.g.Discard(ctx, v.HoldID, "ada", "a broken HR filter")
	if err != nil || h.Status != tenure.HoldDiscarded || h.Pending != 0 {
		t.Fatalf("discard = %+v, %v", h, err)
	}
	rec, _ := f.db.GetEvent(ctx, "term-A011")
	if rec.Status != tenure.EventDiscarded || !strings.Contains(rec.Note, "discarded by ada") {
		t.Fatalf("term-A011 = %+v", rec)
	}
	acc, err := in.Accept(ctx, terminate("A011"))
	if err != nil || !acc.Duplicate || len(f.engine.submitted()) != 0 {
		t.Fatalf("re-sent discarded event: %+v, %v; submitted %v", acc, err, f.engine.submitted())
	}
	wantAudit(t, f.db, "guard.discarded", "ada", "a broken HR filter")
	wantAudit(t, f.db, "guard.held", guard.Actor, "import people.csv")
}

// TestCountedFollowsThePolicy: a change counts when the policy takes something
// away; a termination of someone employed counts, scheduled or not; one of
// someone unknown, or sent before, does not.
func TestCountedFollowsThePolicy(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte(`version: 1
apps:
  - {name: github, connector: scim, sandbox: true}
  - {name: google, connector: scim, sandbox: true}
rules:
  - name: everyone
    match: {}
    grant: [{app: google}]
  - name: eng
    match: {department: Engineering}
    grant: [{app: github, entitlements: [engineering]}]
`), []integrations.Spec{scim.Spec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 5, pol)
	if _, _, err := f.db.CreateEvent(ctx, intake.Record(terminate("A004"), f.now)); err != nil {
		t.Fatal(err)
	}
	later := f.now.Add(72 * time.Hour)
	events := []tenure.Event{
		{ID: "u0", Type: tenure.EventUpdate, Employee: person("A000", "Sales")},       // loses github
		{ID: "u1", Type: tenure.EventUpdate, Employee: person("A001", "Engineering")}, // loses nothing
		{ID: "t2", Type: tenure.EventTerminate, EffectiveAt: &later, Employee: person("A002", "Engineering")},
		terminate("Z999"), // unknown
		terminate("A004"), // received before
		{ID: "h5", Type: tenure.EventHire, Employee: person("N005", "Engineering")},
		{ID: "t5", Type: tenure.EventTerminate, Employee: person("N005", "Engineering")}, // hired just before
	}
	got, err := f.g.Counted(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[A000 A002 N005]" {
		t.Fatalf("counted %v, want A000 (loses github), A002 (scheduled) and N005", got)
	}
	// Without a policy, only terminations of people employed count.
	g, _ := guard.New(guard.Config{Store: f.db, Engine: f.engine, Now: func() time.Time { return f.now }})
	got, err = g.Counted(ctx, events)
	if err != nil || fmt.Sprint(got) != "[A002 N005]" {
		t.Fatalf("counted without a policy %v, %v", got, err)
	}
}

// TestCheckRefusesABadRequest names the fields.
func TestCheckRefusesABadRequest(t *testing.T) {
	f := newFixture(t, 1, nil)
	_, err := f.g.Check(ctx, guard.Request{People: []string{"A000"}})
	var te *tenure.Error
	if !errors.As(err, &te) || te.Code != tenure.EINVALID || fmt.Sprint(te.Fields) != "[{source is required} {operation is required}]" {
		t.Fatalf("err = %#v", err)
	}
	if v, err := f.g.Check(ctx, guard.Request{Source: "batch", Operation: "x"}); err != nil || v.Held {
		t.Fatalf("nobody: %+v, %v", v, err)
	}
}
