package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// Error is an invalid policy: the file, the line and the reason.
type Error struct {
	File   string
	Line   int // 1-based; 0 when the YAML parser could not say where
	Reason string
}

// Error returns "<file>:<line>: <reason>", or "<file>: <reason>" when the line is unknown.
func (e *Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Reason
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

// Unwrap gives the error its domain code, so tenure.ErrorCode reports EINVALID
// and the API shows the message to whoever wrote the policy.
func (e *Error) Unwrap() error {
	return &tenure.Error{Code: tenure.EINVALID, Message: e.Error()}
}

// The defaults of the optional settings.
const (
	DefaultRetention     = 720 * time.Hour
	DefaultRemindAfter   = 24 * time.Hour
	DefaultEscalateAfter = 48 * time.Hour
	DefaultExpireAfter   = 168 * time.Hour
)

// Load reads and parses the policy file at path.
func Load(path string, connectors []string, getenv func(string) string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// Both the code and the cause are kept so callers can still test for fs.ErrNotExist.
		return nil, fmt.Errorf("%w: %w", tenure.Errorf(tenure.EINVALID, "cannot read policy %s", path), err)
	}
	return Parse(path, data, connectors, getenv)
}

// Parse validates data. file names it in errors. connectors lists the known
// connector kinds (e.g. []string{"scim"}). getenv resolves token_env; nil means
// os.Getenv. A single problem comes back as an *Error; several come back joined
// with errors.Join in line order, so errors.As finds the first.
func Parse(file string, data []byte, connectors []string, getenv func(string) string) (*Policy, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	p := &parser{file: file, connectors: connectors, getenv: getenv}
	pol := p.parse(data)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
		if len(p.errs) == 1 {
			return nil, p.errs[0]
		}
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	sum := sha256.Sum256(data)
	pol.digest = hex.EncodeToString(sum[:])
	return pol, nil
}

type parser struct {
	file       string
	connectors []string
	getenv     func(string) string
	errs       []*Error
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// yamlLine picks the line out of the YAML library's messages ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) parse(data []byte) *Policy {
	var doc yaml.Node
	if err := unmarshal(data, &doc); err != nil {
		line, reason := yamlError(data, err)
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Reason: "invalid YAML: " + reason})
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.errs = append(p.errs, &Error{File: p.file, Line: 1, Reason: "the policy is empty; it needs at least version: 1"})
		return nil
	}
	root := doc.Content[0]
	top, ok := p.mapping(root, "the policy", "version", "retention", "approvals", "apps", "rules")
	if !ok {
		return nil
	}
	pol := &Policy{
		retention: DefaultRetention,
		approvals: ApprovalSettings{
			RemindAfter:   DefaultRemindAfter,
			EscalateAfter: DefaultEscalateAfter,
			ExpireAfter:   DefaultExpireAfter,
		},
		managed: map[string][]string{},
	}

	if v, ok := top["version"]; !ok {
		p.errorf(root, "version is required; write version: 1")
	} else if p.noAlias(v.val) {
		if n := v.val; n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Value != "1" {
			p.errorf(n, "unsupported version %s; the only version is 1", describe(n))
		}
	}
	if v, ok := top["retention"]; ok {
		if d, ok := p.duration(v.val, "retention"); ok {
			pol.retention = d
		}
	}
	if v, ok := top["approvals"]; ok {
		p.approvalSettings(v.val, &pol.approvals)
	}
	if v, ok := top["apps"]; ok {
		pol.apps = p.apps(v.val)
	}
	if v, ok := top["rules"]; ok {
		pol.rules = p.rules(v.val, pol)
	}
	return pol
}

// parserProblems are the problems yaml.v3's parser (as opposed to its scanner)
// reports. For those it prints the line before the one at fault (it mixes 0- and
// 1-based marks), so yamlError moves them down by one.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

var unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// yamlError turns a YAML syntax error into a line and a reason. The line is 0
// when the library does not say where the problem is.
func yamlError(data []byte, err error) (int, string) {
	msg := err.Error()
	lines := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		lines++
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(parserProblems, m[2]) {
			line++
		}
		return max(1, min(line, lines)), m[2]
	}
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		for i, l := range bytes.Split(data, []byte("\n")) {
			if bytes.Contains(l, []byte("*"+m[1])) {
				return i + 1, strings.TrimPrefix(msg, "yaml: ")
			}
		}
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// unmarshal keeps a panic inside the YAML library from taking down the caller:
// a policy arrives from users, and a bad one must be an error.
func unmarshal(data []byte, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse the document (%v)", r)
		}
	}()
	return yaml.Unmarshal(data, n)
}

// field is one key of a mapping and its value.
type field struct {
	key, val *yaml.Node
}

// noAlias reports an alias as an error. Aliases are refused, rather than
// followed, so that a small file cannot expand into a huge policy.
func (p *parser) noAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, "anchors and aliases are not supported in a policy")
		return false
	}
	return true
}

// mapping checks that n is a mapping with string keys from allowed (any key when
// allowed is empty), each once. A null value counts as an empty mapping.
func (p *parser) mapping(n *yaml.Node, what string, allowed ...string) (map[string]field, bool) {
	if !p.noAlias(n) {
		return nil, false
	}
	if isNull(n) {
		return map[string]field{}, true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping (key: value), not %s", what, describe(n))
		return nil, false
	}
	fields := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !p.noAlias(k) {
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			p.errorf(k, "%s has a key that is not a string", what)
			continue
		}
		if len(allowed) > 0 && !slices.Contains(allowed, k.Value) {
			p.errorf(k, "unknown key %q in %s; known keys: %s", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := fields[k.Value]; dup {
			p.errorf(k, "duplicate key %q in %s (first at line %d)", k.Value, what, prev.key.Line)
			continue
		}
		fields[k.Value] = field{key: k, val: v}
	}
	return fields, true
}

func (p *parser) sequence(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	if !p.noAlias(n) {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list, not %s", what, describe(n))
		return nil, false
	}
	return n.Content, true
}

// str reads a scalar as a string. Numbers and booleans are taken as written, so
// that an HR ID such as 1001 needs no quotes.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if !p.noAlias(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool":
		return n.Value, true
	}
	p.errorf(n, "%s must be a string, not a %s value", what, n.ShortTag())
	return "", false
}

// name reads a required, non-empty string.
func (p *parser) name(n *yaml.Node, what string) (string, bool) {
	s, ok := p.str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		p.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	if !p.noAlias(n) {
		return false, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		b, err := strconv.ParseBool(n.Value)
		if err == nil {
			return b, true
		}
	}
	p.errorf(n, "%s must be true or false, not %s", what, describe(n))
	return false, false
}

// duration reads a Go duration or a whole number of days ("30d"), which is how
// people speak of retention periods and is not something time.ParseDuration knows.
func (p *parser) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err != nil {
		p.errorf(n, "%s: bad duration %q: %v", what, s, err)
		return 0, false
	}
	return d, true
}

const maxDays = int64(1<<63-1) / int64(24*time.Hour)

func parseDuration(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || strings.HasPrefix(days, "+") {
			return 0, errors.New("use whole days such as 30d, or a Go duration such as 720h")
		}
		if n > maxDays {
			return 0, errors.New("too long")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("use a Go duration such as 720h or 90m, or whole days such as 30d")
		}
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

func (p *parser) approvalSettings(n *yaml.Node, a *ApprovalSettings) {
	f, ok := p.mapping(n, "approvals", "remind_after", "escalate_after", "expire_after", "it_approver")
	if !ok {
		return
	}
	set := func(key string, dst *time.Duration) {
		if v, ok := f[key]; ok {
			if d, ok := p.duration(v.val, "approvals."+key); ok {
				*dst = d
			}
		}
	}
	set("remind_after", &a.RemindAfter)
	set("escalate_after", &a.EscalateAfter)
	set("expire_after", &a.ExpireAfter)
	if v, ok := f["it_approver"]; ok {
		a.ITApprover, _ = p.name(v.val, "approvals.it_approver")
	}
	// A reminder or escalation after the request has expired would never be sent.
	at := n
	if v, ok := f["expire_after"]; ok {
		at = v.val
	}
	if a.RemindAfter >= a.ExpireAfter {
		p.errorf(at, "approvals: remind_after (%v) must be shorter than expire_after (%v)", a.RemindAfter, a.ExpireAfter)
	}
	if a.EscalateAfter >= a.ExpireAfter {
		p.errorf(at, "approvals: escalate_after (%v) must be shorter than expire_after (%v)", a.EscalateAfter, a.ExpireAfter)
	}
}

var (
	appName = regexp.MustCompile(`^[a-z0-9-]+$`)
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// sandboxConnector is the only kind the dev sandbox serves.
const sandboxConnector = "scim"

func (p *parser) apps(n *yaml.Node) []app {
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
		lines[a.Name] = f["name"].val.Line

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
func (p *parser) endpoint(item *yaml.Node, f map[string]field, a *app) {
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

func (p *parser) settings(n *yaml.Node) map[string]string {
	f, ok := p.mapping(n, "settings")
	if !ok || len(f) == 0 {
		return nil
	}
	out := make(map[string]string, len(f))
	for k, v := range f {
		if s, ok := p.str(v.val, "setting "+k); ok {
			out[k] = s
		}
	}
	return out
}

func (p *parser) rules(n *yaml.Node, pol *Policy) []rule {
	items, ok := p.sequence(n, "rules")
	if !ok {
		return nil
	}
	apps := map[string]*app{}
	for i := range pol.apps {
		apps[pol.apps[i].Name] = &pol.apps[i]
	}
	var rules []rule
	lines := map[string]int{}
	managed := map[string]map[string]bool{}
	for _, item := range items {
		f, ok := p.mapping(item, "a rule", "name", "match", "grant")
		if !ok {
			continue
		}
		var r rule
		if v, ok := f["name"]; !ok {
			p.errorf(item, "a rule needs a name")
		} else if r.name, ok = p.name(v.val, "rule name"); ok {
			if first, dup := lines[r.name]; dup {
				p.errorf(v.val, "duplicate rule name %q (first at line %d)", r.name, first)
			} else {
				lines[r.name] = v.val.Line
			}
		}
		// An omitted match is refused rather than read as "everyone", so a slip
		// of the pen cannot hand privileged access to the whole company.
		if v, ok := f["match"]; !ok {
			p.errorf(item, "rule %q needs a match; write match: {} to match everyone", r.name)
		} else {
			r.conds = p.match(v.val)
		}
		if v, ok := f["grant"]; !ok {
			p.errorf(item, "rule %q needs a grant", r.name)
		} else {
			r.grants = p.grants(v.val, r.name, apps, pol.approvals.ITApprover)
			if len(r.grants) == 0 && isEmptyList(v.val) {
				p.errorf(v.val, "rule %q grants nothing", r.name)
			}
		}
		for _, g := range r.grants {
			if managed[g.App] == nil {
				managed[g.App] = map[string]bool{}
			}
			if g.Entitlement != "" {
				managed[g.App][g.Entitlement] = true
			}
		}
		rules = append(rules, r)
	}
	for name, set := range managed {
		ents := make([]string, 0, len(set))
		for e := range set {
			ents = append(ents, e)
		}
		slices.Sort(ents)
		pol.managed[name] = ents
	}
	return rules
}

func (p *parser) grants(n *yaml.Node, ruleName string, apps map[string]*app, itApprover string) []tenure.Grant {
	items, ok := p.sequence(n, "grant")
	if !ok {
		return nil
	}
	var out []tenure.Grant
	for _, item := range items {
		f, ok := p.mapping(item, "a grant", "app", "entitlements", "approval")
		if !ok {
			continue
		}
		var a *app
		if v, ok := f["app"]; !ok {
			p.errorf(item, "a grant needs an app")
			continue
		} else if name, ok := p.name(v.val, "app"); !ok {
			continue
		} else if a = apps[name]; a == nil {
			p.errorf(v.val, "rule %q grants unknown app %q; add it under apps", ruleName, name)
			continue
		}
		var approval tenure.Approver
		if v, ok := f["approval"]; ok {
			if s, ok := p.name(v.val, "approval"); ok {
				approval = tenure.Approver(s)
				switch {
				case !approval.Valid():
					p.errorf(v.val, "bad approval %q; use manager, app_owner or it", s)
				case approval == tenure.ApproverAppOwner && a.Owner == "":
					p.errorf(v.val, "approval app_owner needs an owner on app %q", a.Name)
				case approval == tenure.ApproverIT && itApprover == "":
					p.errorf(v.val, "approval it needs approvals.it_approver")
				}
			}
		}
		out = append(out, tenure.Grant{App: a.Name, Approval: approval, Rule: ruleName})
		if v, ok := f["entitlements"]; ok {
			ents, _ := p.sequence(v.val, "entitlements")
			seen := map[string]bool{}
			for _, e := range ents {
				s, ok := p.name(e, "an entitlement")
				if !ok {
					continue
				}
				if seen[s] {
					p.errorf(e, "entitlement %q is listed twice", s)
					continue
				}
				seen[s] = true
				out = append(out, tenure.Grant{App: a.Name, Entitlement: s, Approval: approval, Rule: ruleName})
			}
		}
	}
	return out
}

// personFields are the HR fields a match can test, besides attributes.
var personFields = map[string]func(tenure.Person) string{
	"department":      func(p tenure.Person) string { return p.Department },
	"title":           func(p tenure.Person) string { return p.Title },
	"location":        func(p tenure.Person) string { return p.Location },
	"employment_type": func(p tenure.Person) string { return p.EmploymentType },
	"manager_id":      func(p tenure.Person) string { return p.ManagerID },
}

var matchKeys = []string{"department", "title", "location", "employment_type", "manager_id", "attributes"}

func (p *parser) match(n *yaml.Node) []cond {
	f, ok := p.mapping(n, "match", matchKeys...)
	if !ok {
		return nil
	}
	var conds []cond
	// Walk in file order so that conditions, and errors, come in a stable order.
	for _, k := range keysInOrder(f) {
		v := f[k]
		if k == "attributes" {
			attrs, ok := p.mapping(v.val, "match.attributes")
			if !ok {
				continue
			}
			for _, name := range keysInOrder(attrs) {
				av := attrs[name]
				if strings.TrimSpace(name) == "" {
					p.errorf(av.key, "an attribute name must not be empty")
					continue
				}
				if m, ok := p.matcher(av.val, "attributes."+name); ok {
					conds = append(conds, cond{attr: name, m: m})
				}
			}
			continue
		}
		if m, ok := p.matcher(v.val, k); ok {
			conds = append(conds, cond{get: personFields[k], m: m})
		}
	}
	return conds
}

// matcher reads the three forms of a match value: a scalar, a {pattern} or
// {regex} mapping, or a list of those, any of which may match.
func (p *parser) matcher(n *yaml.Node, what string) (matcher, bool) {
	if !p.noAlias(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		t, ok := p.term(n, what)
		return matcher{t}, ok
	}
	if len(n.Content) == 0 {
		p.errorf(n, "%s: an empty list matches no one", what)
		return nil, false
	}
	m := make(matcher, 0, len(n.Content))
	good := true
	for _, item := range n.Content {
		if item.Kind == yaml.SequenceNode {
			p.errorf(item, "%s: lists inside lists are not supported", what)
			good = false
			continue
		}
		t, ok := p.term(item, what)
		good = good && ok
		m = append(m, t)
	}
	return m, good
}

func (p *parser) term(n *yaml.Node, what string) (term, bool) {
	if n.Kind == yaml.MappingNode {
		f, ok := p.mapping(n, what, "pattern", "regex")
		if !ok {
			return term{}, false
		}
		if len(f) != 1 {
			p.errorf(n, "%s: give exactly one of pattern or regex", what)
			return term{}, false
		}
		if v, ok := f["pattern"]; ok {
			s, ok := p.str(v.val, what+" pattern")
			if !ok {
				return term{}, false
			}
			glob := strings.ToLower(s)
			if _, err := path.Match(glob, ""); err != nil {
				p.errorf(v.val, "%s: bad glob pattern %q", what, s)
				return term{}, false
			}
			return term{kind: globTerm, s: glob}, true
		}
		v := f["regex"]
		s, ok := p.str(v.val, what+" regex")
		if !ok {
			return term{}, false
		}
		re, err := regexp.Compile(s)
		if err != nil {
			p.errorf(v.val, "%s: bad regex %q: %v", what, s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return term{}, false
		}
		return term{kind: regexTerm, re: re}, true
	}
	if !p.noAlias(n) {
		return term{}, false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, "%s needs a value: a string, a list, {pattern: ...} or {regex: ...}", what)
		return term{}, false
	}
	s, ok := p.str(n, what)
	return term{kind: exactTerm, s: s}, ok
}

func keysInOrder(f map[string]field) []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		ka, kb := f[a].key, f[b].key
		if ka.Line != kb.Line {
			return ka.Line - kb.Line
		}
		return ka.Column - kb.Column
	})
	return keys
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isEmptyList(n *yaml.Node) bool {
	return n.Kind == yaml.SequenceNode && len(n.Content) == 0 || isNull(n)
}

// describe names what the user wrote, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if isNull(n) {
		return "empty"
	}
	return fmt.Sprintf("%q", n.Value)
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
