package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tenure-io/tenure/integrations/ldap/ldaptest"
	"github.com/tenure-io/tenure/integrations/postgres/pgtest"
)

// TestBenchMixedPolicy runs `tenure bench` on a policy that mixes sandbox SCIM
// apps with a real slapd and real PostgreSQL roles, so the lock's figures cover
// the connectors companies run. TENURE_BENCH_PEOPLE raises the number of people
// timed (the figures in docs/performance.md use 30); run with -v to see the
// report.
func TestBenchMixedPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack, slapd and PostgreSQL roles")
	}
	people := 3
	if n, err := strconv.Atoi(os.Getenv("TENURE_BENCH_PEOPLE")); err == nil && n > 0 {
		people = n
	}
	ld, pg := ldaptest.Start(t), pgtest.New(t)
	pg.Group("staff")
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "mixed.yaml")
	yaml := fmt.Sprintf(`version: 1
apps:
  - name: scim1
    connector: scim
    sandbox: true
  - name: scim2
    connector: scim
    sandbox: true
  - name: scim3
    connector: scim
    sandbox: true
  - name: directory
    connector: ldap
    url: %s
    bind_dn: %s
    password_env: BENCH_LDAP_PASSWORD
    users_dn: %s
    groups_dn: %s
  - name: warehouse
    connector: postgres
    dsn_env: BENCH_PG_DSN
    role_prefix: %s
rules:
  - name: everyone
    match: {}
    grant:
      - app: scim1
        entitlements: [staff]
      - app: scim2
        entitlements: [staff]
      - app: scim3
        entitlements: [staff]
      - app: directory
        entitlements: [engineering]
      - app: warehouse
        entitlements: [%sstaff]
`, ld.URL, ldaptest.ServiceDN, ldaptest.UsersDN, ldaptest.GroupsDN, pg.Prefix, pg.Prefix)
	if err := os.WriteFile(policyFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BENCH_LDAP_PASSWORD": ldaptest.ServicePassword, "BENCH_PG_DSN": pg.DSN()}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	var out, errOut bytes.Buffer
	args := []string{"bench", "--policy", policyFile, "--people", strconv.Itoa(people), "--data-dir", filepath.Join(dir, "data")}
	if err := run(context.Background(), args, getenv, &out, &errOut); err != nil {
		t.Fatalf("tenure bench: %v\n%s\n%s", err, errOut.String(), out.String())
	}
	report := out.String()
	t.Logf("\n%s", report)
	for _, want := range []string{"directory (ldap)", "warehouse (postgres)", "scim1 (scim)", "lock", "leaver phase 1", "direct baseline"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not mention %q", want)
		}
	}
}
