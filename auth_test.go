package tenure_test

import (
	"testing"

	"github.com/tenure-io/tenure"
)

// TestMayRead: a manager reads their own reports; anyone else is not found, as
// if they did not exist. The API and the console both ask this one function.
func TestMayRead(t *testing.T) {
	report := tenure.Employee{Person: tenure.Person{ID: "E1", ManagerID: "M1"}}
	other := tenure.Employee{Person: tenure.Person{ID: "E2", ManagerID: "M9"}}
	for _, tc := range []struct {
		p    tenure.Principal
		e    tenure.Employee
		want string
	}{
		{tenure.Principal{Role: tenure.RoleAdmin}, other, ""},
		{tenure.Principal{Role: tenure.RoleAuditor}, other, ""},
		{tenure.Principal{Role: tenure.RoleHR}, other, ""},
		{tenure.Principal{Role: tenure.RoleManager, EmployeeID: "M1"}, report, ""},
		{tenure.Principal{Role: tenure.RoleManager, EmployeeID: "M1"}, other, tenure.ENOTFOUND},
		// A manager without an HR record sees nobody, rather than everybody.
		{tenure.Principal{Role: tenure.RoleManager}, report, tenure.EFORBIDDEN},
	} {
		if got := tenure.ErrorCode(tenure.MayRead(tc.p, tc.e)); got != tc.want {
			t.Errorf("MayRead(%+v, %s) = %q, want %q", tc.p, tc.e.ID, got, tc.want)
		}
	}
}

// TestMayDecide: the approver or whoever it escalated to decides, an admin
// decides anything, and nobody decides their own access.
func TestMayDecide(t *testing.T) {
	a := tenure.Approval{ID: "ap1", EmployeeID: "E1", ApproverID: "M1", EscalatedTo: "M2"}
	own := tenure.Approval{ID: "ap2", EmployeeID: "M1", ApproverID: "M1"}
	for _, tc := range []struct {
		p    tenure.Principal
		a    tenure.Approval
		want string
	}{
		{tenure.Principal{Role: tenure.RoleAdmin, Name: "it"}, a, ""},
		{tenure.Principal{Role: tenure.RoleManager, EmployeeID: "M1"}, a, ""},
		{tenure.Principal{Role: tenure.RoleManager, EmployeeID: "M2"}, a, ""},
		{tenure.Principal{Role: tenure.RoleManager, EmployeeID: "M3"}, a, tenure.ENOTFOUND},
		{tenure.Principal{Role: tenure.RoleManager}, a, tenure.EFORBIDDEN},
		{tenure.Principal{Role: tenure.RoleAuditor}, a, tenure.EFORBIDDEN},
		{tenure.Principal{Role: tenure.RoleHR}, a, tenure.EFORBIDDEN},
		{tenure.Principal{Role: tenure.RoleManager, EmployeeID: "M1"}, own, tenure.EFORBIDDEN},
		{tenure.Principal{Role: tenure.RoleAdmin, EmployeeID: "E1"}, a, tenure.EFORBIDDEN},
	} {
		if got := tenure.ErrorCode(tenure.MayDecide(tc.p, tc.a)); got != tc.want {
			t.Errorf("MayDecide(%+v, %s) = %q, want %q", tc.p, tc.a.ID, got, tc.want)
		}
	}
	if own.MayDecide("M1") {
		t.Error("Approval.MayDecide lets a person decide their own access")
	}
}
