package policy

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/tenure-io/tenure/integrations"
)

var (
	appName = regexp.MustCompile(`^[a-z0-9-]+$`)
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// sandboxConnector is the only kind the dev sandbox serves.
const sandboxConnector = "scim"

func (p *parser) apps(n ast.Node) []app {
	items, ok := p.sequence(n, "apps")
	if !ok {
		return nil
	}
	var apps []app
	lines := map[string]int{}
	for _, item := range items {
		f, ok := p.mapping(item, "an app", "name", "connector", "sandbox", "owner", "base_url", "token_env", "settings")
		if !ok {
			continue
		}
		var a app
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
			p.errorf(item, "app %q needs a connector (one of: %s)", a.Name, strings.Join(p.connectors, ", "))
		} else if a.Connector, ok = p.name(v.val, "connector"); ok && !slices.Contains(p.connectors, a.Connector) {
			p.errorf(v.val, "app %q: unknown connector %q; known connectors: %s", a.Name, a.Connector, strings.Join(p.connectors, ", "))
		}
		if v, ok := f["sandbox"]; ok {
			if a.sandbox, ok = p.boolean(v.val, "sandbox"); !ok {
				// Whether base_url is needed is unknown, so say nothing about it.
				apps = append(apps, a)
				continue
			}
			if a.sandbox && a.Connector != "" && a.Connector != sandboxConnector {
				p.errorf(v.val, "app %q: the sandbox only serves %s apps, not %s", a.Name, sandboxConnector, a.Connector)
			}
		}
		if v, ok := f["owner"]; ok {
			a.Owner, _ = p.name(v.val, "owner")
		}
		if v, ok := f["settings"]; ok {
			a.Settings = p.settings(v.val)
		}
		p.endpoint(item, f, &a)
		apps = append(apps, a)
	}
	return apps
}

// endpoint reads where a real app lives and its token; a sandbox app gets both
// from `tenure dev`, so giving them there is a mistake worth pointing out.
func (p *parser) endpoint(item ast.Node, f map[string]field, a *app) {
	u, hasURL := f["base_url"]
	t, hasToken := f["token_env"]
	if a.sandbox {
		if hasURL {
			p.errorf(u.key, "app %q is a sandbox app, which tenure dev serves itself: remove base_url or set sandbox: false", a.Name)
		}
		if hasToken {
			p.errorf(t.key, "app %q is a sandbox app, which tenure dev serves itself: remove token_env or set sandbox: false", a.Name)
		}
		return
	}
	if !hasURL {
		p.errorf(item, "app %q needs a base_url (or sandbox: true)", a.Name)
	} else if s, ok := p.name(u.val, "base_url"); ok {
		parsed, err := url.Parse(s)
		if err != nil || parsed.Scheme == "" || parsed.Host == "" {
			p.errorf(u.val, "app %q: base_url %q is not an absolute URL such as https://example.com/scim/v2", a.Name, s)
		} else {
			a.BaseURL = strings.TrimRight(s, "/")
		}
	}
	if !hasToken {
		return
	}
	name, ok := p.name(t.val, "token_env")
	if !ok {
		return
	}
	if !envName.MatchString(name) {
		p.errorf(t.val, "app %q: token_env %q is not an environment variable name", a.Name, name)
		return
	}
	// The error names the variable, never its value.
	if a.Token = p.getenv(name); a.Token == "" {
		p.errorf(t.val, "app %q: environment variable %s (its token_env) is not set or empty", a.Name, name)
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

// appConfig returns a's config with its own copy of the settings, so callers
// cannot change the policy through the map.
func (a app) appConfig() integrations.AppConfig {
	c := a.AppConfig
	if a.Settings != nil {
		c.Settings = make(map[string]string, len(a.Settings))
		for k, v := range a.Settings {
			c.Settings[k] = v
		}
	}
	return c
}
