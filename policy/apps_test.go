package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/policy"
)

// fakeDir is a directory-like kind: a URL, a bind DN and a password, and groups.
var fakeDir = integrations.Spec{
	Kind: "fakedir",
	Can:  integrations.Capabilities{Groups: true, Disable: true, Delete: true},
	Keys: []integrations.Key{
		{Name: "url", Required: true},
		{Name: "bind_dn", Required: true},
		{Name: "password", Required: true, Secret: true},
		{Name: "users_dn"},
	},
}

// fakeDB is a kind that holds accounts but cannot manage groups.
var fakeDB = integrations.Spec{
	Kind: "fakedb",
	Can:  integrations.Capabilities{Disable: true, Delete: true},
	Keys: []integrations.Key{
		{Name: "dsn", Required: true, Secret: true},
		{Name: "role_prefix"},
	},
}

// env is a getenv over a fixed set of variables.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// secretFile writes content to a file in a test directory and returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestAppKeys(t *testing.T) {
	dsnFile := secretFile(t, "postgres://tenure:file-pw@db:5432/app\n")
	crlfFile := secretFile(t, "dir-pw-from-file\r\n")
	vars := env(map[string]string{"CRM_TOKEN": "crm-token", "DIR_PW": "dir-pw"})
	defaults := integrations.Limits{GiveUpAfter: integrations.DefaultGiveUpAfter}
	tests := []struct {
		name string
		app  string // one app, as the apps list's item
		want integrations.AppConfig
	}{{
		name: "scim as before: base_url and token_env",
		app:  "- {name: crm, connector: scim, base_url: https://crm.example/scim/v2/, token_env: CRM_TOKEN}",
		want: integrations.AppConfig{Name: "crm", Connector: "scim",
			BaseURL: "https://crm.example/scim/v2", Token: "crm-token",
			Params:  map[string]string{"base_url": "https://crm.example/scim/v2/"},
			Secrets: map[string]string{"token": "crm-token"},
			Limits:  defaults, Orphans: "report"},
	}, {
		name: "scim without a token",
		app:  "- {name: crm, connector: scim, base_url: https://crm.example/scim/v2}",
		want: integrations.AppConfig{Name: "crm", Connector: "scim", BaseURL: "https://crm.example/scim/v2",
			Params: map[string]string{"base_url": "https://crm.example/scim/v2"},
			Limits: defaults, Orphans: "report"},
	}, {
		name: "url gives BaseURL; a secret from the environment",
		app:  "- {name: dir, connector: fakedir, url: 'ldaps://dir.example:636', bind_dn: 'cn=tenure,dc=example', password_env: DIR_PW, users_dn: 'ou=people,dc=example'}",
		want: integrations.AppConfig{Name: "dir", Connector: "fakedir", BaseURL: "ldaps://dir.example:636",
			Params:  map[string]string{"url": "ldaps://dir.example:636", "bind_dn": "cn=tenure,dc=example", "users_dn": "ou=people,dc=example"},
			Secrets: map[string]string{"password": "dir-pw"},
			Limits:  defaults, Orphans: "report"},
	}, {
		name: "a secret from a file, CRLF trimmed",
		app:  "- {name: dir, connector: fakedir, url: 'ldap://dir', bind_dn: cn=t, password_file: '" + crlfFile + "'}",
		want: integrations.AppConfig{Name: "dir", Connector: "fakedir", BaseURL: "ldap://dir",
			Params:  map[string]string{"url": "ldap://dir", "bind_dn": "cn=t"},
			Secrets: map[string]string{"password": "dir-pw-from-file"},
			Limits:  defaults, Orphans: "report"},
	}, {
		name: "every common key",
		app: `- name: pg
    connector: fakedb
    dsn_file: ` + dsnFile + `
    role_prefix: app_
    owner: 1001
    settings: {mode: strict}
    max_concurrent: 4
    rate: 600/m
    give_up_after: 2h
    ignore: [svc-*, "*@robots.example.com", postgres]
    orphans: disable`,
		want: integrations.AppConfig{Name: "pg", Connector: "fakedb", Owner: "1001",
			Settings: map[string]string{"mode": "strict"},
			Params:   map[string]string{"role_prefix": "app_"},
			Secrets:  map[string]string{"dsn": "postgres://tenure:file-pw@db:5432/app"},
			Limits:   integrations.Limits{MaxConcurrent: 4, Rate: 10, GiveUpAfter: 2 * time.Hour},
			Ignore:   []string{"svc-*", "*@robots.example.com", "postgres"},
			Orphans:  "disable"},
	}, {
		name: "rate per second, fractional",
		app:  "- {name: crm, connector: scim, sandbox: true, rate: 0.5/s, give_up_after: 3d, orphans: report}",
		want: integrations.AppConfig{Name: "crm", Connector: "scim",
			Limits: integrations.Limits{Rate: 0.5, GiveUpAfter: 72 * time.Hour}, Orphans: "report"},
	}, {
		name: "rate per hour",
		app:  "- {name: crm, connector: scim, sandbox: true, rate: 36/h}",
		want: integrations.AppConfig{Name: "crm", Connector: "scim",
			Limits: integrations.Limits{Rate: 0.01, GiveUpAfter: integrations.DefaultGiveUpAfter}, Orphans: "report"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse("p.yaml", []byte("version: 1\napps:\n  "+tt.app+"\n"), specs, vars)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.App(tt.want.Name)
			if !ok {
				t.Fatalf("no app %s", tt.want.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("app:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestAppKeysInvalid(t *testing.T) {
	const db = "version: 1\napps:\n  - name: pg\n    connector: fakedb\n" // lines 1-4
	dsn := "    dsn_env: PG_DSN\n"
	empty := secretFile(t, "\n")
	vars := env(map[string]string{"PG_DSN": "postgres://tenure:env-pw@db/app", "DIR_PW": "dir-pw"})
	tests := []struct {
		name   string
		src    string
		line   int
		reason string
	}{
		{"a key of another kind", db + dsn + "    bind_dn: cn=t\n", 6, `unknown key "bind_dn" in an app (connector fakedb); known keys: name, connector, sandbox, owner, settings, max_concurrent, rate, give_up_after, ignore, orphans, reconcile, dsn_env, dsn_file, role_prefix`},
		{"a secret written out", db + "    dsn: postgres://tenure:inline-pw@db/app\n", 5, `app "pg": dsn is a secret and never goes in the policy; give dsn_env (an environment variable) or dsn_file (a file) instead`},
		{"env and file", db + dsn + "    dsn_file: /run/secrets/dsn\n", 6, `app "pg": give dsn_env or dsn_file, not both`},
		{"required secret missing", db + "    role_prefix: app_\n", 3, `app "pg" needs a dsn_env or dsn_file`},
		{"required key missing", "version: 1\napps:\n  - name: dir\n    connector: fakedir\n    url: ldap://dir\n    password_env: DIR_PW\n", 3, `app "dir" needs a bind_dn`},
		{"variable unset", db + "    dsn_env: NO_SUCH_VAR\n", 5, `app "pg": environment variable NO_SUCH_VAR (its dsn_env) is not set or empty`},
		{"not a variable name", db + "    dsn_env: pg-dsn\n", 5, `dsn_env "pg-dsn" is not an environment variable name`},
		{"file missing", db + "    dsn_file: /nonexistent/dsn\n", 5, `app "pg": cannot read /nonexistent/dsn (its dsn_file): no such file or directory`},
		{"file relative", db + "    dsn_file: secrets/dsn\n", 5, `dsn_file "secrets/dsn" must be an absolute path`},
		{"file empty", db + "    dsn_file: " + empty + "\n", 5, `(its dsn_file) is empty`},
		{"file is a directory", db + "    dsn_file: " + t.TempDir() + "\n", 5, "not a regular file"},
		{"relative url", "version: 1\napps:\n  - name: dir\n    connector: fakedir\n    url: dir.example\n    bind_dn: cn=t\n    password_env: DIR_PW\n", 5, `app "dir": url "dir.example" is not an absolute URL`},
		{"sandbox with a secret file", "version: 1\napps:\n  - name: crm\n    connector: scim\n    sandbox: true\n    token_file: /run/secrets/t\n", 6, "remove token_file or set sandbox: false"},
		{"max_concurrent zero", db + dsn + "    max_concurrent: 0\n", 6, `app "pg": max_concurrent must be a whole number above 0, not "0"`},
		{"max_concurrent negative", db + dsn + "    max_concurrent: -2\n", 6, "above 0"},
		{"max_concurrent fraction", db + dsn + "    max_concurrent: 1.5\n", 6, "whole number"},
		{"max_concurrent a list", db + dsn + "    max_concurrent: [1]\n", 6, "max_concurrent must be a string, not a list"},
		{"rate without unit", db + dsn + "    rate: 10\n", 6, `app "pg": bad rate "10": give it a unit: 10/s, 10/m or 10/h`},
		{"rate with a bad unit", db + dsn + "    rate: 10/week\n", 6, `app "pg": bad rate "10/week": write calls per second, minute or hour, such as 10/s, 600/m or 5/h`},
		{"rate per day", db + dsn + "    rate: 10/d\n", 6, "such as 10/s"},
		{"rate zero", db + dsn + "    rate: 0/s\n", 6, `bad rate "0/s": must be more than 0`},
		{"rate negative", db + dsn + "    rate: -1/s\n", 6, "must be more than 0"},
		{"rate NaN", db + dsn + "    rate: NaN/s\n", 6, "such as 10/s"},
		{"rate words", db + dsn + "    rate: fast\n", 6, "such as 10/s"},
		{"give_up_after", db + dsn + "    give_up_after: soon\n", 6, `app "pg": give_up_after: bad duration "soon"`},
		{"ignore not a list", db + dsn + "    ignore: svc-*\n", 6, "ignore must be a list"},
		{"ignore bad pattern", db + dsn + "    ignore: [svc-*, \"[svc\"]\n", 6, `app "pg": bad ignore pattern "[svc"`},
		{"ignore empty pattern", db + dsn + "    ignore: [\"\"]\n", 6, "an ignore pattern must not be empty"},
		{"orphans", db + dsn + "    orphans: delete\n", 6, `app "pg": orphans must be report or disable, not "delete"`},
		{"entitlements without groups", db + dsn + "rules:\n  - name: eng\n    match: {}\n    grant:\n      - app: pg\n        entitlements: [readonly]\n", 11,
			`rule "eng" grants entitlements on app "pg" but connector fakedb cannot manage groups`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(tt.src), specs, vars)
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *policy.Error", err)
			}
			if pe.Line != tt.line || !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("error = %q (line %d), want line %d and a reason containing %q", err, pe.Line, tt.line, tt.reason)
			}
			if tenure.ErrorCode(err) != tenure.EINVALID {
				t.Errorf("ErrorCode = %q, want invalid", tenure.ErrorCode(err))
			}
			// Secrets never show, whether they came from the file, the
			// environment or a file on disk.
			for _, secret := range []string{"inline-pw", "env-pw", "dir-pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the secret %q", err, secret)
				}
			}
		})
	}
}

// A grant without entitlements needs no groups, so a kind without them can
// still be given accounts.
func TestAccountOnlyGrantWithoutGroups(t *testing.T) {
	src := "version: 1\napps:\n  - {name: pg, connector: fakedb, dsn_env: PG_DSN}\n" +
		"rules:\n  - {name: eng, match: {}, grant: [{app: pg}, {app: pg, entitlements: []}]}\n"
	p, err := policy.Parse("p.yaml", []byte(src), specs, env(map[string]string{"PG_DSN": "postgres://db/app"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []tenure.Grant{{App: "pg", Rule: "eng"}}
	if got := p.Evaluate(tenure.Person{ID: "E1"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Evaluate = %v, want %v", got, want)
	}
}

// A secret file that is not a regular file is refused without being opened:
// opening a named pipe would wait for a writer that never comes.
func TestSecretFileNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "dsn")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	src := "version: 1\napps:\n  - {name: pg, connector: fakedb, dsn_file: " + fifo + "}\n"
	_, err := policy.Parse("p.yaml", []byte(src), specs, noEnv)
	if err == nil || !strings.Contains(err.Error(), "(its dsn_file): not a regular file") {
		t.Errorf("error = %v, want the pipe refused as not a regular file", err)
	}
}

func TestSecretFileTooLarge(t *testing.T) {
	big := secretFile(t, strings.Repeat("x", 65<<10))
	src := "version: 1\napps:\n  - {name: pg, connector: fakedb, dsn_file: " + big + "}\n"
	_, err := policy.Parse("p.yaml", []byte(src), specs, noEnv)
	if err == nil || !strings.Contains(err.Error(), "larger than 64 KiB") {
		t.Errorf("error = %v, want the file refused as too large", err)
	}
}

// Several apps' problems come back together, each on its line.
func TestAppErrorsTogether(t *testing.T) {
	src := `version: 1
apps:
  - name: pg
    connector: fakedb
    rate: 1/y
  - name: dir
    connector: fakedir
    url: ldap://dir
    password_env: UNSET
`
	_, err := policy.Parse("p.yaml", []byte(src), specs, noEnv)
	if err == nil {
		t.Fatal("Parse accepted the policy")
	}
	for _, want := range []string{
		`p.yaml:3: app "pg" needs a dsn_env or dsn_file`,
		`p.yaml:5: app "pg": bad rate "1/y"`,
		`p.yaml:6: app "dir" needs a bind_dn`,
		`p.yaml:9: app "dir": environment variable UNSET (its password_env) is not set or empty`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to hold %q", err, want)
		}
	}
}
