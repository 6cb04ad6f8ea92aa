package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

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
func Load(path string, specs []integrations.Spec, getenv func(string) string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// Both the code and the cause are kept so callers can still test for fs.ErrNotExist.
		return nil, fmt.Errorf("%w: %w", tenure.Errorf(tenure.EINVALID, "cannot read policy %s", path), err)
	}
	return Parse(path, data, specs, getenv)
}

// Parse validates data. file names it in errors. specs are the connector kinds
// this build knows (worker.Specs): an app's connector must be one of them, its
// keys are the common ones and its kind's Keys, and it is granted entitlements
// only if its kind Can manage groups. getenv resolves the <secret>_env keys;
// nil means os.Getenv. <secret>_file keys are read from the file system.
//
// A single problem comes back as an *Error; several come back joined with
// errors.Join in line order, so errors.As finds the first.
func Parse(file string, data []byte, specs []integrations.Spec, getenv func(string) string) (*Policy, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	kinds := make([]string, len(specs))
	for i, s := range specs {
		kinds[i] = s.Kind
	}
	slices.Sort(kinds)
	p := &parser{file: file, specs: specs, kinds: kinds, getenv: getenv}
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
	file   string
	specs  []integrations.Spec
	kinds  []string // the specs' kinds, sorted, for messages
	getenv func(string) string
	errs   []*Error
	// appRecon holds the apps' own reconcile settings, by app (reconcile.go).
	appRecon map[string]ReconcileSetting
}

func (p *parser) errorf(n ast.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line(n), Reason: fmt.Sprintf(format, args...)})
}

func (p *parser) parse(data []byte) *Policy {
	root := p.document(data)
	if root == nil {
		return nil
	}
	top, ok := p.mapping(root, "the policy", "version", "retention", "mover_grace", "approvals", "apps", "rules", "guard", "rollout", "reconcile")
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
	} else if n, ok := p.resolve(v.val); ok {
		// Only the number 1, as written: "1" and 0x1 are not the version.
		if i, ok := n.(*ast.IntegerNode); !ok || i.GetToken().Value != "1" {
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
	if v, ok := top["guard"]; ok {
		pol.guard = p.guardSettings(v.val)
	}
	if v, ok := top["rollout"]; ok {
		pol.rolloutRate = p.rolloutSettings(v.val)
	}
	p.lifecycle(top, pol)
	pol.reconcile = p.reconcile(top)
	return pol
}

// duration reads a Go duration or a whole number of days ("30d"), which is how
// people speak of retention periods and is not something time.ParseDuration knows.
func (p *parser) duration(n ast.Node, what string) (time.Duration, bool) {
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

func (p *parser) approvalSettings(n ast.Node, a *ApprovalSettings) {
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
