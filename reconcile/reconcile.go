// Package reconcile decides what reconciliation finds in one app: which person
// each account the app lists belongs to, whether it is as the policy wants it,
// and which accounts the policy wants that the app does not have. The matching
// (Scan, Owner) is pure: the caller lists the app page by page and looks the
// people up (the reconcile activities in package activities), and a Scan keeps
// only what a listing needs to remember, the people it has seen, never the
// accounts. Starter is the one way the API and the console start a
// reconciliation or remediate a finding.
//
// The rules, for an app:
//   - an account whose user name matches one of the app's ignore patterns is
//     unmanaged, and left alone;
//   - an account belongs to the person whose HR ID is its externalId, or, when
//     no one's is, to the person whose work email is its userName (or, in an
//     app that names accounts otherwise, such as GitHub, whose record gives
//     that name), unless it carries another HR ID (a reused address is someone
//     else's account);
//   - an active account of nobody HR knows, or of someone terminated, is an
//     orphan;
//   - an account of someone the policy gives nothing in the app, or who is
//     locked, that is active is drift, and so is one whose active flag or
//     managed entitlements differ from what the policy gives (the managed
//     entitlements being, as provisioning has them, what the policy can grant
//     in the app and what Tenure granted the person there and has not
//     revoked: tenure.ManagedEntitlements);
//   - a disabled account of someone who should have it active, and no account
//     at all for someone the policy gives one, is missing.
package reconcile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/policy"
)

// Person is what a scan knows of someone: their HR record and status and,
// where the scan needs them (NeedsGrants), their grants in the app as the read
// model records them (grants in other apps are ignored).
type Person struct {
	tenure.Employee
	Grants []tenure.GrantRecord
}

// Desired is what the policy wants of one person in one app.
type Desired struct {
	// Account is whether they should have an account at all.
	Account bool
	// Active is whether it should be active: false before a start date and
	// while the person is locked.
	Active bool
	// Entitlements are the managed entitlements they should hold, sorted;
	// meaningful when Check is set.
	Entitlements []string
	// Check is whether the entitlements are checked: not while locked, when a
	// lock leaves them as they were.
	Check bool
	// Rules name the rules that give the account, for people to read.
	Rules []string
}

// Scan is one reconciliation of one app. Its methods are called from one
// goroutine: Account for each listed account, then Missing for each person
// the listing might lack; TakeSeen at each checkpoint, and Resume to carry on
// from the checkpoints of a scan that failed.
type Scan struct {
	run     string
	app     integrations.AppConfig
	policy  *policy.Policy
	managed []string
	// seen holds each person with an account in the app, and a hash of that
	// account's ID (to tell a second account from the same one listed twice,
	// as paging does when the app changes during the listing): the one thing a
	// listing keeps of its accounts, so it is kept small.
	seen map[string]uint32
	// fresh are the people added to seen since TakeSeen last ran.
	fresh []string
	// noGroups is set for an app whose listing shows no memberships.
	noGroups bool
	// Counts are what the scan has counted so far.
	Counts tenure.ReconcileCounts
}

// NewScan starts the scan of app, under policy p, for reconciliation run.
func NewScan(run string, p *policy.Policy, app string) (*Scan, error) {
	cfg, ok := p.App(app)
	if !ok {
		return nil, tenure.Errorf(tenure.EINVALID, "there is no app %q in the policy", app)
	}
	return &Scan{run: run, app: cfg, policy: p, managed: p.Managed(app), seen: map[string]uint32{}}, nil
}

// SkipEntitlements leaves entitlements out of the comparison, for an app
// whose listing shows no memberships (integrations.GrouplessLister): rather
// than read every account again, the scan compares accounts and their active
// flags only.
func (s *Scan) SkipEntitlements() { s.noGroups = true }

// NeedsGrants reports whether the owners passed to Account must carry their
// grants: wherever entitlements are compared, as what Tenure granted stays
// managed until it is revoked, and wherever some grant in the app waits for
// approval.
func (s *Scan) NeedsGrants() bool { return !s.noGroups || s.MissingNeedsGrants() }

// MissingNeedsGrants reports whether the people passed to Missing must carry
// their grants: only where some grant in the app waits for approval, as
// someone without an account holds nothing to revoke.
func (s *Scan) MissingNeedsGrants() bool { return s.policy.NeedsApproval(s.app.Name) }

// Managed is what Tenure manages in the app for p: every entitlement the
// policy can grant there, and every one p's grants say Tenure granted there
// and has not revoked (tenure.ManagedEntitlements, the rule provisioning
// goes by), sorted.
func (s *Scan) Managed(p Person) []string {
	var recorded map[string]tenure.AccessStatus
	for _, g := range p.Grants {
		if g.App != s.app.Name {
			continue
		}
		if recorded == nil {
			recorded = map[string]tenure.AccessStatus{}
		}
		recorded[g.Entitlement] = g.Status
	}
	return tenure.ManagedEntitlements(s.managed, recorded)
}

// Owner finds whose account a is among the people found by its externalId
// (byID) and by its userName (byUserName, keyed by the lower-cased user name:
// the work email, or for an app that names accounts otherwise, such as GitHub,
// the name the person's record gives). It returns nil for an account of nobody
// HR knows, and says why when a person was found by user name but the account
// carries another HR ID.
func Owner(a integrations.Account, byID, byUserName map[string]*Person) (*Person, string) {
	if a.ExternalID != "" {
		if p := byID[a.ExternalID]; p != nil {
			return p, ""
		}
	}
	p := byUserName[strings.ToLower(a.UserName)]
	if p == nil {
		return nil, ""
	}
	if a.ExternalID != "" && a.ExternalID != p.ID {
		// The address was reused: the account is someone else's, as the
		// connector activities never adopt or disable it for p either.
		return nil, fmt.Sprintf("its user name is %s's, but it carries HR ID %q", p.ID, a.ExternalID)
	}
	return p, ""
}

// Desire returns what the policy wants of p in the scan's app.
func (s *Scan) Desire(p Person) Desired {
	var d Desired
	if p.Status == tenure.PersonTerminated {
		return d
	}
	grants := s.policy.Evaluate(p.Person)
	for _, g := range grants {
		if g.App != s.app.Name || !granted(grants, p.Grants, g) {
			continue
		}
		d.Account = true
		if g.Entitlement != "" {
			d.Entitlements = append(d.Entitlements, g.Entitlement)
		}
		if g.Rule != "" && !slices.Contains(d.Rules, g.Rule) {
			d.Rules = append(d.Rules, g.Rule)
		}
	}
	slices.Sort(d.Entitlements)
	d.Active = p.Status == tenure.PersonActive
	d.Check = p.Status != tenure.PersonLocked && !s.noGroups
	return d
}

// granted mirrors the person's workflow (workflows.employee.granted): a grant
// without approval is given; one with approval only once approved, and an
// account grant also when an approved entitlement in the app implies it. The
// read model's grant row says approved: pending (approved, being applied),
// active or unverifiable.
func granted(plan []tenure.Grant, grants []tenure.GrantRecord, g tenure.Grant) bool {
	if g.Approval == "" || approved(grants, g) {
		return true
	}
	if g.Entitlement != "" {
		return false
	}
	for _, o := range plan {
		if o.App == g.App && o.Entitlement != "" && o.Approval != "" && approved(grants, o) {
			return true
		}
	}
	return false
}

func approved(grants []tenure.GrantRecord, g tenure.Grant) bool {
	for _, r := range grants {
		if r.App == g.App && r.Entitlement == g.Entitlement && r.Status.Granted() {
			return true
		}
	}
	return false
}

// Account classifies one listed account, owned by owner (nil for nobody HR
// knows; why, when Owner said), and counts it. It returns the finding and
// whether there is one. A finding about entitlements is checked again on the
// account as reread returns it, with the memberships of what Tenure manages
// for owner (Managed): an app may show memberships only on its groups, which
// a listing does not read. reread
// may be nil, to take the listing as it is.
func (s *Scan) Account(a integrations.Account, owner *Person, why string, reread func(id string, groups []string) (integrations.Account, error)) (tenure.Finding, bool, error) {
	s.Counts.Accounts++
	if pat, ok := policy.Ignored(s.app, a.UserName); ok {
		f := s.finding(a, "", tenure.FindingUnmanaged, tenure.RemediateNone, "matches the ignore pattern %q", pat)
		s.Counts.Count(f.Kind)
		return f, true, nil
	}
	if owner == nil {
		if !active(a) {
			return tenure.Finding{}, false, nil
		}
		remedy := tenure.RemediateReport
		if s.app.Orphans == policy.OrphansDisable {
			remedy = tenure.RemediateDisable
		}
		detail := "active, and nobody in HR has it"
		switch {
		case why != "":
			detail += ": " + why
		case a.ExternalID != "":
			detail += ": no one has its HR ID or its user name"
		default:
			detail += ": it carries no HR ID, and no one has its user name"
		}
		f := s.finding(a, "", tenure.FindingOrphan, remedy, "%s", detail)
		s.Counts.Count(f.Kind)
		return f, true, nil
	}
	s.Counts.Matched++
	h := fnv.New32a()
	h.Write([]byte(a.ID))
	id := h.Sum32()
	first, dup := s.seen[owner.ID]
	if dup && first != id {
		// Whichever of two accounts is the right one is for IT to say.
		if !active(a) {
			return tenure.Finding{}, false, nil
		}
		f := s.finding(a, owner.ID, tenure.FindingDrift, tenure.RemediateReport,
			"a second active account for %s, who has another in %s", owner.ID, s.app.Name)
		s.Counts.Count(f.Kind)
		return f, true, nil
	}
	if !dup {
		s.fresh = append(s.fresh, owner.ID)
	}
	s.seen[owner.ID] = id
	f, ok := s.classify(a, *owner)
	if ok && f.Kind == tenure.FindingDrift && reread != nil && s.aboutEntitlements(a, *owner) {
		fresh, err := reread(a.ID, s.Managed(*owner))
		if integrations.IsNotFound(err) {
			// Gone since the listing: nothing is left to be wrong with it.
			return tenure.Finding{}, false, nil
		}
		if err != nil {
			return tenure.Finding{}, false, err
		}
		f, ok = s.classify(fresh, *owner)
	}
	if ok {
		s.Counts.Count(f.Kind)
	}
	return f, ok, nil
}

// aboutEntitlements reports whether the account's only fault is its
// entitlements, which a reread may show otherwise.
func (s *Scan) aboutEntitlements(a integrations.Account, owner Person) bool {
	d := s.Desire(owner)
	return d.Account && d.Check && active(a) == d.Active
}

// classify says what is wrong with owner's account a, if anything.
func (s *Scan) classify(a integrations.Account, owner Person) (tenure.Finding, bool) {
	on := active(a)
	if owner.Status == tenure.PersonTerminated {
		if !on {
			return tenure.Finding{}, false
		}
		return s.finding(a, owner.ID, tenure.FindingOrphan, tenure.RemediateDisable,
			"active, but %s is terminated", owner.ID), true
	}
	d := s.Desire(owner)
	switch {
	case !d.Account && on:
		return s.finding(a, owner.ID, tenure.FindingDrift, tenure.RemediateDisable,
			"active, but the policy gives %s no account in %s", owner.ID, s.app.Name), true
	case !d.Account:
		return tenure.Finding{}, false
	case owner.Status == tenure.PersonLocked && on:
		return s.finding(a, owner.ID, tenure.FindingDrift, tenure.RemediateDisable,
			"active, but %s is locked", owner.ID), true
	case d.Active && !on:
		return s.finding(a, owner.ID, tenure.FindingMissing, tenure.RemediateResync,
			"disabled, but the policy gives %s an active account (rule %s)", owner.ID, strings.Join(d.Rules, ", ")), true
	case !d.Active && a.Active && owner.Status == tenure.PersonPending:
		return s.finding(a, owner.ID, tenure.FindingDrift, tenure.RemediateResync,
			"active before %s's start date (%s)", owner.ID, orNone(owner.StartDate)), true
	}
	if !d.Check {
		return tenure.Finding{}, false
	}
	lacking, extra := entitlements(a, d, s.Managed(owner))
	if len(lacking) == 0 && len(extra) == 0 {
		return tenure.Finding{}, false
	}
	var parts []string
	if len(lacking) > 0 {
		parts = append(parts, "lacks "+strings.Join(lacking, ", "))
	}
	// An extra entitlement the policy cannot grant in the app at all is
	// managed because Tenure granted it (a rename, a dropped rule).
	var given, left []string
	for _, g := range extra {
		if slices.Contains(s.managed, g) {
			given = append(given, g)
		} else {
			left = append(left, g)
		}
	}
	if len(given) > 0 {
		parts = append(parts, "has "+strings.Join(given, ", ")+", which the policy does not give "+owner.ID)
	}
	if len(left) > 0 {
		parts = append(parts, "has "+strings.Join(left, ", ")+", which Tenure granted "+owner.ID+" and the policy no longer gives")
	}
	return s.finding(a, owner.ID, tenure.FindingDrift, tenure.RemediateResync, "entitlements differ: %s", strings.Join(parts, "; ")), true
}

// entitlements compares the account's managed entitlements (managed, what
// Tenure manages in the app for its owner) with d's: those it lacks, and those
// it holds that it should not. A membership the app gives no way to read back
// is neither.
func entitlements(a integrations.Account, d Desired, managed []string) (lacking, extra []string) {
	for _, e := range d.Entitlements {
		if !slices.Contains(a.Groups, e) && !slices.Contains(a.Unverifiable, e) {
			lacking = append(lacking, e)
		}
	}
	for _, g := range a.Groups {
		if slices.Contains(managed, g) && !slices.Contains(d.Entitlements, g) {
			extra = append(extra, g)
		}
	}
	slices.Sort(extra)
	return lacking, slices.Compact(extra)
}

// Missing classifies p after the listing: someone the policy gives an account
// in the app, which the listing did not show, is missing one.
func (s *Scan) Missing(p Person) (tenure.Finding, bool) {
	if _, ok := s.seen[p.ID]; ok {
		return tenure.Finding{}, false
	}
	if p.Status != tenure.PersonActive && p.Status != tenure.PersonPending {
		return tenure.Finding{}, false
	}
	d := s.Desire(p)
	if !d.Account {
		return tenure.Finding{}, false
	}
	f := tenure.Finding{
		ID: FindingID(s.run, s.app.Name, "person:"+p.ID), ReconciliationID: s.run, App: s.app.Name,
		EmployeeID: p.ID, Kind: tenure.FindingMissing, Remediation: tenure.RemediateResync, Status: tenure.FindingOpen,
		Detail: fmt.Sprintf("no account, but the policy gives %s one (rule %s)", p.ID, strings.Join(d.Rules, ", ")),
	}
	s.Counts.Count(f.Kind)
	return f, true
}

func (s *Scan) finding(a integrations.Account, employeeID string, kind tenure.FindingKind, r tenure.Remediation, format string, args ...any) tenure.Finding {
	return tenure.Finding{
		ID: FindingID(s.run, s.app.Name, "account:"+a.ID), ReconciliationID: s.run, App: s.app.Name,
		AccountID: a.ID, UserName: a.UserName, ExternalID: a.ExternalID, EmployeeID: employeeID,
		Kind: kind, Detail: fmt.Sprintf(format, args...), Remediation: r, Status: tenure.FindingOpen,
	}
}

// TakeSeen returns the people the scan has seen since TakeSeen last ran (or
// since it began), encoded: what a checkpoint of the scan saves beside its
// counts, so that Resume can restore the scan after a failure. It holds each
// person's HR ID and the hash of their account's ID, nothing of the account.
func (s *Scan) TakeSeen() []byte {
	var b []byte
	for _, id := range s.fresh {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.BigEndian.AppendUint32(b, s.seen[id])
	}
	s.fresh = s.fresh[:0]
	return b
}

// Resume restores a scan from its checkpoints: counts as the last one had
// them, and what TakeSeen returned for each, in order.
func (s *Scan) Resume(counts tenure.ReconcileCounts, seen ...[]byte) error {
	for _, b := range seen {
		for len(b) > 0 {
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n+4 {
				return tenure.Errorf(tenure.EINVALID, "a checkpoint of the scan of %s is unreadable", s.app.Name)
			}
			id := string(b[k : k+int(n)])
			s.seen[id] = binary.BigEndian.Uint32(b[k+int(n):])
			b = b[k+int(n)+4:]
		}
	}
	s.fresh = s.fresh[:0]
	s.Counts = counts
	return nil
}

// FindingID names a finding of run in app about key (an account or a person),
// the same on every attempt, and safe in a URL.
func FindingID(run, app, key string) string {
	sum := sha256.Sum256([]byte(run + "\x00" + app + "\x00" + key))
	return "fnd_" + hex.EncodeToString(sum[:12])
}

// active is whether an account gives access: an invitation not yet accepted
// does not yet, but will, so it counts as active for a finding that the
// account should not be there.
func active(a integrations.Account) bool { return a.Active || a.Pending }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
