package worker

import (
	"context"
	"reflect"
	"sync"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/rollout"
)

// Live is the access policy as a worker runs it: the version in force in the
// read model, asked for before every evaluation, so that every worker
// evaluates the same version, and parsed once per version. When a version
// comes into force it builds the connectors of the apps that version adds or
// changes (an app's connector is kept while its settings stay the same), and
// calls its OnLoad hooks, with which the process serves new sandbox apps and starts the
// task queues of newly limited apps (see OnLoad). An app that a later version drops keeps
// its connector, so that work begun under an older version can finish. It is
// safe for concurrent use.
type Live struct {
	versions *rollout.Versions

	// load serialises putting a new version to use, and the hooks.
	load  sync.Mutex
	hooks []func(*policy.Policy)
	mu    sync.Mutex
	hash  string
	pol   *policy.Policy
	// apps holds every app of every version loaded, as the latest of them
	// that names it configures it.
	apps map[string]liveApp
}

type liveApp struct {
	cfg  integrations.AppConfig
	conn integrations.Connector
}

var _ activities.Policies = (*Live)(nil)

// NewLive returns a Live over store, parsing versions with parse (which gives
// sandbox apps their addresses in this process).
func NewLive(store tenure.PolicyStore, parse rollout.Parser) *Live {
	return &Live{versions: rollout.NewVersions(store, parse), apps: map[string]liveApp{}}
}

// OnLoad adds a hook that is told of every version this worker puts to use,
// one version at a time, starting with the one in use now, if any.
func (l *Live) OnLoad(fn func(*policy.Policy)) {
	l.load.Lock()
	defer l.load.Unlock()
	l.hooks = append(l.hooks, fn)
	l.mu.Lock()
	pol := l.pol
	l.mu.Unlock()
	if pol != nil {
		fn(pol)
	}
}

// Current returns the policy in force, putting it to use first when it is new
// to this worker.
func (l *Live) Current(ctx context.Context) (*policy.Policy, error) {
	hash, pol, err := l.versions.Active(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	same := hash == l.hash
	l.mu.Unlock()
	if same {
		return pol, nil
	}
	return pol, l.use(hash, pol)
}

// use builds the connectors of a version's new or changed apps and makes it
// the version this worker runs.
func (l *Live) use(hash string, pol *policy.Policy) error {
	l.load.Lock()
	defer l.load.Unlock()
	l.mu.Lock()
	if l.hash == hash {
		l.mu.Unlock()
		return nil
	}
	old := l.apps
	l.mu.Unlock()
	built, err := connectorsFor(pol, old)
	if err != nil {
		return err
	}
	l.mu.Lock()
	apps := make(map[string]liveApp, len(old)+len(built))
	for name, a := range old {
		apps[name] = a
	}
	for name, a := range built {
		apps[name] = a
	}
	l.hash, l.pol, l.apps = hash, pol, apps
	l.mu.Unlock()
	for _, fn := range l.hooks {
		fn(pol)
	}
	return nil
}

// connectorsFor returns a connector per app of pol, keeping the one in old of
// an app whose settings have not changed.
func connectorsFor(pol *policy.Policy, old map[string]liveApp) (map[string]liveApp, error) {
	out := map[string]liveApp{}
	var fresh []integrations.AppConfig
	for _, cfg := range pol.Apps() {
		if a, ok := old[cfg.Name]; ok && reflect.DeepEqual(a.cfg, cfg) {
			out[cfg.Name] = a
			continue
		}
		fresh = append(fresh, cfg)
	}
	conns, err := build(fresh)
	if err != nil {
		return nil, err
	}
	for _, cfg := range fresh {
		out[cfg.Name] = liveApp{cfg: cfg, conn: conns[cfg.Name]}
	}
	return out, nil
}

// Load returns the policy of one version, once its connectors build here: a
// version that fails to is one this worker cannot run.
func (l *Live) Load(ctx context.Context, version string) (*policy.Policy, error) {
	pol, err := l.versions.Get(ctx, version)
	if err != nil {
		return nil, err
	}
	if _, err := Connectors(pol); err != nil {
		return nil, tenure.Errorf(tenure.EINVALID, "%v", err)
	}
	return pol, nil
}

// App returns an app's settings and connector, putting the version in force
// to use first when the app is new to this worker.
func (l *Live) App(ctx context.Context, name string) (integrations.AppConfig, integrations.Connector, error) {
	if a, ok := l.app(name); ok {
		return a.cfg, a.conn, nil
	}
	if _, err := l.Current(ctx); err != nil {
		return integrations.AppConfig{}, nil, err
	}
	if a, ok := l.app(name); ok {
		return a.cfg, a.conn, nil
	}
	return integrations.AppConfig{}, nil, tenure.Errorf(tenure.ENOTFOUND, "app %q is not configured in the policy", name)
}

func (l *Live) app(name string) (liveApp, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.apps[name]
	return a, ok
}

// Snapshot returns the policy this worker runs now and its apps' connectors,
// without asking the store, for the loop that checks the apps' health.
func (l *Live) Snapshot() (*policy.Policy, map[string]integrations.Connector) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pol == nil {
		return nil, nil
	}
	conns := map[string]integrations.Connector{}
	for _, cfg := range l.pol.Apps() {
		conns[cfg.Name] = l.apps[cfg.Name].conn
	}
	return l.pol, conns
}
