package reconcile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/reconcile"
)

const testPolicy = `
version: 1
apps:
  - name: github
    connector: scim
    sandbox: true
    ignore: ["svc-*"]
  - name: aws
    connector: scim
    sandbox: true
    orphans: disable
rules:
  - name: engineering
    match: {department: Engineering}
    grant:
      - app: github
        entitlements: [engineering]
  - name: senior
    match: {department: Engineering, title: {pattern: "*Senior*"}}
    grant:
      - app: aws
        entitlements: [production-admin]
        approval: manager
  - name: oncall
    match: {department: Engineering, title: {pattern: "*Senior*"}}
    grant:
      - app: github
        entitlements: [oncall]
`

func newScan(t *testing.T, app string) *reconcile.Scan {
	t.Helper()
	p, err := policy.Parse("test.yaml", []byte(testPolicy), []integrations.Spec{scim.Spec}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	s, err := reconcile.NewScan("rec-1", p, app)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func person(id, email, dept, title string, status tenure.PersonStatus) *reconcile.Person {
	return &reconcile.Person{Employee: tenure.Employee{
		Person: tenure.Person{ID: id, Email: email, Department: dept, Title: title}, Status: status,
	}}
}

func TestOwner(t *testing.T) {
	ada := person("E1", "Ada@Example.com", "Engineering", "Engineer", tenure.PersonActive)
	bob := person("E2", "bob@example.com", "Engineering", "Engineer", tenure.PersonActive)
	byID := map[string]*reconcile.Person{"E1": ada, "E2": bob}
	byEmail := map[string]*reconcile.Person{"ada@example.com": ada, "bob@example.com": bob}
	tests := []struct {
		name string
		acct integrations.Account
		want *reconcile.Person
		why  string
	}{
		{"by externalId", integrations.Account{ExternalID: "E1", UserName: "someone@else.com"}, ada, ""},
		{"externalId wins over userName", integrations.Account{ExternalID: "E2", UserName: "ada@example.com"}, bob, ""},
		{"by userName, ignoring case", integrations.Account{UserName: "ADA@example.COM"}, ada, ""},
		{"unknown externalId, no userName match", integrations.Account{ExternalID: "E9", UserName: "eve@example.com"}, nil, ""},
		{"a reused address with another HR ID", integrations.Account{ExternalID: "E9", UserName: "ada@example.com"}, nil, `carries HR ID "E9"`},
		{"nothing to go on", integrations.Account{UserName: "eve@example.com"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := reconcile.Owner(tc.acct, byID, byEmail)
			if got != tc.want {
				t.Errorf("owner = %v, want %v", got, tc.want)
			}
			if (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
				t.Errorf("why = %q, want %q", why, tc.why)
			}
		})
	}
}

func TestAccountKinds(t *testing.T) {
	eng := func(id string, st tenure.PersonStatus) *reconcile.Person {
		return person(id, strings.ToLower(id)+"@example.com", "Engineering", "Engineer", st)
	}
	sales := person("S1", "s1@example.com", "Sales", "AE", tenure.PersonActive)
	pending := eng("P1", tenure.PersonPending)
	pending.StartDate = "2031-01-05"
	tests := []struct {
		name   string
		app    string
		acct   integrations.Account
		owner  *reconcile.Person
		kind   tenure.FindingKind // "" for no finding
		remedy tenure.Remediation
		detail string
	}{
		{"as the policy wants", "github", integrations.Account{ID: "a", Active: true, Groups: []string{"engineering"}}, eng("E1", tenure.PersonActive), "", "", ""},
		{"other groups are left alone", "github", integrations.Account{ID: "a", Active: true, Groups: []string{"engineering", "book-club"}}, eng("E1", tenure.PersonActive), "", "", ""},
		{"unverifiable membership is not missing", "github", integrations.Account{ID: "a", Active: true, Unverifiable: []string{"engineering"}}, eng("E1", tenure.PersonActive), "", "", ""},
		{"service account", "github", integrations.Account{ID: "a", UserName: "svc-ci", Active: true}, nil, tenure.FindingUnmanaged, tenure.RemediateNone, `"svc-*"`},
		{"ignored even when someone's", "github", integrations.Account{ID: "a", UserName: "svc-e1", Active: true}, eng("E1", tenure.PersonActive), tenure.FindingUnmanaged, tenure.RemediateNone, ""},
		{"unknown, active, reported", "github", integrations.Account{ID: "a", UserName: "eve@example.com", Active: true}, nil, tenure.FindingOrphan, tenure.RemediateReport, "nobody in HR"},
		{"unknown, active, orphans: disable", "aws", integrations.Account{ID: "a", UserName: "eve@example.com", Active: true}, nil, tenure.FindingOrphan, tenure.RemediateDisable, "nobody in HR"},
		{"unknown, disabled", "github", integrations.Account{ID: "a", UserName: "eve@example.com"}, nil, "", "", ""},
		{"terminated, active", "github", integrations.Account{ID: "a", Active: true}, eng("T1", tenure.PersonTerminated), tenure.FindingOrphan, tenure.RemediateDisable, "T1 is terminated"},
		{"terminated, invited", "github", integrations.Account{ID: "a", Pending: true}, eng("T1", tenure.PersonTerminated), tenure.FindingOrphan, tenure.RemediateDisable, "T1 is terminated"},
		{"terminated, disabled", "github", integrations.Account{ID: "a"}, eng("T1", tenure.PersonTerminated), "", "", ""},
		{"disabled when it should be active", "github", integrations.Account{ID: "a", Groups: []string{"engineering"}}, eng("E1", tenure.PersonActive), tenure.FindingMissing, tenure.RemediateResync, "rule engineering"},
		{"invitation pending is not missing", "github", integrations.Account{ID: "a", Pending: true, Groups: []string{"engineering"}}, eng("E1", tenure.PersonActive), "", "", ""},
		{"lacks an entitlement", "github", integrations.Account{ID: "a", Active: true}, eng("E1", tenure.PersonActive), tenure.FindingDrift, tenure.RemediateResync, "lacks engineering"},
		{"holds a managed entitlement it should not", "github", integrations.Account{ID: "a", Active: true, Groups: []string{"engineering", "oncall"}}, eng("E1", tenure.PersonActive), tenure.FindingDrift, tenure.RemediateResync, "has oncall"},
		{"no account in the policy, active", "github", integrations.Account{ID: "a", Active: true}, sales, tenure.FindingDrift, tenure.RemediateDisable, "gives S1 no account"},
		{"no account in the policy, disabled", "github", integrations.Account{ID: "a"}, sales, "", "", ""},
		{"locked, active", "github", integrations.Account{ID: "a", Active: true, Groups: []string{"engineering"}}, eng("L1", tenure.PersonLocked), tenure.FindingDrift, tenure.RemediateDisable, "L1 is locked"},
		{"locked, disabled, entitlements not checked", "github", integrations.Account{ID: "a"}, eng("L1", tenure.PersonLocked), "", "", ""},
		{"before the start date, active", "github", integrations.Account{ID: "a", Active: true, Groups: []string{"engineering"}}, pending, tenure.FindingDrift, tenure.RemediateResync, "2031-01-05"},
		{"before the start date, disabled", "github", integrations.Account{ID: "a", Groups: []string{"engineering"}}, pending, "", "", ""},
		{"approval not given: no account wanted", "aws", integrations.Account{ID: "a", Active: true}, person("E5", "e5@example.com", "Engineering", "Senior Engineer", tenure.PersonActive), tenure.FindingDrift, tenure.RemediateDisable, "no account in aws"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScan(t, tc.app)
			f, ok, err := s.Account(tc.acct, tc.owner, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tc.kind != "") {
				t.Fatalf("finding %+v (%t), want kind %q", f, ok, tc.kind)
			}
			if !ok {
				if n := s.Counts.Actionable() + s.Counts.Unmanaged; n != 0 {
					t.Errorf("no finding, yet %d counted", n)
				}
				return
			}
			if f.Kind != tc.kind || f.Remediation != tc.remedy || !strings.Contains(f.Detail, tc.detail) {
				t.Errorf("finding %s/%s %q, want %s/%s containing %q", f.Kind, f.Remediation, f.Detail, tc.kind, tc.remedy, tc.detail)
			}
			if s.Counts.Of(tc.kind) != 1 || s.Counts.Accounts != 1 {
				t.Errorf("counts %+v, want one account and one %s", s.Counts, tc.kind)
			}
			if f.AccountID != "a" || f.App != tc.app || f.ReconciliationID != "rec-1" || f.Status != tenure.FindingOpen || !strings.HasPrefix(f.ID, "fnd_") {
				t.Errorf("finding %+v: wrong account, app, run, status or ID", f)
			}
			if tc.owner != nil && tc.kind != tenure.FindingUnmanaged && f.EmployeeID != tc.owner.ID {
				t.Errorf("finding for %q, want %q", f.EmployeeID, tc.owner.ID)
			}
		})
	}
}

func TestApprovedGrantIsWanted(t *testing.T) {
	senior := person("E5", "e5@example.com", "Engineering", "Senior Engineer", tenure.PersonActive)
	senior.Grants = []tenure.GrantRecord{{EmployeeID: "E5", App: "aws", Entitlement: "production-admin", Status: tenure.AccessActive, ApprovalID: "apr_1"}}
	s := newScan(t, "aws")
	if !s.NeedsGrants() || !s.MissingNeedsGrants() {
		t.Error("aws has a grant that needs approval, yet its scan needs no grants")
	}
	if gh := newScan(t, "github"); gh.MissingNeedsGrants() || !gh.NeedsGrants() {
		t.Error("github: grants wanted of people without an account, or not of account owners, whose entitlements are compared")
	}
	groupless := newScan(t, "github")
	groupless.SkipEntitlements()
	if groupless.NeedsGrants() {
		t.Error("github, comparing no entitlements and with no grant that needs approval, wants grants")
	}
	if f, ok, _ := s.Account(integrations.Account{ID: "a", Active: true, Groups: []string{"production-admin"}}, senior, "", nil); ok {
		t.Errorf("an approved grant is reported: %+v", f)
	}
	denied := *senior
	denied.Grants = []tenure.GrantRecord{{EmployeeID: "E5", App: "aws", Entitlement: "production-admin", Status: tenure.AccessDenied}}
	if _, ok := newScan(t, "aws").Missing(denied); ok {
		t.Error("a denied grant is reported missing")
	}
	if f, ok := newScan(t, "aws").Missing(*senior); !ok || f.Kind != tenure.FindingMissing {
		t.Errorf("an approved grant without an account: %+v, %t; want missing", f, ok)
	}
}

func TestMissingAndDuplicates(t *testing.T) {
	s := newScan(t, "github")
	ada := person("E1", "e1@example.com", "Engineering", "Engineer", tenure.PersonActive)
	bob := person("E2", "e2@example.com", "Engineering", "Engineer", tenure.PersonActive)
	if _, ok, _ := s.Account(integrations.Account{ID: "a1", ExternalID: "E1", Active: true, Groups: []string{"engineering"}}, ada, "", nil); ok {
		t.Fatal("a correct account is a finding")
	}
	// Paging may list an account twice when the app changes meanwhile: once is no duplicate.
	if f, ok, _ := s.Account(integrations.Account{ID: "a1", ExternalID: "E1", Active: true, Groups: []string{"engineering"}}, ada, "", nil); ok {
		t.Errorf("an account listed twice is a finding: %+v", f)
	}
	f, ok, _ := s.Account(integrations.Account{ID: "a2", UserName: "e1@example.com", Active: true}, ada, "", nil)
	if !ok || f.Kind != tenure.FindingDrift || f.Remediation != tenure.RemediateReport || !strings.Contains(f.Detail, "second active account") {
		t.Errorf("a second account: %+v, %t", f, ok)
	}
	if _, ok := s.Missing(*ada); ok {
		t.Error("someone with an account is reported missing")
	}
	f, ok = s.Missing(*bob)
	if !ok || f.Kind != tenure.FindingMissing || f.Remediation != tenure.RemediateResync || f.EmployeeID != "E2" || f.AccountID != "" {
		t.Errorf("someone without an account: %+v, %t", f, ok)
	}
	for _, p := range []*reconcile.Person{
		person("S1", "s1@example.com", "Sales", "AE", tenure.PersonActive),
		person("T1", "t1@example.com", "Engineering", "Engineer", tenure.PersonTerminated),
		person("L1", "l1@example.com", "Engineering", "Engineer", tenure.PersonLocked),
	} {
		if f, ok := s.Missing(*p); ok {
			t.Errorf("%s is reported missing: %+v", p.ID, f)
		}
	}
	want := tenure.ReconcileCounts{Accounts: 3, Matched: 3, Missing: 1, Drift: 1}
	if s.Counts != want {
		t.Errorf("counts %+v, want %+v", s.Counts, want)
	}
	if id := reconcile.FindingID("rec-1", "github", "person:E2"); f.ID != id || id == reconcile.FindingID("rec-2", "github", "person:E2") {
		t.Errorf("finding IDs are not derived from the run, app and person: %s", f.ID)
	}
}

func TestRereadConfirmsEntitlements(t *testing.T) {
	ada := person("E1", "e1@example.com", "Engineering", "Engineer", tenure.PersonActive)
	// The listing shows no groups; the app shows them on the group side.
	listed := integrations.Account{ID: "a1", ExternalID: "E1", Active: true}
	var asked []string
	s := newScan(t, "github")
	_, ok, err := s.Account(listed, ada, "", func(id string, groups []string) (integrations.Account, error) {
		asked = groups
		return integrations.Account{ID: id, ExternalID: "E1", Active: true, Groups: []string{"engineering"}}, nil
	})
	if err != nil || ok {
		t.Errorf("the reread showed the membership, yet: finding %t, error %v", ok, err)
	}
	if strings.Join(asked, ",") != "engineering,oncall" {
		t.Errorf("the reread asked about %v, want the managed entitlements", asked)
	}
	if s.Counts.Drift != 0 || s.Counts.Matched != 1 {
		t.Errorf("counts %+v", s.Counts)
	}
	boom := errors.New("app down")
	if _, _, err := newScan(t, "github").Account(listed, ada, "", func(string, []string) (integrations.Account, error) {
		return integrations.Account{}, boom
	}); !errors.Is(err, boom) {
		t.Errorf("a failed reread: %v, want it returned", err)
	}
	// A disabled account is missing without asking about groups.
	if _, ok, err := newScan(t, "github").Account(integrations.Account{ID: "a1"}, ada, "", func(string, []string) (integrations.Account, error) {
		t.Error("reread for an account that is disabled")
		return integrations.Account{}, nil
	}); !ok || err != nil {
		t.Errorf("disabled account: finding %t, error %v", ok, err)
	}
}

// renamedPolicy is testPolicy's next version: github's engineering is now
// eng-v2.
const renamedPolicy = `
version: 1
apps:
  - name: github
    connector: scim
    sandbox: true
rules:
  - name: engineering
    match: {department: Engineering}
    grant:
      - app: github
        entitlements: [eng-v2]
`

// TestWhatTenureGrantedStaysManaged: after a rename, the old entitlement,
// which Tenure granted and has not revoked, is still Tenure's to manage, so
// an account that holds it is drift, to be resynced (which revokes it). A
// group nobody granted and no rule gives is left alone, and so is one Tenure
// granted and then revoked, or granted in another app.
func TestWhatTenureGrantedStaysManaged(t *testing.T) {
	p, err := policy.Parse("renamed.yaml", []byte(renamedPolicy), []integrations.Spec{scim.Spec}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	scan := func() *reconcile.Scan {
		s, err := reconcile.NewScan("rec-1", p, "github")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	grant := func(app, entitlement string, st tenure.AccessStatus) tenure.GrantRecord {
		return tenure.GrantRecord{EmployeeID: "E1", App: app, Entitlement: entitlement, Status: st}
	}
	ada := person("E1", "e1@example.com", "Engineering", "Engineer", tenure.PersonActive)
	ada.Grants = []tenure.GrantRecord{
		grant("github", "", tenure.AccessActive),
		grant("github", "engineering", tenure.AccessActive),
		grant("github", "eng-v2", tenure.AccessActive),
		grant("github", "old-team", tenure.AccessDeleted),
		grant("aws", "ops", tenure.AccessActive),
	}
	if got := strings.Join(scan().Managed(*ada), ","); got != "eng-v2,engineering" {
		t.Errorf("managed for E1: %s, want the policy's eng-v2 and the engineering Tenure granted", got)
	}

	s := scan()
	acct := integrations.Account{ID: "a1", ExternalID: "E1", Active: true, Groups: []string{"book-club", "eng-v2", "engineering", "old-team", "ops"}}
	var asked []string
	f, ok, err := s.Account(acct, ada, "", func(id string, groups []string) (integrations.Account, error) {
		asked = groups
		return acct, nil
	})
	if err != nil || !ok {
		t.Fatalf("an account holding the renamed entitlement: finding %t, error %v", ok, err)
	}
	if f.Kind != tenure.FindingDrift || f.Remediation != tenure.RemediateResync ||
		f.Detail != "entitlements differ: has engineering, which Tenure granted E1 and the policy no longer gives" {
		t.Errorf("finding %s/%s %q", f.Kind, f.Remediation, f.Detail)
	}
	if strings.Join(asked, ",") != "eng-v2,engineering" {
		t.Errorf("the reread asked about %v, want what Tenure manages for E1", asked)
	}
	if s.Counts.Drift != 1 || s.Counts.Matched != 1 {
		t.Errorf("counts %+v", s.Counts)
	}

	// Nobody granted book-club, old-team was revoked, ops is another app's:
	// an account holding them and eng-v2 is as it should be.
	acct = integrations.Account{ID: "a1", ExternalID: "E1", Active: true, Groups: []string{"book-club", "eng-v2", "old-team", "ops"}}
	if f, ok, _ := scan().Account(acct, ada, "", nil); ok {
		t.Errorf("groups Tenure does not manage are reported: %+v", f)
	}
	// Without its grants (a scan that did not load them), engineering is not
	// known to be Tenure's.
	bare := *ada
	bare.Grants = nil
	acct.Groups = []string{"eng-v2", "engineering"}
	if f, ok, _ := scan().Account(acct, &bare, "", nil); ok {
		t.Errorf("a group Tenure is not recorded to have granted is reported: %+v", f)
	}
}

// TestResumeFromCheckpoints: a scan restored from what TakeSeen returned at
// each checkpoint knows whom it saw, and the counts, as the one that failed.
func TestResumeFromCheckpoints(t *testing.T) {
	ada := person("E1", "e1@example.com", "Engineering", "Engineer", tenure.PersonActive)
	bob := person("E2", "e2@example.com", "Engineering", "Engineer", tenure.PersonActive)
	cy := person("E3", "e3@example.com", "Engineering", "Engineer", tenure.PersonActive)
	held := []string{"engineering"}
	first := newScan(t, "github")
	first.Account(integrations.Account{ID: "a1", Active: true, Groups: held}, ada, "", nil)
	first.Account(integrations.Account{ID: "a2", Active: true, Groups: held}, bob, "", nil)
	cp1 := first.TakeSeen()
	// Listed again (the app changed as it was paged): nothing new to save.
	first.Account(integrations.Account{ID: "a2", Active: true, Groups: held}, bob, "", nil)
	if got := first.TakeSeen(); len(got) != 0 {
		t.Errorf("TakeSeen after an account seen before: %d bytes", len(got))
	}
	counts := first.Counts

	resumed := newScan(t, "github")
	if err := resumed.Resume(counts, cp1, nil); err != nil {
		t.Fatal(err)
	}
	if resumed.Counts != counts {
		t.Errorf("counts %+v, want %+v", resumed.Counts, counts)
	}
	// Bob's account again is no second account; another of his is.
	if f, ok, _ := resumed.Account(integrations.Account{ID: "a2", Active: true, Groups: held}, bob, "", nil); ok {
		t.Errorf("an account seen before the checkpoint is a finding: %+v", f)
	}
	if f, ok, _ := resumed.Account(integrations.Account{ID: "b2", Active: true, Groups: held}, bob, "", nil); !ok || !strings.Contains(f.Detail, "second active account") {
		t.Errorf("a second account of someone seen before the checkpoint: %+v, %t", f, ok)
	}
	if _, ok := resumed.Missing(*ada); ok {
		t.Error("someone seen before the checkpoint is missing")
	}
	if f, ok := resumed.Missing(*cy); !ok || f.EmployeeID != "E3" {
		t.Errorf("someone never seen: %+v, %t", f, ok)
	}
	if err := newScan(t, "github").Resume(counts, cp1[:len(cp1)-1]); err == nil {
		t.Error("a cut-off checkpoint was read")
	}
}
