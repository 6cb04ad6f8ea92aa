package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/workflows"
)

// connector returns the app's connector, or a non-retryable error naming the app.
func (a *Activities) connector(app string) (integrations.Connector, error) {
	c, ok := a.Connectors[app]
	if !ok {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("app %q is not configured in the policy", app), "UnknownApp", nil)
	}
	return c, nil
}

// resolve finds the person's account: by the known ID first, then by HR ID or email.
func resolve(ctx context.Context, c integrations.Connector, req workflows.AccountRequest) (integrations.Account, bool, error) {
	if req.AccountID != "" {
		acct, err := c.Get(ctx, req.AccountID)
		if err == nil {
			return acct, true, nil
		}
		if !integrations.IsNotFound(err) {
			return acct, false, err
		}
	}
	acct, err := c.Lookup(ctx, req.Person.ID, req.Person.Email)
	if integrations.IsNotFound(err) {
		return acct, false, nil
	}
	if err == nil && acct.ExternalID != "" && req.Person.ID != "" && acct.ExternalID != req.Person.ID {
		// Found by email only, on an account that carries another HR ID (a reused
		// address): it is someone else's, never to be adopted, disabled or deleted.
		return integrations.Account{}, false, nil
	}
	return acct, err == nil, err
}

// CreateAccount makes sure the person has an account in the app, active or not as
// asked. It looks the account up first and adopts one that exists, so running it
// twice leaves one account.
func (a *Activities) CreateAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	c, err := a.connector(req.App)
	if err != nil {
		return workflows.AccountResult{}, err
	}
	acct, found, err := resolve(ctx, c, req)
	if err != nil {
		return workflows.AccountResult{}, temporalError(err)
	}
	action := "account.adopted"
	if !found {
		acct, err = c.Create(ctx, userFor(req.Person, req.Active))
		if err != nil {
			return workflows.AccountResult{}, temporalError(err)
		}
		action = "account.created"
	}
	wasActive := acct.Active
	if acct.Active != req.Active {
		if err := c.SetActive(ctx, acct.ID, req.Active); err != nil {
			return workflows.AccountResult{}, temporalError(err)
		}
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil {
		return workflows.AccountResult{}, temporalError(err)
	}
	if got.Active != req.Active {
		return workflows.AccountResult{}, notVerified(req.App, "account %s reads back active=%t, want %t", got.ID, got.Active, req.Active)
	}
	res := a.result(req.App, got, wasActive)
	status := tenure.AccessPending
	if got.Active {
		status = tenure.AccessActive
	}
	if err := a.writeAccount(ctx, req, got, status, &res); err != nil {
		return res, err
	}
	if err := a.audit(ctx, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: action,
		EmployeeID: req.EmployeeID, App: req.App,
		Detail: fmt.Sprintf("account %s, active=%t, verified", got.ID, got.Active)}); err != nil {
		return res, err
	}
	return res, a.publishAccess(ctx, tenure.EventAccessGranted, req, got.ID, "", action, res)
}

// publishAccess publishes a change to a person's access in one app.
func (a *Activities) publishAccess(ctx context.Context, typ string, req workflows.AccountRequest, accountID, entitlement, action string, res workflows.AccountResult) error {
	key := req.Key
	if entitlement != "" {
		key += "/" + entitlement
	}
	return a.publish(ctx, typ, key, req.EmployeeID, map[string]any{
		"app": req.App, "account_id": accountID, "entitlement": entitlement, "action": action,
		"active": res.Active, "verified_at": res.VerifiedAt,
	})
}

// SyncEntitlements gives the account exactly the wanted entitlements among those
// Tenure manages in the app, leaving other groups alone, and reads them back.
func (a *Activities) SyncEntitlements(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	c, err := a.connector(req.App)
	if err != nil {
		return workflows.AccountResult{}, err
	}
	acct, err := c.Get(ctx, req.AccountID)
	if err != nil {
		return workflows.AccountResult{}, temporalError(err)
	}
	var add, remove []string
	for _, g := range req.Entitlements {
		if !slices.Contains(acct.Groups, g) {
			add = append(add, g)
		}
	}
	for _, g := range acct.Groups {
		if slices.Contains(req.Managed, g) && !slices.Contains(req.Entitlements, g) {
			remove = append(remove, g)
		}
	}
	for _, g := range add {
		if err := c.AddToGroup(ctx, acct.ID, g); err != nil {
			return workflows.AccountResult{}, temporalError(err)
		}
	}
	for _, g := range remove {
		if err := c.RemoveFromGroup(ctx, acct.ID, g); err != nil {
			return workflows.AccountResult{}, temporalError(err)
		}
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil {
		return workflows.AccountResult{}, temporalError(err)
	}
	for _, g := range req.Entitlements {
		if !slices.Contains(got.Groups, g) {
			return workflows.AccountResult{}, notVerified(req.App, "account %s is not in %q", got.ID, g)
		}
	}
	for _, g := range remove {
		if slices.Contains(got.Groups, g) {
			return workflows.AccountResult{}, notVerified(req.App, "account %s is still in %q", got.ID, g)
		}
	}
	res := a.result(req.App, got, acct.Active)
	row, err := a.account(ctx, req.EmployeeID, req.App)
	if err != nil {
		return res, err
	}
	if err := a.writeAccount(ctx, req, got, row.Status, &res); err != nil {
		return res, err
	}
	// The read model's grants move to what the app now holds, and each move is
	// published. Comparing with the read model rather than with what this attempt
	// changed means an attempt that died after changing the app still records and
	// publishes on its retry.
	grants, err := a.Store.ListGrants(ctx, req.EmployeeID)
	if err != nil {
		return res, err
	}
	recorded := map[string]tenure.AccessStatus{}
	for _, g := range grants {
		if g.App == req.App {
			recorded[g.Entitlement] = g.Status
		}
	}
	for _, g := range req.Entitlements {
		if recorded[g] == tenure.AccessActive {
			continue
		}
		if err := a.writeGrant(ctx, req, g, tenure.AccessActive, "access.granted"); err != nil {
			return res, err
		}
		if err := a.publishAccess(ctx, tenure.EventAccessGranted, req, got.ID, g, "access.granted", res); err != nil {
			return res, err
		}
	}
	for _, g := range req.Managed {
		if slices.Contains(req.Entitlements, g) || (!slices.Contains(remove, g) && recorded[g] != tenure.AccessActive) {
			continue
		}
		if err := a.writeGrant(ctx, req, g, tenure.AccessDeleted, "access.revoked"); err != nil {
			return res, err
		}
		if err := a.publishAccess(ctx, tenure.EventAccessRevoked, req, got.ID, g, "access.revoked", res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// EnableAccount re-enables the person's account and reads it back.
func (a *Activities) EnableAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	return a.setActive(ctx, req, true)
}

// DisableAccount disables the person's account, revokes its sessions where the app
// can, and reads it back to verify that no active access is left. An app where the
// person has no account is reported as such.
func (a *Activities) DisableAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	return a.setActive(ctx, req, false)
}

func (a *Activities) setActive(ctx context.Context, req workflows.AccountRequest, active bool) (workflows.AccountResult, error) {
	c, acct, res, err := a.existing(ctx, req)
	if c == nil || err != nil {
		return res, err
	}
	if acct.Active != active {
		if err := c.SetActive(ctx, acct.ID, active); err != nil {
			return workflows.AccountResult{}, temporalError(err)
		}
	}
	sessions := ""
	if !active {
		caps, err := c.Capabilities(ctx)
		if err != nil {
			return workflows.AccountResult{}, temporalError(err)
		}
		if caps.RevokeSessions {
			if err := c.RevokeSessions(ctx, acct.ID); err != nil {
				return workflows.AccountResult{}, temporalError(err)
			}
			sessions = ", sessions revoked"
		}
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil {
		return workflows.AccountResult{}, temporalError(err)
	}
	if got.Active != active {
		return workflows.AccountResult{}, notVerified(req.App, "account %s reads back active=%t", got.ID, got.Active)
	}
	res = a.result(req.App, got, acct.Active)
	status, action := tenure.AccessActive, "account.enabled"
	if !active {
		status, action = tenure.AccessDisabled, "account.disabled"
	}
	if err := a.writeAccount(ctx, req, got, status, &res); err != nil {
		return res, err
	}
	if err := a.audit(ctx, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: action,
		EmployeeID: req.EmployeeID, App: req.App,
		Detail: fmt.Sprintf("account %s was active=%t, now verified active=%t%s at %s",
			got.ID, acct.Active, got.Active, sessions, res.VerifiedAt.Format("2006-01-02T15:04:05.000Z07:00"))}); err != nil {
		return res, err
	}
	typ := tenure.EventAccessRevoked
	if active {
		typ = tenure.EventAccessGranted
	}
	return res, a.publishAccess(ctx, typ, req, got.ID, "", action, res)
}

// DeleteAccount deletes the person's account and checks that it is gone. An account
// that is already gone counts as deleted.
func (a *Activities) DeleteAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	c, acct, res, err := a.existing(ctx, req)
	if c == nil || err != nil {
		return res, err
	}
	if err := c.Delete(ctx, acct.ID); err != nil {
		return workflows.AccountResult{}, temporalError(err)
	}
	if _, err := c.Get(ctx, acct.ID); !integrations.IsNotFound(err) {
		if err != nil {
			return workflows.AccountResult{}, temporalError(err)
		}
		return workflows.AccountResult{}, notVerified(req.App, "account %s still exists after delete", acct.ID)
	}
	res = workflows.AccountResult{App: req.App, AccountID: acct.ID, Found: true, WasActive: acct.Active, VerifiedAt: a.now()}
	if err := a.writeAccount(ctx, req, integrations.Account{ID: acct.ID}, tenure.AccessDeleted, &res); err != nil {
		return res, err
	}
	if err := a.audit(ctx, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: "account.deleted",
		EmployeeID: req.EmployeeID, App: req.App, Detail: fmt.Sprintf("account %s deleted, verified gone", acct.ID)}); err != nil {
		return res, err
	}
	return res, a.publishAccess(ctx, tenure.EventAccessRevoked, req, acct.ID, "", "account.deleted", res)
}

// existing finds the person's account in the app for a step that changes it. A
// nil connector with a nil error means there is no account: res is then the
// step's whole result (see gone).
func (a *Activities) existing(ctx context.Context, req workflows.AccountRequest) (integrations.Connector, integrations.Account, workflows.AccountResult, error) {
	c, err := a.connector(req.App)
	if err != nil {
		return nil, integrations.Account{}, workflows.AccountResult{}, err
	}
	acct, found, err := resolve(ctx, c, req)
	if err != nil {
		return nil, acct, workflows.AccountResult{}, temporalError(err)
	}
	if !found {
		res, err := a.gone(ctx, req)
		return nil, acct, res, err
	}
	return c, acct, workflows.AccountResult{}, nil
}

// gone handles an app in which the person has no account: nothing to take away.
func (a *Activities) gone(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	res := workflows.AccountResult{App: req.App, VerifiedAt: a.now()}
	row, err := a.account(ctx, req.EmployeeID, req.App)
	if err != nil {
		return res, err
	}
	if row.AccountID == "" && row.Status == tenure.AccessPending {
		// Never provisioned here: there is no row to keep.
		return res, nil
	}
	row.Status, row.Error, row.VerifiedAt, row.UpdatedAt = tenure.AccessDeleted, "", &res.VerifiedAt, res.VerifiedAt
	if err := a.Store.UpsertAccount(ctx, row); err != nil {
		return res, err
	}
	return res, a.audit(ctx, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: "account.absent",
		EmployeeID: req.EmployeeID, App: req.App, Detail: "no account in the app, verified"})
}

func (a *Activities) result(app string, acct integrations.Account, wasActive bool) workflows.AccountResult {
	return workflows.AccountResult{App: app, AccountID: acct.ID, Found: true, Active: acct.Active,
		WasActive: wasActive, Groups: acct.Groups, VerifiedAt: a.now()}
}

func (a *Activities) writeAccount(ctx context.Context, req workflows.AccountRequest, acct integrations.Account, status tenure.AccessStatus, res *workflows.AccountResult) error {
	ents := acct.Groups
	if ents == nil {
		ents = []string{}
	}
	return a.Store.UpsertAccount(ctx, tenure.Account{
		EmployeeID: req.EmployeeID, App: req.App, AccountID: acct.ID, Status: status,
		Entitlements: ents, VerifiedAt: &res.VerifiedAt, UpdatedAt: res.VerifiedAt,
	})
}

func (a *Activities) writeGrant(ctx context.Context, req workflows.AccountRequest, entitlement string, status tenure.AccessStatus, action string) error {
	if err := a.Store.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: req.EmployeeID, App: req.App,
		Entitlement: entitlement, Status: status, UpdatedAt: a.now()}); err != nil {
		return err
	}
	return a.audit(ctx, tenure.AuditRecord{Key: req.Key + "/" + entitlement, Actor: Actor, Action: action,
		EmployeeID: req.EmployeeID, App: req.App, Detail: entitlement})
}

func userFor(p tenure.Person, active bool) integrations.User {
	return integrations.User{
		ExternalID:  p.ID,
		UserName:    strings.ToLower(p.Email),
		GivenName:   p.GivenName,
		FamilyName:  p.FamilyName,
		DisplayName: p.DisplayName(),
		Email:       p.Email,
		Title:       p.Title,
		Department:  p.Department,
		Active:      active,
		Attributes:  p.Attributes,
	}
}
