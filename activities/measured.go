package activities

import (
	"context"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// Metrics is what the activities tell Prometheus (internal/metrics.Registry).
type Metrics interface {
	// RunFinished counts a lifecycle run the read model records; one still
	// running counts nothing.
	RunFinished(r tenure.Run)
	// AppCall counts one call into an app: its connector operation, how long it
	// took and how it ended.
	AppCall(app, operation string, took time.Duration, err error)
}

// measured is a connector whose every call is counted and timed. The
// activities reach apps only through it (connector), so no call goes
// uncounted. It keeps the optional connector interfaces: GetWithGroups,
// LookupUser and ListPages fall back, as the integrations helpers do, when the
// app's connector has no such method.
type measured struct {
	app     string
	c       integrations.Connector
	metrics Metrics
}

var (
	_ integrations.GroupReader = measured{}
	_ integrations.UserLookup  = measured{}
	_ integrations.PageLister  = measured{}
)

// measure counts and times one call of operation op.
func measure[T any](m measured, op string, call func() (T, error)) (T, error) {
	start := time.Now()
	v, err := call()
	m.metrics.AppCall(m.app, op, time.Since(start), err)
	return v, err
}

// measureErr is measure for a call that returns only an error.
func measureErr(m measured, op string, call func() error) error {
	_, err := measure(m, op, func() (struct{}, error) { return struct{}{}, call() })
	return err
}

func (m measured) Capabilities(ctx context.Context) (integrations.Capabilities, error) {
	return measure(m, "Capabilities", func() (integrations.Capabilities, error) { return m.c.Capabilities(ctx) })
}

func (m measured) Lookup(ctx context.Context, externalID, userName string) (integrations.Account, error) {
	return measure(m, "Lookup", func() (integrations.Account, error) { return m.c.Lookup(ctx, externalID, userName) })
}

func (m measured) LookupUser(ctx context.Context, u integrations.User) (integrations.Account, error) {
	return measure(m, "Lookup", func() (integrations.Account, error) { return integrations.LookupUser(ctx, m.c, u) })
}

func (m measured) Get(ctx context.Context, id string) (integrations.Account, error) {
	return measure(m, "Get", func() (integrations.Account, error) { return m.c.Get(ctx, id) })
}

func (m measured) GetWithGroups(ctx context.Context, id string, groups []string) (integrations.Account, error) {
	return measure(m, "Get", func() (integrations.Account, error) { return integrations.GetWithGroups(ctx, m.c, id, groups) })
}

func (m measured) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	return measure(m, "Create", func() (integrations.Account, error) { return m.c.Create(ctx, u) })
}

func (m measured) SetActive(ctx context.Context, id string, active bool) error {
	return measureErr(m, "SetActive", func() error { return m.c.SetActive(ctx, id, active) })
}

func (m measured) Delete(ctx context.Context, id string) error {
	return measureErr(m, "Delete", func() error { return m.c.Delete(ctx, id) })
}

func (m measured) AddToGroup(ctx context.Context, id, group string) error {
	return measureErr(m, "AddToGroup", func() error { return m.c.AddToGroup(ctx, id, group) })
}

func (m measured) RemoveFromGroup(ctx context.Context, id, group string) error {
	return measureErr(m, "RemoveFromGroup", func() error { return m.c.RemoveFromGroup(ctx, id, group) })
}

func (m measured) RevokeSessions(ctx context.Context, id string) error {
	return measureErr(m, "RevokeSessions", func() error { return m.c.RevokeSessions(ctx, id) })
}

func (m measured) TransferData(ctx context.Context, id, toUserName string) error {
	return measureErr(m, "TransferData", func() error { return m.c.TransferData(ctx, id, toUserName) })
}

func (m measured) List(ctx context.Context, fn func(integrations.Account) bool) error {
	return measureErr(m, "List", func() error { return m.c.List(ctx, fn) })
}

func (m measured) ListPages(ctx context.Context, cursor string, page func([]integrations.Account, string) bool) error {
	return measureErr(m, "List", func() error { return integrations.ListPages(ctx, m.c, cursor, page) })
}
