package evidence

import (
	"context"
	"time"

	"github.com/tenure-io/tenure"
)

// ReviewLine is one line of the access review: who has what, in which state
// Tenure last verified it, the policy rule that grants it and the approval
// behind it.
type ReviewLine struct {
	EmployeeID     string              `json:"employee_id"`
	Name           string              `json:"name"`
	Email          string              `json:"email"`
	Department     string              `json:"department,omitempty"`
	Title          string              `json:"title,omitempty"`
	EmployeeStatus tenure.PersonStatus `json:"employee_status"`
	App            string              `json:"app"`
	AccountID      string              `json:"account_id"`
	// Entitlement is empty on the line of the account itself.
	Entitlement string `json:"entitlement,omitempty"`
	// AccountStatus is the account's state as last read back from the app.
	AccountStatus tenure.AccessStatus `json:"account_status"`
	// EntitlementStatus is the entitlement's state, on an entitlement's line.
	EntitlementStatus tenure.AccessStatus `json:"entitlement_status,omitempty"`
	// VerifiedAt is when Tenure last read the account back from the app.
	VerifiedAt *time.Time `json:"verified_at"`
	// Rule is the policy rule that grants it: the one recorded with its
	// approval, else the one of the policy in force; empty when no rule grants
	// it now.
	Rule string `json:"policy_rule"`
	// The approval behind a grant that needed one.
	ApprovalID     string                `json:"approval_id,omitempty"`
	ApprovalStatus tenure.ApprovalStatus `json:"approval_status,omitempty"`
	Approver       tenure.Approver       `json:"approver,omitempty"`
	ApproverID     string                `json:"approver_id,omitempty"`
	DecidedBy      string                `json:"decided_by,omitempty"`
	DecidedAt      *time.Time            `json:"decided_at,omitempty"`
}

// ReviewColumns are the CSV header, in the order of ReviewLine.Cells.
var ReviewColumns = []string{
	"employee_id", "name", "email", "department", "title", "employee_status",
	"app", "account_id", "entitlement", "account_status", "entitlement_status", "verified_at",
	"policy_rule", "approval_id", "approval_status", "approver", "approver_id", "decided_by", "decided_at",
}

// Cells is the line as CSV cells, raw: the caller makes them safe for a
// spreadsheet (internal/csvsafe).
func (l ReviewLine) Cells() []string {
	return []string{
		l.EmployeeID, l.Name, l.Email, l.Department, l.Title, string(l.EmployeeStatus),
		l.App, l.AccountID, l.Entitlement, string(l.AccountStatus), string(l.EntitlementStatus), timeCell(l.VerifiedAt),
		l.Rule, l.ApprovalID, string(l.ApprovalStatus), string(l.Approver), l.ApproverID, l.DecidedBy, timeCell(l.DecidedAt),
	}
}

func timeCell(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Review lists who has what from the read model.
type Review struct {
	Store tenure.AccessReviewStore
	// Rules returns the grants the policy in force gives a person
	// (policy.Evaluate); nil leaves rules to what the grants recorded.
	Rules func(tenure.Person) []tenure.Grant
}

// Each calls fn with every line of the review, ordered by person, app and
// entitlement, reading the store a page at a time; app "" means every app.
func (r Review) Each(ctx context.Context, app string, fn func(ReviewLine) error) error {
	person, rules := "", map[string]string{}
	return r.Store.EachAccess(ctx, app, func(h tenure.AccessHeld) error {
		if h.Employee.ID != person {
			person, rules = h.Employee.ID, map[string]string{}
			if r.Rules != nil {
				for _, g := range r.Rules(h.Employee.Person) {
					rules[g.Key()] = g.Rule
				}
			}
		}
		l := ReviewLine{
			EmployeeID: h.Employee.ID, Name: h.Employee.DisplayName(), Email: h.Employee.Email,
			Department: h.Employee.Department, Title: h.Employee.Title, EmployeeStatus: h.Employee.Status,
			App: h.Account.App, AccountID: h.Account.AccountID, Entitlement: h.Entitlement,
			AccountStatus: h.Account.Status, VerifiedAt: h.Account.VerifiedAt,
			Rule: rules[tenure.Grant{App: h.Account.App, Entitlement: h.Entitlement}.Key()],
		}
		if g := h.Grant; g != nil {
			if h.Entitlement != "" {
				l.EntitlementStatus = g.Status
			}
			if g.Rule != "" {
				l.Rule = g.Rule
			}
			l.ApprovalID = g.ApprovalID
		}
		if ap := h.Approval; ap != nil {
			l.ApprovalStatus, l.Approver, l.ApproverID = ap.Status, ap.Approver, ap.ApproverID
			l.DecidedBy, l.DecidedAt = ap.DecidedBy, ap.DecidedAt
		}
		return fn(l)
	})
}
