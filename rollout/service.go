package rollout

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/policy"
)

// Store is the read model as rollouts use it.
type Store interface {
	tenure.PolicyStore
	tenure.RolloutStore
	tenure.AccessReader
	tenure.AuditStore
}

// Config holds a Service's dependencies.
type Config struct {
	Store Store
	// Engine starts and cancels rollouts; nil refuses deploys (plans still work).
	Engine tenure.RolloutEngine
	// Guard decides whether a deploy may run at once, and decides a held one.
	Guard Guard
	// Parse checks a policy as the workers load it.
	Parse Parser
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service plans and deploys policy versions and follows their rollouts, for
// the API, the console and the commands that deploy a policy file at start.
type Service struct {
	store    Store
	engine   tenure.RolloutEngine
	guard    Guard
	parse    Parser
	now      func() time.Time
	versions *Versions
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Parse == nil || cfg.Guard == nil {
		return nil, errors.New("rollout: Store, Parse and Guard are required")
	}
	s := &Service{store: cfg.Store, engine: cfg.Engine, guard: cfg.Guard, parse: cfg.Parse, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.versions = NewVersions(cfg.Store, cfg.Parse)
	return s, nil
}

// PolicyFile is how errors name a policy sent to the API or the console.
const PolicyFile = "policy.yaml"

// ActiveVersion returns the version in force, with its text: ENOTFOUND before
// the first deploy.
func (s *Service) ActiveVersion(ctx context.Context) (tenure.PolicyVersion, error) {
	v, err := s.store.ActivePolicyVersion(ctx)
	return v, tenure.Unavailable("the store", err)
}

// ActivePolicy returns the policy in force: ENOTFOUND before the first deploy.
func (s *Service) ActivePolicy(ctx context.Context) (*policy.Policy, error) {
	_, pol, err := s.versions.Active(ctx)
	return pol, tenure.Unavailable("the store", err)
}

// Plan parses a policy and works out what deploying it would change, and what
// the guard would say; it writes nothing. A policy that does not parse is
// EINVALID, with each problem's line.
func (s *Service) Plan(ctx context.Context, data []byte, actor string) (Plan, error) {
	plan, err := s.plan(ctx, PolicyFile, data)
	if err != nil {
		return Plan{}, err
	}
	// As a deploy would: its rollout's workflow, held whole.
	v, err := s.guard.Preview(ctx, guard.Request{Source: guard.SourcePolicy, Operation: "plan " + short(plan.Version), People: plan.losers,
		Actor: actor, WorkflowID: tenure.RolloutWorkflowID("plan")})
	if err != nil {
		return Plan{}, tenure.Unavailable("the guard", err)
	}
	plan.Guard = GuardView{Held: v.Held, Reason: v.Reason}
	return plan, nil
}

func (s *Service) plan(ctx context.Context, file string, data []byte) (Plan, error) {
	pol, err := s.parse(file, data)
	if err != nil {
		return Plan{}, Invalid(err)
	}
	return compare(ctx, pol, s.store)
}

// Deployment is what a deploy answers: the version, its rollout, whether the
// rollout runs or is held, and the plan's counts.
type Deployment struct {
	Version   string               `json:"version"`
	RolloutID string               `json:"rollout_id"`
	Status    tenure.RolloutStatus `json:"status"`
	Summary   Summary              `json:"summary"`
	// Reason is why the guard held the rollout.
	Reason string `json:"reason,omitempty"`
	// Superseded are the rollouts that were still open when it was deployed:
	// each is canceled, and this one takes over.
	Superseded []string `json:"superseded,omitempty"`
	// Carried counts the people the superseded rollouts had not brought in
	// line and the plan does not list, whom this rollout re-evaluates too.
	Carried int `json:"carried,omitempty"`
}

// Deploy stores a policy as a version and starts its rollout: the version
// comes into force and every person the plan found is re-evaluated through
// their own workflow, or, when the guard holds the deploy, the rollout waits
// for a person to confirm it and nothing changes until then. The rollouts
// still open are superseded (see supersede): the version deployed last is the
// one that counts. source says how the policy came ("api", "console"). A
// policy that does not parse, or that drops an app people still have
// accounts in, is EINVALID and writes nothing.
func (s *Service) Deploy(ctx context.Context, data []byte, actor, source string) (Deployment, error) {
	return s.deploy(ctx, PolicyFile, data, actor, source, newID())
}

func (s *Service) deploy(ctx context.Context, file string, data []byte, actor, source, id string) (Deployment, error) {
	plan, err := s.plan(ctx, file, data)
	if err != nil {
		return Deployment{}, err
	}
	if s.engine == nil {
		return Deployment{}, tenure.Errorf(tenure.EUNAVAILABLE, "this process cannot deploy policies: it has no workflow engine")
	}
	now := s.now().UTC()
	verdict, err := s.guard.Check(ctx, guard.Request{Source: guard.SourcePolicy, Operation: id, People: plan.losers,
		Actor: actor, WorkflowID: tenure.RolloutWorkflowID(id)})
	if err != nil {
		return Deployment{}, tenure.Unavailable("the guard", err)
	}
	if _, err := s.store.SavePolicyVersion(ctx, tenure.PolicyVersion{Version: plan.Version, YAML: string(data), Author: actor, CreatedAt: now}); err != nil {
		return Deployment{}, tenure.Unavailable("the store", err)
	}
	created, err := s.createdAt(ctx, now)
	if err != nil {
		return Deployment{}, err
	}
	r := tenure.Rollout{ID: id, Version: plan.Version, Status: tenure.RolloutRunning, Actor: actor, Source: source,
		ByApp: plan.byApp, CreatedAt: created}
	if verdict.Held {
		r.Status, r.HoldID, r.Reason = tenure.RolloutHeld, verdict.HoldID, verdict.Reason
	}
	if err := s.store.CreateRollout(ctx, r, plan.people); err != nil {
		return Deployment{}, tenure.Unavailable("the store", err)
	}
	detail := fmt.Sprintf("version %s, rollout %s: %d people, %d gain, %d lose", short(plan.Version), id,
		len(plan.people), plan.Summary.Gain, plan.Summary.Lose)
	if verdict.Held {
		detail += "; held by the guard: " + verdict.Reason
	}
	if err := s.audit(ctx, id, "deployed", actor, detail); err != nil {
		return Deployment{}, err
	}
	superseded, carried, err := s.supersede(ctx, r, actor)
	if err != nil {
		_, _ = s.store.SetRolloutStatus(ctx, id, tenure.RolloutFailed, "the rollouts still open could not be superseded; deploy again", s.now())
		return Deployment{}, err
	}
	if err := s.engine.StartRollout(ctx, r); err != nil {
		_, _ = s.store.SetRolloutStatus(ctx, id, tenure.RolloutFailed, "the rollout could not start; deploy again", s.now())
		return Deployment{}, tenure.Unavailable("Temporal", err)
	}
	return Deployment{Version: plan.Version, RolloutID: id, Status: r.Status, Summary: plan.Summary, Reason: verdict.Reason,
		Superseded: superseded, Carried: carried}, nil
}

// supersede closes every rollout still open that was deployed before r, oldest
// first, each recorded as canceled, with a note naming r, and audited
// (policy.superseded). Otherwise two rollouts would re-evaluate people at
// once, and a held one could later be confirmed although a later version had
// been deployed since.
//
//   - A held one never runs: its guard hold is discarded.
//   - A running one re-evaluates nobody else (its people under way finish),
//     and everyone it has not brought in line yet is added to r. r's plan
//     already covers the people it never reached, since it compares with the
//     access recorded; but the people under way may still get the old
//     version's access recorded after that plan read theirs, and only a
//     re-evaluation under the version in force brings them in line.
//
// It returns the rollouts superseded and how many people it added to r.
func (s *Service) supersede(ctx context.Context, r tenure.Rollout, actor string) ([]string, int, error) {
	open, err := s.store.OpenRollouts(ctx)
	if err != nil {
		return nil, 0, tenure.Unavailable("the store", err)
	}
	var (
		ids     []string
		carried int
	)
	for _, old := range open {
		if !deployedBefore(old, r) {
			// r itself, or a deploy that came after it: that one supersedes r.
			continue
		}
		n, err := s.supersedeOne(ctx, old, r, actor)
		if err != nil {
			return ids, carried, err
		}
		ids = append(ids, old.ID)
		carried += n
	}
	return ids, carried, nil
}

// deployedBefore orders rollouts as every process sees them in the store: by
// the time they were created (as the store keeps it, to the microsecond), then
// by ID. Two deploys at once therefore agree on which supersedes the other;
// createdAt keeps one deploy after another in that order.
func deployedBefore(a, b tenure.Rollout) bool {
	at, bt := a.CreatedAt.Truncate(time.Microsecond), b.CreatedAt.Truncate(time.Microsecond)
	if !at.Equal(bt) {
		return at.Before(bt)
	}
	return a.ID < b.ID
}

// createdAt is when a new rollout is recorded as created: now, or a
// microsecond after the latest rollout when this process's clock does not
// run ahead of the one that created that (another API process's, a little
// ahead), so that a deploy made after another always comes after it.
func (s *Service) createdAt(ctx context.Context, now time.Time) (time.Time, error) {
	last, err := s.store.ListRollouts(ctx, "", 1)
	if err != nil {
		return now, tenure.Unavailable("the store", err)
	}
	if len(last) == 1 {
		if after := last[0].CreatedAt.Truncate(time.Microsecond).Add(time.Microsecond); now.Before(after) {
			return after, nil
		}
	}
	return now, nil
}

// supersedeOne closes one open rollout in favour of r, and returns how many of
// its people it added to r.
func (s *Service) supersedeOne(ctx context.Context, old, r tenure.Rollout, actor string) (int, error) {
	note := supersededNote(r)
	detail := fmt.Sprintf("rollout %s of version %s, %s, %s", old.ID, short(old.Version), old.Status, note)
	running := old.Status == tenure.RolloutRunning
	carried := 0
	if running {
		// Its people are added to r before it is recorded as closed, so that
		// a deploy after r that supersedes r finds them in r, or finds old
		// still open and takes them itself.
		n, err := s.carry(ctx, old.ID, r.ID)
		if err != nil {
			return 0, err
		}
		carried = n
	}
	// Recorded before its workflow hears of it: the workflow records its own
	// end only on a rollout still open, so this note stays; and a held one
	// whose hold is released meanwhile finds it closed, and never puts its
	// version in force.
	moved, err := s.store.SetRolloutStatus(ctx, old.ID, tenure.RolloutCanceled, note, s.now())
	if err != nil {
		return carried, tenure.Unavailable("the store", err)
	}
	if !moved {
		// It closed on its own meanwhile (completed, canceled, or another
		// deploy superseded it): there is nothing more to do.
		return carried, nil
	}
	if old.Status == tenure.RolloutHeld {
		h, err := s.guard.Discard(ctx, old.HoldID, actor, "rollout "+old.ID+" "+note)
		switch {
		case tenure.ErrorCode(err) == tenure.ECONFLICT:
			// Confirmed a moment ago: it may have put its version in force
			// before it was recorded closed. It is stopped as a running one.
			n, err := s.carry(ctx, old.ID, r.ID)
			if err != nil {
				return carried, err
			}
			carried, running = carried+n, true
			detail += ": its guard hold " + old.HoldID + " had just been released"
		case err != nil && h.Status != tenure.HoldDiscarded:
			return carried, tenure.Unavailable("the guard", err)
		case err != nil:
			detail += ": its guard hold " + old.HoldID + " is discarded, but its workflow could not be told: " + tenure.ErrorMessage(err)
		default:
			detail += ": its guard hold " + old.HoldID + " is discarded"
		}
	}
	if running {
		detail += fmt.Sprintf(": it stops, and rollout %s also re-evaluates the %d people it had not brought in line and its own plan does not list", r.ID, carried)
		if err := s.engine.CancelRollout(ctx, old.ID, actor); err != nil && tenure.ErrorCode(err) != tenure.ECONFLICT {
			// Should its workflow go on, it re-evaluates people under the
			// version in force, whom r re-evaluates too: nothing conflicts.
			detail += "; its workflow could not be told to stop: " + tenure.ErrorMessage(err)
		}
	}
	return carried, s.audit(ctx, old.ID, "superseded", actor, detail)
}

// supersededNote is the note of a rollout that the deploy of r superseded.
func supersededNote(r tenure.Rollout) string {
	return fmt.Sprintf("superseded by rollout %s (version %s)", r.ID, short(r.Version))
}

// carryPage is how many people carry reads and adds at a time.
const carryPage = 500

// carry adds each person still pending in rollout from to rollout to, and
// returns how many of them were new to it.
func (s *Service) carry(ctx context.Context, from, to string) (int, error) {
	added, after := 0, ""
	for {
		items, err := s.store.PendingRolloutItems(ctx, from, after, carryPage)
		if err != nil {
			return added, tenure.Unavailable("the store", err)
		}
		if len(items) == 0 {
			return added, nil
		}
		people := make([]tenure.RolloutItem, 0, len(items))
		for _, it := range items {
			// No apps: the plan of to changes nothing for them as recorded.
			people = append(people, tenure.RolloutItem{EmployeeID: it.EmployeeID})
		}
		n, err := s.store.AddRolloutItems(ctx, to, people)
		if err != nil {
			return added, tenure.Unavailable("the store", err)
		}
		added += n
		after = items[len(items)-1].EmployeeID
	}
}

// Rollout returns a rollout with its progress.
func (s *Service) Rollout(ctx context.Context, id string) (tenure.Rollout, error) {
	r, err := s.store.GetRollout(ctx, id)
	return r, tenure.Unavailable("the store", err)
}

// Rollouts returns the latest rollouts, newest first.
func (s *Service) Rollouts(ctx context.Context, limit int) ([]tenure.Rollout, error) {
	rs, err := s.store.ListRollouts(ctx, "", limit)
	return rs, tenure.Unavailable("the store", err)
}

// Confirm releases a rollout the guard held, as releasing its hold does
// (POST /api/v1/holds/{id}/release): the version comes into force and the
// rollout runs. Only a held rollout can be confirmed (ECONFLICT).
func (s *Service) Confirm(ctx context.Context, id, actor string) (tenure.Rollout, error) {
	r, err := s.Rollout(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Status != tenure.RolloutHeld {
		return r, notHeld(r)
	}
	if _, err := s.guard.Release(ctx, r.HoldID, actor, "rollout "+id+" confirmed"); err != nil {
		if tenure.ErrorCode(err) == tenure.ECONFLICT {
			// Discarded a moment ago: canceled, or superseded by a deploy.
			if now, gerr := s.Rollout(ctx, id); gerr == nil && now.Status != tenure.RolloutHeld {
				return now, notHeld(now)
			}
		}
		return r, tenure.Unavailable("the guard", err)
	}
	if err := s.audit(ctx, id, "confirmed", actor, fmt.Sprintf("rollout %s of version %s released from the guard's hold %s", id, short(r.Version), r.HoldID)); err != nil {
		return r, err
	}
	return r, nil
}

// notHeld is the conflict of confirming a rollout that is not held, with why
// it closed when it has (superseded by a later deploy, say).
func notHeld(r tenure.Rollout) error {
	if r.Note != "" && !r.Status.Open() {
		return tenure.Errorf(tenure.ECONFLICT, "rollout %s is %s (%s): only a held rollout can be confirmed", r.ID, r.Status, r.Note)
	}
	return tenure.Errorf(tenure.ECONFLICT, "rollout %s is %s: only a held rollout can be confirmed", r.ID, r.Status)
}

// Cancel stops an open rollout: a held one never runs (its hold is
// discarded), and a running one re-evaluates nobody else (the people under way
// finish). ECONFLICT when it has closed.
func (s *Service) Cancel(ctx context.Context, id, actor string) (tenure.Rollout, error) {
	r, err := s.Rollout(ctx, id)
	if err != nil {
		return r, err
	}
	if !r.Status.Open() {
		return r, tenure.Errorf(tenure.ECONFLICT, "rollout %s is %s already", id, r.Status)
	}
	if r.Status == tenure.RolloutHeld {
		if _, err := s.guard.Discard(ctx, r.HoldID, actor, "rollout "+id+" canceled"); err != nil {
			return r, tenure.Unavailable("the guard", err)
		}
	} else {
		if s.engine == nil {
			return r, tenure.Errorf(tenure.EUNAVAILABLE, "this process cannot cancel rollouts: it has no workflow engine")
		}
		if err := s.engine.CancelRollout(ctx, id, actor); err != nil {
			return r, tenure.Unavailable("Temporal", err)
		}
	}
	if _, err := s.store.SetRolloutStatus(ctx, id, tenure.RolloutCanceled, "canceled by "+actor, s.now()); err != nil {
		return r, tenure.Unavailable("the store", err)
	}
	if err := s.audit(ctx, id, "canceled", actor, fmt.Sprintf("rollout %s of version %s canceled while %s", id, short(r.Version), r.Status)); err != nil {
		return r, err
	}
	return s.Rollout(ctx, id)
}

// Outcome says what Bootstrap did.
type Outcome string

// The outcomes of Bootstrap.
const (
	// Activated: there was no version yet, and the file's came into force.
	Activated Outcome = "activated"
	// Unchanged: the file's version is the one in force.
	Unchanged Outcome = "unchanged"
	// Kept: the file has not changed since it was last deployed, and the
	// version in force was deployed since in another way (the API): a restart
	// with the old file does not undo that.
	Kept Outcome = "kept"
	// Deployed: the file differs; it was deployed, like any other deploy.
	Deployed Outcome = "deployed"
)

// Bootstrap deploys the policy file a process starts with (`tenure dev
// --policy`, TENURE_POLICY) when it differs from the version in force: the
// first version comes into force at once; a later one is deployed like any
// other, and its rollout may be held by the guard. Several processes starting
// with the same file deploy it once. file names it in errors, source in the
// rollouts.
func (s *Service) Bootstrap(ctx context.Context, file string, data []byte, actor, source string) (Outcome, Deployment, error) {
	pol, err := s.parse(file, data)
	if err != nil {
		return "", Deployment{}, err
	}
	hash := pol.Digest()
	active, err := s.store.ActivePolicyVersion(ctx)
	switch {
	case tenure.ErrorCode(err) == tenure.ENOTFOUND:
		return s.activateFirst(ctx, hash, data, actor, source)
	case err != nil:
		return "", Deployment{}, tenure.Unavailable("the store", err)
	case active.Version == hash:
		return Unchanged, Deployment{Version: hash}, nil
	}
	last, err := s.store.ListRollouts(ctx, source, 1)
	if err != nil {
		return "", Deployment{}, tenure.Unavailable("the store", err)
	}
	if len(last) == 1 && last[0].Version == hash {
		if last[0].Status.Open() {
			// Another process deployed it a moment ago.
			return Deployed, Deployment{Version: hash, RolloutID: last[0].ID, Status: last[0].Status, Reason: last[0].Reason}, nil
		}
		return Kept, Deployment{Version: active.Version, RolloutID: last[0].ID, Status: last[0].Status}, nil
	}
	// One ID per change of version, so that processes starting together
	// deploy it once.
	id := "startup-" + short(hash) + "-from-" + short(active.Version)
	d, err := s.deploy(ctx, file, data, actor, source, id)
	if tenure.ErrorCode(err) == tenure.ECONFLICT {
		r, gerr := s.Rollout(ctx, id)
		return Deployed, Deployment{Version: hash, RolloutID: id, Status: r.Status}, gerr
	}
	return Deployed, d, err
}

// activateFirst puts the first version in force at once: with no version
// before it, nobody's access was given by another one.
func (s *Service) activateFirst(ctx context.Context, hash string, data []byte, actor, source string) (Outcome, Deployment, error) {
	now := s.now().UTC()
	if _, err := s.store.SavePolicyVersion(ctx, tenure.PolicyVersion{Version: hash, YAML: string(data), Author: actor, CreatedAt: now}); err != nil {
		return "", Deployment{}, tenure.Unavailable("the store", err)
	}
	id := "initial-" + short(hash)
	r := tenure.Rollout{ID: id, Version: hash, Status: tenure.RolloutCompleted, Actor: actor, Source: source,
		Note: "the first version: in force at once", CreatedAt: now, ClosedAt: &now}
	if err := s.store.CreateRollout(ctx, r, nil); err != nil && tenure.ErrorCode(err) != tenure.ECONFLICT {
		return "", Deployment{}, tenure.Unavailable("the store", err)
	}
	if err := s.store.ActivatePolicyVersion(ctx, id, hash, actor, now); err != nil {
		return "", Deployment{}, tenure.Unavailable("the store", err)
	}
	if err := s.audit(ctx, id, "activated", actor, "version "+short(hash)+", the first, in force at once"); err != nil {
		return "", Deployment{}, err
	}
	return Activated, Deployment{Version: hash, RolloutID: id, Status: tenure.RolloutCompleted}, nil
}

// audit records what a person did to a rollout.
func (s *Service) audit(ctx context.Context, id, what, actor, detail string) error {
	err := s.store.AppendAudit(ctx, tenure.AuditRecord{Key: AuditKey(id, what), At: s.now().UTC(), Actor: actor,
		Action: "policy." + what, WorkflowID: tenure.RolloutWorkflowID(id), Detail: detail})
	return tenure.Unavailable("the store", err)
}

// AuditKey is the business key of one step of a rollout in the audit trail.
func AuditKey(rolloutID, what string) string { return "policy/rollout/" + rolloutID + "/" + what }

// newID returns a new rollout ID: lower case, so that it reads well in a URL.
func newID() string { return strings.ToLower(rand.Text()[:16]) }

// Invalid turns a policy's parse errors into one EINVALID error whose message
// is the first problem and whose fields are every problem, each with its line.
func Invalid(err error) error {
	var fields []tenure.FieldError
	first := ""
	var walk func(error)
	walk = func(err error) {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		var pe *policy.Error
		if errors.As(err, &pe) {
			field := "policy"
			if pe.Line > 0 {
				field = fmt.Sprintf("line %d", pe.Line)
			}
			fields = append(fields, tenure.FieldError{Field: field, Problem: pe.Reason})
			if first == "" {
				first = pe.Error()
			}
			return
		}
		fields = append(fields, tenure.FieldError{Field: "policy", Problem: tenure.ErrorMessage(err)})
		if first == "" {
			first = tenure.ErrorMessage(err)
		}
	}
	walk(err)
	msg := first
	if len(fields) > 1 {
		msg = fmt.Sprintf("%s (and %d more problems)", first, len(fields)-1)
	}
	return &tenure.Error{Code: tenure.EINVALID, Message: msg, Fields: fields}
}

// Parse checks a policy as the workers load it, writing nothing.
func (s *Service) Parse(file string, data []byte) (*policy.Policy, error) {
	return s.parse(file, data)
}
