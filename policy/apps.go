package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/tenure-io/tenure/integrations"
)

// What reconciliation may do with an account nobody in HR owns (an app's
// orphans key).
const (
	OrphansReport  = "report"  // list it for IT; the default
	OrphansDisable = "disable" // switch it off
)

var (
	appName = regexp.MustCompile(`^[a-z0-9-]+$`)
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// sandboxConnector is the only kind the dev sandbox serves.
const sandboxConnector = "scim"

// commonKeys are the keys every app has, whatever its kind; a kind's Spec adds
// its own.
var commonKeys = []string{"name", "connector", "sandbox", "owner", "settings",
	"max_concurrent", "rate", "give_up_after", "ignore", "orphans", "reconcile"}

// The suffixes by which the policy names where a secret key's value is: the
// value itself never goes in the file, which is read by more people, and kept
// longer, than the secret should be.
const (
	envSuffix  = "_env"
	fileSuffix = "_file"
)

// apps reads the apps list. What an app may and must have depends on its
// connector's Spec, so the kind is read before the rest.
func (p *parser) apps(n ast.Node) []app {
	items, ok := p.sequence(n, "apps")
	if !ok {
		return nil
	}
	var apps []app
	lines := map[string]int{}
	for _, item := range items {
		// The keys an app may have depend on its connector, so they are
		// checked once the connector is known.
		f, ok := p.mapping(item, "an app")
		if !ok {
			continue
		}
		a := app{AppConfig: integrations.AppConfig{
			Orphans: OrphansReport,
			Limits:  integrations.Limits{GiveUpAfter: integrations.DefaultGiveUpAfter},
		}}
		if v, ok := f["name"]; !ok {
			p.errorf(item, "an app needs a name")
			continue
		} else if a.Name, ok = p.name(v.val, "app name"); !ok {
			continue
		} else if !appName.MatchString(a.Name) {
			// Keep going: the name is still what rules refer to, and a second
			// error about every grant of it would only be noise.
			p.errorf(v.val, "app name %q may only hold lowercase letters, digits and '-'", a.Name)
		} else if first, dup := lines[a.Name]; dup {
			p.errorf(v.val, "duplicate app name %q (first at line %d)", a.Name, first)
			continue
		}
		lines[a.Name] = line(f["name"].val)

		if v, ok := f["connector"]; !ok {
			p.errorf(item, "app %q needs a connector (one of: %s)", a.Name, strings.Join(p.kinds, ", "))
		} else if a.Connector, ok = p.name(v.val, "connector"); ok {
			if a.spec = p.spec(a.Connector); a.spec == nil {
				p.errorf(v.val, "app %q: unknown connector %q; known connectors: %s", a.Name, a.Connector, strings.Join(p.kinds, ", "))
			}
		}
		if a.spec != nil {
			p.knownKeys(f, a.spec)
		}
		p.common(f, &a)
		sandboxKnown := true
		if v, ok := f["sandbox"]; ok {
			if a.sandbox, sandboxKnown = p.boolean(v.val, "sandbox"); sandboxKnown && a.sandbox && a.Connector != "" && a.Connector != sandboxConnector {
				p.errorf(v.val, "app %q: the sandbox only serves %s apps, not %s", a.Name, sandboxConnector, a.Connector)
			}
		}
		// Which keys are needed depends on the kind and on whether the app is
		// a sandbox; when either is unknown, saying more would only guess.
		if a.spec != nil && sandboxKnown {
			p.kindKeys(item, f, &a)
		}
		apps = append(apps, a)
	}
	return apps
}

// spec returns a copy of the Spec of kind, or nil when the caller of Parse
// knows none. A copy, so the policy stays what was parsed.
func (p *parser) spec(kind string) *integrations.Spec {
	for _, s := range p.specs {
		if s.Kind == kind {
			s.Keys = slices.Clone(s.Keys)
			return &s
		}
	}
	return nil
}

// knownKeys refuses the keys that neither every app nor the app's kind has.
func (p *parser) knownKeys(f map[string]field, spec *integrations.Spec) {
	known := slices.Clone(commonKeys)
	for _, k := range spec.Keys {
		if k.Secret {
			known = append(known, k.Name+envSuffix, k.Name+fileSuffix)
		} else {
			known = append(known, k.Name)
		}
	}
	for _, name := range keysInOrder(f) {
		if slices.Contains(known, name) {
			continue
		}
		// A secret written out is reported by kindKeys, with what to write instead.
		if slices.ContainsFunc(spec.Keys, func(k integrations.Key) bool { return k.Secret && k.Name == name }) {
			continue
		}
		p.errorf(f[name].key, "unknown key %q in an app (connector %s); known keys: %s", name, spec.Kind, strings.Join(known, ", "))
	}
}

// common reads the keys every app has, besides name, connector and sandbox.
func (p *parser) common(f map[string]field, a *app) {
	if v, ok := f["owner"]; ok {
		a.Owner, _ = p.name(v.val, "owner")
	}
	if v, ok := f["settings"]; ok {
		a.Settings = p.settings(v.val)
	}
	if v, ok := f["max_concurrent"]; ok {
		if s, ok := p.str(v.val, "max_concurrent"); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				p.errorf(v.val, "app %q: max_concurrent must be a whole number above 0, not %q", a.Name, s)
			}
			a.Limits.MaxConcurrent = max(n, 0)
		}
	}
	if v, ok := f["rate"]; ok {
		if s, ok := p.str(v.val, "rate"); ok {
			r, err := parseRate(s, "calls")
			if err != nil {
				p.errorf(v.val, "app %q: bad rate %q: %v", a.Name, s, err)
			}
			a.Limits.Rate = r
		}
	}
	if v, ok := f["give_up_after"]; ok {
		if d, ok := p.duration(v.val, fmt.Sprintf("app %q: give_up_after", a.Name)); ok {
			a.Limits.GiveUpAfter = d
		}
	}
	if v, ok := f["ignore"]; ok {
		items, _ := p.sequence(v.val, "ignore")
		for _, item := range items {
			s, ok := p.name(item, "an ignore pattern")
			if !ok {
				continue
			}
			if _, err := path.Match(s, ""); err != nil {
				p.errorf(item, "app %q: bad ignore pattern %q; use a glob such as svc-* or *@robots.example.com", a.Name, s)
				continue
			}
			a.Ignore = append(a.Ignore, s)
		}
	}
	if v, ok := f["orphans"]; ok {
		if s, ok := p.name(v.val, "orphans"); ok {
			if s != OrphansReport && s != OrphansDisable {
				p.errorf(v.val, "app %q: orphans must be %s or %s, not %q", a.Name, OrphansReport, OrphansDisable, s)
			}
			a.Orphans = s
		}
	}
	p.appReconcile(f, a)
}

// rateUnits are the units a rate may be given in, in seconds.
var rateUnits = map[string]float64{"s": 1, "m": 60, "h": 3600}

// parseRate reads what (calls, people) per unit of time ("10/s", "600/m",
// "5/h") as what per second, which is how Temporal bounds a task queue.
func parseRate(s, what string) (float64, error) {
	num, unit, ok := strings.Cut(s, "/")
	if n, err := strconv.ParseFloat(s, 64); !ok && err == nil && n > 0 && !math.IsInf(n, 0) {
		// Per second is a guess; per minute as likely. Ask rather than guess.
		return 0, fmt.Errorf("give it a unit: %s/s, %s/m or %s/h", s, s, s)
	}
	secs, known := rateUnits[strings.TrimSpace(unit)]
	if !ok || !known {
		return 0, fmt.Errorf("write %s per second, minute or hour, such as 10/s, 600/m or 5/h", what)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("write %s per second, minute or hour, such as 10/s, 600/m or 5/h", what)
	}
	if n <= 0 {
		return 0, errors.New("must be more than 0")
	}
	return n / secs, nil
}

// kindKeys reads the keys of the app's kind into Params and Secrets. A sandbox
// app gets where it lives and its token from `tenure dev`, so giving any of
// them there is a mistake worth pointing out.
func (p *parser) kindKeys(item ast.Node, f map[string]field, a *app) {
	for _, k := range a.spec.Keys {
		if !k.Secret {
			v, ok := f[k.Name]
			switch {
			case ok && a.sandbox:
				p.errorf(v.key, "app %q is a sandbox app, which tenure dev serves itself: remove %s or set sandbox: false", a.Name, k.Name)
			case ok:
				p.param(v, k.Name, a)
			case k.Required && !a.sandbox:
				p.errorf(item, "app %q needs a %s%s", a.Name, k.Name, sandboxHint(a))
			}
			continue
		}
		v, inline := f[k.Name]
		if inline {
			// The value is not echoed: it may well be the secret.
			p.errorf(v.key, "app %q: %s is a secret and never goes in the policy; give %s%s (an environment variable) or %s%s (a file) instead",
				a.Name, k.Name, k.Name, envSuffix, k.Name, fileSuffix)
		}
		env, hasEnv := f[k.Name+envSuffix]
		file, hasFile := f[k.Name+fileSuffix]
		switch {
		case a.sandbox:
			for _, given := range []field{env, file} {
				if given.key != nil {
					s, _ := scalar(given.key)
					p.errorf(given.key, "app %q is a sandbox app, which tenure dev serves itself: remove %s or set sandbox: false", a.Name, s)
				}
			}
		case hasEnv && hasFile:
			p.errorf(file.key, "app %q: give %s%s or %s%s, not both", a.Name, k.Name, envSuffix, k.Name, fileSuffix)
		case hasEnv:
			p.secretEnv(env, k.Name, a)
		case hasFile:
			p.secretFile(file, k.Name, a)
		case k.Required && !inline: // the inline secret's error says what to write
			p.errorf(item, "app %q needs a %s%s or %s%s", a.Name, k.Name, envSuffix, k.Name, fileSuffix)
		}
	}
}

func sandboxHint(a *app) string {
	if a.Connector == sandboxConnector {
		return " (or sandbox: true)"
	}
	return ""
}

// param reads a plain key of the app's kind. base_url and url also give the
// app's BaseURL, which people read and which connectors written before Params
// use; they must be absolute URLs.
func (p *parser) param(v field, key string, a *app) {
	s, ok := p.name(v.val, key)
	if !ok {
		return
	}
	if key == "base_url" || key == "url" {
		u, err := url.Parse(s)
		web := u != nil && (u.Scheme == "http" || u.Scheme == "https")
		if err != nil || u.Scheme == "" || web && u.Host == "" {
			p.errorf(v.val, "app %q: %s %q is not an absolute URL such as https://example.com/scim/v2", a.Name, key, s)
			return
		}
		a.BaseURL = strings.TrimRight(s, "/")
	}
	a.Params = set(a.Params, key, s)
}

// secretEnv reads a secret from the environment variable v names. Errors name
// the variable, never its value.
func (p *parser) secretEnv(v field, key string, a *app) {
	name, ok := p.name(v.val, key+envSuffix)
	if !ok {
		return
	}
	if !envName.MatchString(name) {
		p.errorf(v.val, "app %q: %s%s %q is not an environment variable name", a.Name, key, envSuffix, name)
		return
	}
	s := p.getenv(name)
	if s == "" {
		p.errorf(v.val, "app %q: environment variable %s (its %s%s) is not set or empty", a.Name, name, key, envSuffix)
		return
	}
	p.setSecret(a, key, s)
}

// secretFile reads a secret from the file v names, as Kubernetes and Docker
// mount them: the trailing newline that editors and `echo` add is dropped.
// Errors name the file, never what is in it.
func (p *parser) secretFile(v field, key string, a *app) {
	name, ok := p.name(v.val, key+fileSuffix)
	if !ok {
		return
	}
	// Relative to what would depend on where Tenure was started.
	if !filepath.IsAbs(name) {
		p.errorf(v.val, "app %q: %s%s %q must be an absolute path", a.Name, key, fileSuffix, name)
		return
	}
	s, err := readSecretFile(name)
	if err != nil {
		p.errorf(v.val, "app %q: cannot read %s (its %s%s): %v", a.Name, name, key, fileSuffix, err)
		return
	}
	if s == "" {
		p.errorf(v.val, "app %q: file %s (its %s%s) is empty", a.Name, name, key, fileSuffix)
		return
	}
	p.setSecret(a, key, s)
}

// maxSecretFile bounds a secret file: a token or a key is a few kilobytes, and
// a path to something endless must not hang the load.
const maxSecretFile = 64 << 10

// readSecretFile returns the file's text without its trailing newlines. Its
// errors carry the reason only, as the caller names the file.
func readSecretFile(name string) (string, error) {
	// Stat before opening: opening a named pipe would wait for a writer.
	st, err := os.Stat(name)
	if err != nil {
		return "", reason(err)
	}
	if !st.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	f, err := os.Open(name)
	if err != nil {
		return "", reason(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", reason(err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("larger than %d KiB, which no secret is", maxSecretFile>>10)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// reason drops the operation and path from a file error.
func reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// setSecret records a secret; the token secret is also the app's Token, which
// connectors written before Secrets use.
func (p *parser) setSecret(a *app, key, s string) {
	a.Secrets = set(a.Secrets, key, s)
	if key == "token" {
		a.Token = s
	}
}

func (p *parser) settings(n ast.Node) map[string]string {
	f, ok := p.mapping(n, "settings")
	if !ok || len(f) == 0 {
		return nil
	}
	out := make(map[string]string, len(f))
	for _, k := range keysInOrder(f) {
		if s, ok := p.str(f[k].val, "setting "+k); ok {
			out[k] = s
		}
	}
	return out
}

// set returns m with k set to v, allocating m when it is nil.
func set(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// appConfig returns a's config with its own copies of the maps and lists, so
// callers cannot change the policy through them.
func (a app) appConfig() integrations.AppConfig {
	c := a.AppConfig
	c.Settings = maps.Clone(a.Settings)
	c.Params = maps.Clone(a.Params)
	c.Secrets = maps.Clone(a.Secrets)
	c.Ignore = slices.Clone(a.Ignore)
	return c
}
