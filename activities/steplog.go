package activities

import (
	"context"
	"slices"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// A step in an app (CreateAccount, SyncEntitlements, ProvisionAccount and the
// rest), and RecordEmployee, keeps what it records in the read model and what
// it publishes in a stepLog, and writes it all when it ends
// (Activities.write): in one transaction, then in one Publish. One statement
// at a time, a joiner's step in an app cost eight transactions and two reads
// of the subscriptions.
//
// A step writes its log whether it succeeded or not: what it verified before
// it failed is as true as ever. A worker that dies in a step writes nothing of
// it; the step's retry comes before any other change to the person (their
// workflow makes one change at a time), finds in the app what the dead attempt
// did, and records it.

// stepLog is what one step records and publishes, in order. An account or a
// grant written twice in a step is kept as last written.
type stepLog struct {
	writes tenure.StepWrites
	events []tenure.OutboundEvent
}

func (l *stepLog) account(acct tenure.Account) {
	l.writes.Accounts = put(l.writes.Accounts, acct, sameAccount(acct.EmployeeID, acct.App))
}

func (l *stepLog) grant(g tenure.GrantRecord) {
	l.writes.Grants = put(l.writes.Grants, g, func(r tenure.GrantRecord) bool {
		return r.EmployeeID == g.EmployeeID && r.App == g.App && r.Entitlement == g.Entitlement
	})
}

// accountOf is the person's account in app as the step has written it, if it
// has.
func (l *stepLog) accountOf(employeeID, app string) (tenure.Account, bool) {
	i := slices.IndexFunc(l.writes.Accounts, sameAccount(employeeID, app))
	if i < 0 {
		return tenure.Account{}, false
	}
	return l.writes.Accounts[i], true
}

func sameAccount(employeeID, app string) func(tenure.Account) bool {
	return func(a tenure.Account) bool { return a.EmployeeID == employeeID && a.App == app }
}

// put replaces the element of list that same picks out with v, or appends v.
func put[T any](list []T, v T, same func(T) bool) []T {
	if i := slices.IndexFunc(list, same); i >= 0 {
		list[i] = v
		return list
	}
	return append(list, v)
}

// step runs one step with a log, and writes the log.
func (a *Activities) step(ctx context.Context, run func(*stepLog) (workflows.AccountResult, error)) (workflows.AccountResult, error) {
	log := &stepLog{}
	res, err := run(log)
	return res, a.write(ctx, log, err)
}

// write records log in the read model, then publishes its events, and empties
// it. It returns stepErr, the error of the step that kept the log, when there
// is one (the log is written all the same), else the write's.
func (a *Activities) write(ctx context.Context, log *stepLog, stepErr error) error {
	err := a.Store.WriteStep(ctx, log.writes)
	if err == nil && a.Publisher != nil && len(log.events) > 0 {
		err = a.Publisher.Publish(ctx, log.events...)
	}
	*log = stepLog{}
	if stepErr != nil {
		if err != nil {
			a.logger().Warn("a failed step's records were not written", "error", err)
		}
		return stepErr
	}
	return err
}

// accountIn is the person's account in app as the step has written it, else
// as the read model has it.
func (a *Activities) accountIn(ctx context.Context, log *stepLog, employeeID, app string) (tenure.Account, error) {
	if acct, ok := log.accountOf(employeeID, app); ok {
		return acct, nil
	}
	return a.account(ctx, employeeID, app)
}
