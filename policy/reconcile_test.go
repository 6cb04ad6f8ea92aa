package policy_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/policy"
)

func TestReconcileScopes(t *testing.T) {
	p := mustParse(t, `
version: 1
reconcile: {every: 24h}
apps:
  - {name: slack, connector: scim, sandbox: true}
  - name: github
    connector: scim
    sandbox: true
    reconcile: {every: 6h, mode: enforce}
    ignore: ["svc-*", "*@robots.example.com"]
    orphans: disable
  - {name: aws, connector: scim, sandbox: true}
`)
	want := []policy.ReconcileScope{
		{Apps: []string{"aws", "slack"}, ReconcileSetting: policy.ReconcileSetting{Every: 24 * time.Hour, Mode: tenure.ReconcileReport}},
		{Apps: []string{"github"}, ReconcileSetting: policy.ReconcileSetting{Every: 6 * time.Hour, Mode: tenure.ReconcileEnforce}},
	}
	if got := p.ReconcileScopes(); !reflect.DeepEqual(got, want) {
		t.Errorf("ReconcileScopes = %+v, want %+v", got, want)
	}
	gh, _ := p.App("github")
	if gh.Orphans != policy.OrphansDisable {
		t.Errorf("github orphans = %q, want disable", gh.Orphans)
	}
	for _, tc := range []struct {
		user string
		want bool
	}{
		{"svc-build", true}, {"SVC-Deploy", true}, {"ci@robots.example.com", true},
		{"ada@example.com", false}, {"my-svc-build", false}, {"ci@robots.example.com.evil", false},
	} {
		if _, got := policy.Ignored(gh, tc.user); got != tc.want {
			t.Errorf("Ignored(github, %q) = %t, want %t", tc.user, got, tc.want)
		}
	}
	if _, ok := policy.Ignored(integrations.AppConfig{}, "svc-build"); ok {
		t.Error("an app without ignore patterns ignores an account")
	}

	// Without a top-level key, only the apps with their own are scheduled; a
	// policy without any reconcile key schedules nothing.
	p = mustParse(t, "version: 1\napps:\n  - {name: aws, connector: scim, sandbox: true, reconcile: {every: 1h}}\n  - {name: hr, connector: scim, sandbox: true}\n")
	want = []policy.ReconcileScope{{Apps: []string{"aws"}, ReconcileSetting: policy.ReconcileSetting{Every: time.Hour, Mode: tenure.ReconcileReport}}}
	if got := p.ReconcileScopes(); !reflect.DeepEqual(got, want) {
		t.Errorf("ReconcileScopes = %+v, want %+v", got, want)
	}
	if got := mustParse(t, "version: 1\napps:\n  - {name: aws, connector: scim, sandbox: true}\n").ReconcileScopes(); got != nil {
		t.Errorf("ReconcileScopes without reconcile keys = %+v, want none", got)
	}
}

func TestReconcileInvalid(t *testing.T) {
	const head = "version: 1\napps:\n  - name: aws\n    connector: scim\n    sandbox: true\n" // lines 1-5
	tests := []struct {
		name   string
		src    string
		line   int
		reason string
	}{
		{"no every", "version: 1\nreconcile: {mode: report}\n", 2, "reconcile needs every"},
		{"bad every", "version: 1\nreconcile: {every: daily}\n", 2, `reconcile.every: bad duration "daily"`},
		{"too often", "version: 1\nreconcile: {every: 5m}\n", 2, "reconcile.every must be at least 15m0s, not 5m0s"},
		{"bad mode", "version: 1\nreconcile: {every: 24h, mode: fix}\n", 2, `reconcile.mode must be report or enforce, not "fix"`},
		{"unknown key", "version: 1\nreconcile:\n  every: 24h\n  when: 3am\n", 4, `unknown key "when" in reconcile; known keys: every, mode`},
		{"not a mapping", "version: 1\nreconcile: 24h\n", 2, "reconcile must be a mapping"},
		{"app bad mode", head + "    reconcile: {every: 1h, mode: Enforce}\n", 6, `app "aws": reconcile.mode must be report or enforce, not "Enforce"`},
		{"app no every", head + "    reconcile: {}\n", 6, `app "aws": reconcile needs every`},
		{"bad orphans", head + "    orphans: delete\n", 6, `app "aws": orphans must be report or disable, not "delete"`},
		{"bad ignore", head + "    ignore: [\"svc-[\"]\n", 6, `app "aws": bad ignore pattern "svc-["`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(tc.src), specs, noEnv)
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %v, want a *policy.Error", err)
			}
			if pe.Line != tc.line || !strings.Contains(pe.Reason, tc.reason) {
				t.Errorf("error %q at line %d, want %q at line %d", pe.Reason, pe.Line, tc.reason, tc.line)
			}
		})
	}
}
