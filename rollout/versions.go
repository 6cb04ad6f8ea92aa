// Package rollout makes the access policy versioned, deployable state: every
// deployed policy is an immutable version named by its content hash, a plan
// compares a new version with the access Tenure recorded for everyone, and a
// deploy starts a rollout that re-evaluates each affected person through their
// own workflow, once the blast-radius guard lets it. It reads and writes the
// read model through tenure's store interfaces and starts rollouts through
// tenure.RolloutEngine, so it imports neither GORM nor Temporal.
package rollout

import (
	"context"
	"fmt"
	"sync"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/policy"
)

// Parser loads a policy's text as this process must: the API to check and
// plan it, a worker to run it (with its sandbox apps' addresses). file names
// the policy in errors.
type Parser func(file string, data []byte) (*policy.Policy, error)

// keepParsed bounds how many parsed versions a Versions keeps.
const keepParsed = 8

// Versions reads which version is in force and keeps every version it parsed,
// by hash, so that a process parses each version once. Asking costs one small
// read of the store, which is what makes every process evaluate the version
// in force and no other. It is safe for concurrent use.
type Versions struct {
	store tenure.PolicyStore
	parse Parser

	mu     sync.Mutex
	parsed map[string]*policy.Policy
}

// NewVersions returns a Versions over store that parses with parse.
func NewVersions(store tenure.PolicyStore, parse Parser) *Versions {
	return &Versions{store: store, parse: parse, parsed: map[string]*policy.Policy{}}
}

// Active returns the hash of the version in force and its policy: ENOTFOUND
// before the first deploy.
func (v *Versions) Active(ctx context.Context) (string, *policy.Policy, error) {
	hash, err := v.store.ActiveVersion(ctx)
	if err != nil {
		return "", nil, err
	}
	pol, err := v.Get(ctx, hash)
	return hash, pol, err
}

// ActivePolicy returns the policy in force: ENOTFOUND before the first
// deploy. The blast-radius guard reads its threshold from it.
func (v *Versions) ActivePolicy(ctx context.Context) (*policy.Policy, error) {
	_, pol, err := v.Active(ctx)
	return pol, err
}

// Get returns the policy of one version, parsing it the first time.
func (v *Versions) Get(ctx context.Context, hash string) (*policy.Policy, error) {
	v.mu.Lock()
	pol, ok := v.parsed[hash]
	v.mu.Unlock()
	if ok {
		return pol, nil
	}
	ver, err := v.store.GetPolicyVersion(ctx, hash)
	if err != nil {
		return nil, err
	}
	pol, err = v.parse(versionFile(hash), []byte(ver.YAML))
	if err != nil {
		return nil, fmt.Errorf("policy version %s does not load here: %w", short(hash), err)
	}
	v.keep(hash, pol)
	return pol, nil
}

// keep remembers a parsed version, forgetting another when there are too many.
func (v *Versions) keep(hash string, pol *policy.Policy) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.parsed) >= keepParsed {
		for h := range v.parsed {
			delete(v.parsed, h)
			break
		}
	}
	v.parsed[hash] = pol
}

// versionFile is how errors name a stored version.
func versionFile(hash string) string { return "policy " + short(hash) }

// short is the first 12 characters of a hash, as people read it.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
