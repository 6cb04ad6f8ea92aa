package activities

import (
	"context"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/policy"
)

// Policies is the access policy as the activities use it: the version in
// force, and each app's settings and connector. worker.Live follows the
// version in force in the read model; Static is one policy for good.
type Policies interface {
	// Current is the policy of the version in force now, so that every worker
	// evaluates the same version.
	Current(ctx context.Context) (*policy.Policy, error)
	// Load is the policy of one version, as this worker would run it: an
	// error means the version cannot be put in force here.
	Load(ctx context.Context, version string) (*policy.Policy, error)
	// App is one app's settings and connector, under the latest version this
	// worker has loaded (the version in force when the app is new to it);
	// ENOTFOUND when no version names it.
	App(ctx context.Context, name string) (integrations.AppConfig, integrations.Connector, error)
}

// Static is a policy that never changes, with a connector per app, for tests
// and benchmarks. Connectors may hold apps the policy does not name.
type Static struct {
	Policy     *policy.Policy
	Connectors map[string]integrations.Connector
}

// Current returns the policy.
func (s Static) Current(context.Context) (*policy.Policy, error) {
	if s.Policy == nil {
		return nil, tenure.Errorf(tenure.ENOTFOUND, "no policy has been deployed yet")
	}
	return s.Policy, nil
}

// Load returns the policy when it is the version asked for.
func (s Static) Load(_ context.Context, version string) (*policy.Policy, error) {
	if s.Policy == nil || s.Policy.Digest() != version {
		return nil, tenure.Errorf(tenure.ENOTFOUND, "policy version %q not found", version)
	}
	return s.Policy, nil
}

// App returns the app's settings (when the policy names it) and connector.
func (s Static) App(_ context.Context, name string) (integrations.AppConfig, integrations.Connector, error) {
	c, ok := s.Connectors[name]
	if !ok {
		return integrations.AppConfig{}, nil, tenure.Errorf(tenure.ENOTFOUND, "app %q is not configured in the policy", name)
	}
	var cfg integrations.AppConfig
	if s.Policy != nil {
		cfg, _ = s.Policy.App(name)
	}
	return cfg, c, nil
}
