package activities

import (
	"context"

	"github.com/tenure-io/tenure/workflows"
)

// ProvisionAccount is CreateAccount then SyncEntitlements, as one activity: a
// joiner's or mover's one step in an app. Each operation keeps the business
// key it has as a step of its own, so a retry repeats neither in the app nor
// in the audit trail.
func (a *Activities) ProvisionAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	res, err := a.CreateAccount(ctx, req.Step(workflows.OpCreateAccount))
	if err != nil {
		return res, err
	}
	sync := req.Step(workflows.OpSyncEntitlements)
	sync.AccountID = res.AccountID
	return a.SyncEntitlements(ctx, sync)
}

// RevokeAccount is DisableAccount then, where there is an account, a
// SyncEntitlements that removes every entitlement Tenure manages, as one
// activity: a mover's step in an app the new role no longer gives. WasActive
// says whether the account was active before it was disabled.
func (a *Activities) RevokeAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	res, err := a.DisableAccount(ctx, req.Step(workflows.OpDisableAccount))
	if err != nil || !res.Found {
		return res, err
	}
	sync := req.Step(workflows.OpSyncEntitlements)
	sync.AccountID, sync.Entitlements = res.AccountID, nil
	out, err := a.SyncEntitlements(ctx, sync)
	out.WasActive = res.WasActive
	return out, err
}
