package activities

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/workflows"
)

// connector returns the app's connector, every call counted where there are
// Metrics, or a non-retryable error naming the app.
func (a *Activities) connector(ctx context.Context, app string) (integrations.Connector, error) {
	_, c, err := a.Policies.App(ctx, app)
	if tenure.ErrorCode(err) == tenure.ENOTFOUND {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("app %q is not configured in the policy", app), "UnknownApp", nil)
	}
	if err != nil {
		return nil, err
	}
	if a.Metrics != nil {
		return measured{app: app, c: c, metrics: a.Metrics}, nil
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
	acct, err := integrations.LookupUser(ctx, c, userFor(req.Person, req.Active))
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
	return a.step(ctx, func(log *stepLog) (workflows.AccountResult, error) { return a.createAccount(ctx, req, log) })
}

func (a *Activities) createAccount(ctx context.Context, req workflows.AccountRequest, log *stepLog) (workflows.AccountResult, error) {
	c, m, err := a.makeAccount(ctx, req)
	if err != nil {
		return workflows.AccountResult{}, err
	}
	return a.readBack(ctx, req, c, m, log)
}

// madeAccount is the account createAccount found or made in the app, as the
// app answered, before it is read back.
type madeAccount struct {
	acct integrations.Account
	// action is the audit action: accountCreated or accountAdopted.
	action    string
	wasActive bool
}

// The actions of an account createAccount made or found.
const (
	accountCreated = "account.created"
	accountAdopted = "account.adopted"
)

// makeAccount adopts the person's account in the app, or creates it, and sets
// it active or not as asked. It reads nothing back: readBack or, for a new
// account, the entitlements' read-back in ProvisionAccount does.
func (a *Activities) makeAccount(ctx context.Context, req workflows.AccountRequest) (integrations.Connector, madeAccount, error) {
	c, err := a.connector(ctx, req.App)
	if err != nil {
		return nil, madeAccount{}, err
	}
	acct, found, err := resolve(ctx, c, req)
	if err != nil {
		return nil, madeAccount{}, a.temporalError(ctx, req, err)
	}
	m := madeAccount{acct: acct, action: accountAdopted}
	if !found {
		if m.acct, err = c.Create(ctx, userFor(req.Person, req.Active)); err != nil {
			return nil, madeAccount{}, a.temporalError(ctx, req, err)
		}
		m.action = accountCreated
	}
	m.wasActive = m.acct.Active
	if m.acct.Active != req.Active && !(req.Active && m.acct.Pending) {
		if err := c.SetActive(ctx, m.acct.ID, req.Active); err != nil {
			return nil, madeAccount{}, a.temporalError(ctx, req, err)
		}
	}
	return c, m, nil
}

// readBack reads the account makeAccount made and verifies and records it.
func (a *Activities) readBack(ctx context.Context, req workflows.AccountRequest, c integrations.Connector, m madeAccount, log *stepLog) (workflows.AccountResult, error) {
	got, err := c.Get(ctx, m.acct.ID)
	if err != nil {
		return workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	return a.verifyAccount(ctx, req, m, got, log)
}

// verifyAccount checks the account as the app showed it (got) against the
// request, and logs it, its audit record and its event.
func (a *Activities) verifyAccount(ctx context.Context, req workflows.AccountRequest, m madeAccount, got integrations.Account, log *stepLog) (workflows.AccountResult, error) {
	// An invitation the person has yet to accept is as far as the app can go
	// for now: it is recorded as pending, never as active.
	if got.Active != req.Active && !(req.Active && got.Pending) {
		return workflows.AccountResult{}, notVerified(ctx, req.App, "account %s reads back active=%t, want %t", got.ID, got.Active, req.Active)
	}
	res := a.result(req.App, got, m.wasActive)
	status := tenure.AccessPending
	if got.Active {
		status = tenure.AccessActive
	}
	if got.Pending {
		res.Note = "invitation sent; active once the person accepts it"
	}
	a.Outages.Recovered(req.App, req.EmployeeID)
	a.writeAccount(log, req, got, status, res)
	a.logAudit(ctx, log, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: m.action,
		EmployeeID: req.EmployeeID, App: req.App,
		Detail: strings.TrimSuffix(fmt.Sprintf("account %s, active=%t, verified; %s", got.ID, got.Active, res.Note), "; ")})
	return res, a.publishAccess(log, tenure.EventAccessGranted, req, got.ID, "", m.action, res)
}

// publishAccess logs the event of a change to a person's access in one app.
func (a *Activities) publishAccess(log *stepLog, typ string, req workflows.AccountRequest, accountID, entitlement, action string, res workflows.AccountResult) error {
	key := req.Key
	if entitlement != "" {
		key += "/" + entitlement
	}
	ev, err := a.event(typ, key, req.EmployeeID, map[string]any{
		"app": req.App, "account_id": accountID, "entitlement": entitlement, "action": action,
		"active": res.Active, "verified_at": res.VerifiedAt,
	})
	if err != nil {
		return err
	}
	log.events = append(log.events, ev)
	return nil
}

// SyncEntitlements gives the account exactly the wanted entitlements among those
// Tenure manages in the app, leaving other groups alone, and reads them back. A
// membership the app gives no way to read back is recorded as unverifiable, not
// as held; one the app should show but does not fails the step after
// verifyAttempts attempts, with what the app showed.
func (a *Activities) SyncEntitlements(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	return a.step(ctx, func(log *stepLog) (workflows.AccountResult, error) { return a.syncEntitlements(ctx, req, log) })
}

func (a *Activities) syncEntitlements(ctx context.Context, req workflows.AccountRequest, log *stepLog) (workflows.AccountResult, error) {
	c, err := a.connector(ctx, req.App)
	if err != nil {
		return workflows.AccountResult{}, err
	}
	s, err := a.applyEntitlements(ctx, req, c, nil, log)
	if err != nil {
		return workflows.AccountResult{}, err
	}
	return a.recordEntitlements(ctx, req, s, log)
}

// entitlementSync is what applyEntitlements did and read back, for
// recordEntitlements.
type entitlementSync struct {
	// recorded is each of the app's entitlements the read model had for the
	// person, as it had them.
	recorded map[string]tenure.AccessStatus
	// managed are the entitlements Tenure manages in the app; removed, those
	// of them the account was taken out of.
	managed, removed []string
	// before and got are the account as the app showed it before the changes
	// and after them.
	before, got integrations.Account
}

// applyEntitlements gives the account exactly the wanted entitlements among
// those Tenure manages in the app and reads it back. The account is read
// before the changes unless the caller knows it (known): an account created
// this moment holds no group yet. Should the read-back show a managed group
// the app gave such an account on its own, it is taken away and the account
// read again.
func (a *Activities) applyEntitlements(ctx context.Context, req workflows.AccountRequest, c integrations.Connector, known *integrations.Account, log *stepLog) (entitlementSync, error) {
	grants, err := a.Store.ListGrants(ctx, req.EmployeeID)
	if err != nil {
		return entitlementSync{}, err
	}
	s := entitlementSync{recorded: map[string]tenure.AccessStatus{}}
	for _, g := range grants {
		if g.App == req.App {
			s.recorded[g.Entitlement] = g.Status
		}
	}
	// Until the app shows it, a wanted entitlement is pending, never active.
	for _, g := range req.Entitlements {
		if _, ok := s.recorded[g]; !ok {
			log.grant(tenure.GrantRecord{EmployeeID: req.EmployeeID, App: req.App,
				Entitlement: g, Status: tenure.AccessPending, UpdatedAt: a.now()})
			s.recorded[g] = tenure.AccessPending
		}
	}
	s.managed = tenure.ManagedEntitlements(req.Managed, s.recorded)
	groups := slices.Concat(req.Entitlements, s.managed)
	if known != nil {
		s.before = *known
	} else if s.before, err = integrations.GetWithGroups(ctx, c, req.AccountID, groups); err != nil {
		return entitlementSync{}, a.temporalError(ctx, req, err)
	}
	var add []string
	for _, g := range req.Entitlements {
		// An unverifiable membership Tenure already gave is not given again: the
		// app cannot say whether it holds it, and adding twice may duplicate it.
		if slices.Contains(s.before.Groups, g) || (slices.Contains(s.before.Unverifiable, g) && s.recorded[g] == tenure.AccessUnverifiable) {
			continue
		}
		add = append(add, g)
	}
	for _, g := range add {
		if err := c.AddToGroup(ctx, s.before.ID, g); err != nil {
			return entitlementSync{}, a.temporalError(ctx, req, err)
		}
	}
	for shown := s.before; ; shown = s.got {
		remove := s.unwanted(req, shown)
		for _, g := range remove {
			if err := c.RemoveFromGroup(ctx, s.before.ID, g); err != nil {
				return entitlementSync{}, a.temporalError(ctx, req, err)
			}
		}
		s.removed = append(s.removed, remove...)
		if s.got, err = integrations.GetWithGroups(ctx, c, s.before.ID, groups); err != nil {
			return entitlementSync{}, a.temporalError(ctx, req, err)
		}
		if known == nil || len(remove) > 0 || len(s.unwanted(req, s.got)) == 0 {
			break
		}
		known = nil // assumed once; what the app now shows is read
	}
	for _, g := range req.Entitlements {
		if !slices.Contains(s.got.Groups, g) && !slices.Contains(s.got.Unverifiable, g) {
			return entitlementSync{}, notVerified(ctx, req.App, "account %s is not in %q; the app shows %s", s.got.ID, g, groupList(s.got.Groups))
		}
	}
	for _, g := range s.removed {
		if slices.Contains(s.got.Groups, g) {
			return entitlementSync{}, notVerified(ctx, req.App, "account %s is still in %q", s.got.ID, g)
		}
	}
	return s, nil
}

// unwanted are the managed entitlements the account holds, as shown, that
// the request does not want and that were not removed already.
func (s entitlementSync) unwanted(req workflows.AccountRequest, shown integrations.Account) []string {
	var out []string
	for _, g := range s.managed {
		held := slices.Contains(shown.Groups, g) ||
			(slices.Contains(shown.Unverifiable, g) && s.recorded[g].Held())
		if held && !slices.Contains(req.Entitlements, g) && !slices.Contains(s.removed, g) {
			out = append(out, g)
		}
	}
	return out
}

// recordEntitlements logs the account and its grants as applyEntitlements
// left them, with their audit records and events.
func (a *Activities) recordEntitlements(ctx context.Context, req workflows.AccountRequest, s entitlementSync, log *stepLog) (workflows.AccountResult, error) {
	got := s.got
	res := a.result(req.App, got, s.before.Active)
	row, err := a.accountIn(ctx, log, req.EmployeeID, req.App)
	if err != nil {
		return res, err
	}
	a.writeAccount(log, req, got, row.Status, res)
	a.Outages.Recovered(req.App, req.EmployeeID)
	// The read model's grants move to what the app now holds, and each move is
	// published. Comparing with the read model rather than with what this attempt
	// changed means an attempt that died after changing the app still records and
	// publishes on its retry.
	for _, g := range req.Entitlements {
		status := tenure.AccessActive
		if !slices.Contains(got.Groups, g) {
			status = tenure.AccessUnverifiable
		}
		if s.recorded[g] == status {
			continue
		}
		a.writeGrant(ctx, log, req, g, status, "access.granted")
		if err := a.publishAccess(log, tenure.EventAccessGranted, req, got.ID, g, "access.granted", res); err != nil {
			return res, err
		}
	}
	for _, g := range s.managed {
		held := s.recorded[g].Held()
		removed := slices.Contains(s.removed, g)
		if !slices.Contains(req.Entitlements, g) && !removed && s.recorded[g] == tenure.AccessPending {
			// Asked for once, never shown by the app, and no longer wanted:
			// nothing to revoke, and nothing left to manage.
			log.grant(tenure.GrantRecord{EmployeeID: req.EmployeeID, App: req.App,
				Entitlement: g, Status: tenure.AccessDeleted, UpdatedAt: a.now()})
			continue
		}
		if slices.Contains(req.Entitlements, g) || (!removed && !held) {
			continue
		}
		a.writeGrant(ctx, log, req, g, tenure.AccessDeleted, "access.revoked")
		if err := a.publishAccess(log, tenure.EventAccessRevoked, req, got.ID, g, "access.revoked", res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// groupList names groups for a person reading an error.
func groupList(groups []string) string {
	if len(groups) == 0 {
		return "no groups"
	}
	return strconv.Quote(strings.Join(groups, ", "))
}

// EnableAccount re-enables the person's account and reads it back. In an app
// whose disable deletes the account (a SCIM app with no active attribute), the
// account and the memberships Tenure had given are created again.
func (a *Activities) EnableAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	return a.step(ctx, func(log *stepLog) (workflows.AccountResult, error) { return a.enableAccount(ctx, req, log) })
}

func (a *Activities) enableAccount(ctx context.Context, req workflows.AccountRequest, log *stepLog) (workflows.AccountResult, error) {
	c, err := a.connector(ctx, req.App)
	if err != nil {
		return workflows.AccountResult{}, err
	}
	acct, found, err := resolve(ctx, c, req)
	if err != nil {
		return workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	if found {
		return a.switchAccount(ctx, req, c, acct, true, log)
	}
	caps, err := a.capabilities(ctx, req.App, c)
	if err != nil {
		return workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	if !caps.Disable && caps.Delete {
		return a.recreate(ctx, req, log)
	}
	return a.gone(ctx, req, log)
}

// recreate gives back an account that disabling deleted: the account, then the
// memberships the read model says Tenure had given.
func (a *Activities) recreate(ctx context.Context, req workflows.AccountRequest, log *stepLog) (workflows.AccountResult, error) {
	req.Active, req.AccountID = true, ""
	res, err := a.createAccount(ctx, req, log)
	if err != nil {
		return res, err
	}
	grants, err := a.Store.ListGrants(ctx, req.EmployeeID)
	if err != nil {
		return res, err
	}
	var held []string
	for _, g := range grants {
		if g.App == req.App && g.Entitlement != "" && g.Status.Held() {
			held = append(held, g.Entitlement)
		}
	}
	if len(held) == 0 {
		return res, nil
	}
	req.AccountID, req.Entitlements, req.Managed = res.AccountID, held, held
	out, err := a.syncEntitlements(ctx, req, log)
	out.WasActive = false
	return out, err
}

// DisableAccount disables the person's account, revokes its sessions where the app
// can, and reads it back to verify that no active access is left. An app where the
// person has no account is reported as such.
func (a *Activities) DisableAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	return a.step(ctx, func(log *stepLog) (workflows.AccountResult, error) { return a.disableAccount(ctx, req, log) })
}

func (a *Activities) disableAccount(ctx context.Context, req workflows.AccountRequest, log *stepLog) (workflows.AccountResult, error) {
	c, acct, res, err := a.existing(ctx, req, log)
	if c == nil || err != nil {
		return res, err
	}
	if err := a.recordBefore(ctx, req, acct, workflows.OpDisableAccount); err != nil {
		return workflows.AccountResult{}, err
	}
	return a.switchAccount(ctx, req, c, acct, false, log)
}

// recordBefore keeps the account as it stands before a step takes it away:
// what the app shows now, and the entitlements the read model last verified.
// It runs before the step changes anything, and the store keeps the first
// record per step key, so the evidence of a leaver shows what the person had
// even when a retry finds the account already disabled.
func (a *Activities) recordBefore(ctx context.Context, req workflows.AccountRequest, acct integrations.Account, op string) error {
	row, err := a.account(ctx, req.EmployeeID, req.App)
	if err != nil {
		return err
	}
	status := tenure.AccessDisabled
	switch {
	case acct.Active:
		status = tenure.AccessActive
	case acct.Pending:
		status = tenure.AccessPending
	}
	return a.Store.RecordAccountBefore(ctx, tenure.AccountBefore{
		Key: req.Key, EmployeeID: req.EmployeeID, App: req.App, WorkflowID: workflowID(ctx), Operation: op,
		AccountID: acct.ID, UserName: acct.UserName, Status: status,
		Entitlements: row.Entitlements, EntitlementsVerifiedAt: row.VerifiedAt, ReadAt: a.now(),
	})
}

// switchAccount enables or disables acct, ends its sessions on disable where
// the app can, reads it back and records what it found.
func (a *Activities) switchAccount(ctx context.Context, req workflows.AccountRequest, c integrations.Connector, acct integrations.Account, active bool, log *stepLog) (workflows.AccountResult, error) {
	if acct.Active != active || (!active && acct.Pending) {
		if err := c.SetActive(ctx, acct.ID, active); err != nil {
			return workflows.AccountResult{}, a.temporalError(ctx, req, err)
		}
	}
	caps, err := a.capabilities(ctx, req.App, c)
	if err != nil {
		return workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	note := ""
	if !active {
		note = "this app cannot end sessions"
		if caps.RevokeSessions {
			if err := c.RevokeSessions(ctx, acct.ID); err != nil {
				return workflows.AccountResult{}, a.temporalError(ctx, req, err)
			}
			note = "sessions ended"
		}
	}
	got, err := c.Get(ctx, acct.ID)
	if !active && integrations.IsNotFound(err) {
		// The app keeps nothing of what was disabled (a cancelled invitation; a
		// SCIM app whose disable is a DELETE): gone is as disabled as it gets.
		got, err = integrations.Account{ID: acct.ID}, nil
	}
	if err != nil {
		return workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	switch {
	case active && !got.Active && !got.Pending:
		return workflows.AccountResult{}, notVerified(ctx, req.App, "account %s reads back active=false", got.ID)
	case !active && (got.Active || got.Pending):
		return workflows.AccountResult{}, notVerified(ctx, req.App, "account %s reads back active=%t, pending=%t", got.ID, got.Active, got.Pending)
	}
	if !caps.Disable {
		// The app cannot switch an account off and keep it (GitHub): disabling
		// removed the person, and enabling invites them back.
		if active {
			note = "invited again: this app cannot disable, so the lock removed the person"
		} else {
			note = "removed: this app cannot disable accounts; " + note
		}
	}
	a.Outages.Recovered(req.App, req.EmployeeID)
	res := a.result(req.App, got, acct.Active)
	res.Note = note
	status, action := tenure.AccessActive, "account.enabled"
	switch {
	case !active:
		status, action = tenure.AccessDisabled, "account.disabled"
	case !got.Active:
		status = tenure.AccessPending
	}
	a.writeAccount(log, req, got, status, res)
	detail := fmt.Sprintf("account %s was active=%t, now verified active=%t at %s",
		got.ID, acct.Active, got.Active, res.VerifiedAt.Format("2006-01-02T15:04:05.000Z07:00"))
	if note != "" {
		detail += "; " + note
	}
	a.logAudit(ctx, log, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: action,
		EmployeeID: req.EmployeeID, App: req.App, Detail: detail})
	typ := tenure.EventAccessRevoked
	if active {
		typ = tenure.EventAccessGranted
	}
	return res, a.publishAccess(log, typ, req, got.ID, "", action, res)
}

// DeleteAccount deletes the person's account and checks that it is gone. Where
// the app can, the person's data goes to their manager first. An account that is
// already gone counts as deleted. An app that cannot delete accounts keeps the
// account disabled, and says so.
func (a *Activities) DeleteAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	return a.step(ctx, func(log *stepLog) (workflows.AccountResult, error) { return a.deleteAccount(ctx, req, log) })
}

func (a *Activities) deleteAccount(ctx context.Context, req workflows.AccountRequest, log *stepLog) (workflows.AccountResult, error) {
	c, acct, res, err := a.existing(ctx, req, log)
	if err != nil {
		return res, err
	}
	if c == nil {
		return res, a.grantsGone(ctx, log, req, req.AccountID, res)
	}
	if err := a.recordBefore(ctx, req, acct, workflows.OpDeleteAccount); err != nil {
		return workflows.AccountResult{}, err
	}
	caps, err := a.capabilities(ctx, req.App, c)
	if err != nil {
		return workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	if !caps.Delete {
		return a.keepDisabled(ctx, req, c, acct, log)
	}
	note := ""
	if caps.TransferData {
		if note, err = a.transferData(ctx, req, c, acct, log); err != nil {
			return workflows.AccountResult{}, err
		}
	}
	if err := c.Delete(ctx, acct.ID); err != nil {
		return workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	if got, err := c.Get(ctx, acct.ID); !integrations.IsNotFound(err) {
		if err != nil {
			return workflows.AccountResult{}, a.temporalError(ctx, req, err)
		}
		// Where the app cannot disable, deleting removes the person from the
		// app while their identity lives on elsewhere (a GitHub user outside
		// the organisation): no access left is what deleted means there.
		if caps.Disable || got.Active || got.Pending {
			return workflows.AccountResult{}, notVerified(ctx, req.App, "account %s still exists after delete", acct.ID)
		}
	}
	a.Outages.Recovered(req.App, req.EmployeeID)
	res = workflows.AccountResult{App: req.App, AccountID: acct.ID, Found: true, WasActive: acct.Active, VerifiedAt: a.now(), Note: note}
	a.writeAccount(log, req, integrations.Account{ID: acct.ID}, tenure.AccessDeleted, res)
	if err := a.grantsGone(ctx, log, req, acct.ID, res); err != nil {
		return res, err
	}
	detail := fmt.Sprintf("account %s deleted, verified gone", acct.ID)
	if note != "" {
		detail += "; " + note
	}
	a.logAudit(ctx, log, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: "account.deleted",
		EmployeeID: req.EmployeeID, App: req.App, Detail: detail})
	return res, a.publishAccess(log, tenure.EventAccessRevoked, req, acct.ID, "", "account.deleted", res)
}

// transferData hands the leaver's data to their manager before the account goes.
// A leaver without a manager in HR keeps their data until the account is deleted;
// the note says so.
func (a *Activities) transferData(ctx context.Context, req workflows.AccountRequest, c integrations.Connector, acct integrations.Account, log *stepLog) (string, error) {
	if req.Person.ManagerID == "" {
		return "no manager to transfer data to", nil
	}
	mgr, err := a.Store.GetEmployee(ctx, req.Person.ManagerID)
	if tenure.ErrorCode(err) == tenure.ENOTFOUND || (err == nil && mgr.Email == "") {
		return "manager " + req.Person.ManagerID + " is unknown to Tenure; no data transferred", nil
	}
	if err != nil {
		return "", err
	}
	if err := c.TransferData(ctx, acct.ID, strings.ToLower(mgr.Email)); err != nil {
		return "", a.temporalError(ctx, req, err)
	}
	a.logAudit(ctx, log, tenure.AuditRecord{Key: req.Key + "/transfer", Actor: Actor, Action: "account.data_transferred",
		EmployeeID: req.EmployeeID, App: req.App,
		Detail: fmt.Sprintf("data of account %s transferred to manager %s", acct.ID, req.Person.ManagerID)})
	return "data transferred to manager " + req.Person.ManagerID, nil
}

// keepDisabled is phase 2 in an app that cannot delete accounts: the account
// stays, disabled, and the read model says why.
func (a *Activities) keepDisabled(ctx context.Context, req workflows.AccountRequest, c integrations.Connector, acct integrations.Account, log *stepLog) (workflows.AccountResult, error) {
	if acct.Active {
		if err := c.SetActive(ctx, acct.ID, false); err != nil {
			return workflows.AccountResult{}, a.temporalError(ctx, req, err)
		}
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil {
		return workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	if got.Active {
		return workflows.AccountResult{}, notVerified(ctx, req.App, "account %s reads back active=true", got.ID)
	}
	res := a.result(req.App, got, acct.Active)
	res.Note = "this app cannot delete accounts; left disabled"
	a.writeAccount(log, req, got, tenure.AccessDisabled, res)
	a.logAudit(ctx, log, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: "account.kept_disabled",
		EmployeeID: req.EmployeeID, App: req.App, Detail: fmt.Sprintf("account %s: %s", got.ID, res.Note)})
	return res, nil
}

// existing finds the person's account in the app for a step that changes it. A
// nil connector with a nil error means there is no account: res is then the
// step's whole result (see gone).
func (a *Activities) existing(ctx context.Context, req workflows.AccountRequest, log *stepLog) (integrations.Connector, integrations.Account, workflows.AccountResult, error) {
	c, err := a.connector(ctx, req.App)
	if err != nil {
		return nil, integrations.Account{}, workflows.AccountResult{}, err
	}
	acct, found, err := resolve(ctx, c, req)
	if err != nil {
		return nil, acct, workflows.AccountResult{}, a.temporalError(ctx, req, err)
	}
	if !found {
		res, err := a.gone(ctx, req, log)
		return nil, acct, res, err
	}
	return c, acct, workflows.AccountResult{}, nil
}

// gone handles an app in which the person has no account: nothing to take away.
func (a *Activities) gone(ctx context.Context, req workflows.AccountRequest, log *stepLog) (workflows.AccountResult, error) {
	res := workflows.AccountResult{App: req.App, VerifiedAt: a.now()}
	row, err := a.accountIn(ctx, log, req.EmployeeID, req.App)
	if err != nil {
		return res, err
	}
	if row.AccountID == "" && row.Status == tenure.AccessPending {
		// Never provisioned here: there is no row to keep.
		return res, nil
	}
	row.Status, row.Error, row.VerifiedAt, row.UpdatedAt = tenure.AccessDeleted, "", &res.VerifiedAt, res.VerifiedAt
	log.account(row)
	a.logAudit(ctx, log, tenure.AuditRecord{Key: req.Key, Actor: Actor, Action: "account.absent",
		EmployeeID: req.EmployeeID, App: req.App, Detail: "no account in the app, verified"})
	return res, nil
}

// grantsGone revokes, in the read model, the person's entitlements in an app
// whose account a delete found gone: no membership outlives its account, so
// none may go on showing as active or pending there. (A disable that finds
// the account gone keeps them: an unlock in an app whose disable deletes the
// account gives them back.)
func (a *Activities) grantsGone(ctx context.Context, log *stepLog, req workflows.AccountRequest, accountID string, res workflows.AccountResult) error {
	grants, err := a.Store.ListGrants(ctx, req.EmployeeID)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.App != req.App || g.Entitlement == "" || !g.Status.Granted() {
			continue
		}
		a.writeGrant(ctx, log, req, g.Entitlement, tenure.AccessDeleted, "access.revoked")
		if err := a.publishAccess(log, tenure.EventAccessRevoked, req, accountID, g.Entitlement, "access.revoked", res); err != nil {
			return err
		}
	}
	return nil
}

func (a *Activities) result(app string, acct integrations.Account, wasActive bool) workflows.AccountResult {
	return workflows.AccountResult{App: app, AccountID: acct.ID, Found: true, Active: acct.Active,
		WasActive: wasActive, Groups: acct.Groups, VerifiedAt: a.now()}
}

// writeAccount logs the person's account in the app as the step verified it.
func (a *Activities) writeAccount(log *stepLog, req workflows.AccountRequest, acct integrations.Account, status tenure.AccessStatus, res workflows.AccountResult) {
	ents := acct.Groups
	if ents == nil {
		ents = []string{}
	}
	verified := res.VerifiedAt
	log.account(tenure.Account{
		EmployeeID: req.EmployeeID, App: req.App, AccountID: acct.ID, Status: status,
		Entitlements: ents, VerifiedAt: &verified, UpdatedAt: verified,
	})
}

// writeGrant logs a grant's new state and its audit record.
func (a *Activities) writeGrant(ctx context.Context, log *stepLog, req workflows.AccountRequest, entitlement string, status tenure.AccessStatus, action string) {
	log.grant(tenure.GrantRecord{EmployeeID: req.EmployeeID, App: req.App,
		Entitlement: entitlement, Status: status, UpdatedAt: a.now()})
	a.logAudit(ctx, log, tenure.AuditRecord{Key: req.Key + "/" + entitlement, Actor: Actor, Action: action,
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
