package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
)

// roleMatrix is who may call each route: the decision that every route must have.
// A route missing here fails TestEveryRouteAndRole; docs/api-tokens.md shows the
// same table to people.
var roleMatrix = map[string][]string{
	"POST /api/v1/events":                        {tenure.RoleAdmin, tenure.RoleHR},
	`POST /api/v1/events\:batch`:                 {tenure.RoleAdmin, tenure.RoleHR},
	"POST /api/v1/imports":                       {tenure.RoleAdmin, tenure.RoleHR},
	"GET /api/v1/employees":                      {tenure.RoleAdmin, tenure.RoleHR, tenure.RoleManager, tenure.RoleAuditor},
	"GET /api/v1/employees/:id":                  {tenure.RoleAdmin, tenure.RoleHR, tenure.RoleManager, tenure.RoleAuditor},
	"POST /api/v1/employees/:id/lock":            {tenure.RoleAdmin},
	"POST /api/v1/employees/:id/unlock":          {tenure.RoleAdmin},
	"POST /api/v1/employees/:id/apps/:app/retry": {tenure.RoleAdmin},
	"GET /api/v1/employees/:id/evidence":         {tenure.RoleAdmin, tenure.RoleManager, tenure.RoleAuditor},
	"GET /api/v1/approvals":                      {tenure.RoleAdmin, tenure.RoleManager, tenure.RoleAuditor},
	"POST /api/v1/approvals/:id/approve":         {tenure.RoleAdmin, tenure.RoleManager},
	"POST /api/v1/approvals/:id/deny":            {tenure.RoleAdmin, tenure.RoleManager},
	"GET /api/v1/apps":                           {tenure.RoleAdmin, tenure.RoleAuditor},
	"GET /api/v1/holds":                          {tenure.RoleAdmin, tenure.RoleAuditor},
	"GET /api/v1/holds/:id":                      {tenure.RoleAdmin, tenure.RoleAuditor},
	"POST /api/v1/holds/:id/release":             {tenure.RoleAdmin},
	"POST /api/v1/holds/:id/discard":             {tenure.RoleAdmin},
	"GET /api/v1/audit":                          {tenure.RoleAdmin, tenure.RoleAuditor},
	"GET /api/v1/access-review":                  {tenure.RoleAdmin, tenure.RoleAuditor},
	"GET /api/v1/openapi.json":                   {tenure.RoleAdmin, tenure.RoleHR, tenure.RoleManager, tenure.RoleAuditor},
	"POST /api/v1/tokens":                        {tenure.RoleAdmin},
	"GET /api/v1/tokens":                         {tenure.RoleAdmin},
	"DELETE /api/v1/tokens/:id":                  {tenure.RoleAdmin},
	"DELETE /api/v1/sessions":                    {tenure.RoleAdmin},
	"POST /api/v1/subscriptions":                 {tenure.RoleAdmin},
	"GET /api/v1/subscriptions":                  {tenure.RoleAdmin},
	"DELETE /api/v1/subscriptions/:id":           {tenure.RoleAdmin},
	"GET /api/v1/outbound-events":                {tenure.RoleAdmin, tenure.RoleAuditor},
	"POST /api/v1/outbound-events/:id/redeliver": {tenure.RoleAdmin},
	"GET /api/v1/deliveries":                     {tenure.RoleAdmin, tenure.RoleAuditor},
	// An auditor may ask for a report, not enforce one (the handler says so).
	"POST /api/v1/reconciliations":                                 {tenure.RoleAdmin, tenure.RoleAuditor},
	"GET /api/v1/reconciliations":                                  {tenure.RoleAdmin, tenure.RoleAuditor},
	"GET /api/v1/reconciliations/:id":                              {tenure.RoleAdmin, tenure.RoleAuditor},
	"POST /api/v1/reconciliations/:id/findings/:finding/remediate": {tenure.RoleAdmin},
	"GET /api/v1/policy":                                           {tenure.RoleAdmin, tenure.RoleAuditor},
	"PUT /api/v1/policy":                                           {tenure.RoleAdmin},
	"POST /api/v1/policy/plan":                                     {tenure.RoleAdmin, tenure.RoleAuditor},
	"GET /api/v1/rollouts/:id":                                     {tenure.RoleAdmin, tenure.RoleAuditor},
	"POST /api/v1/rollouts/:id/confirm":                            {tenure.RoleAdmin},
	"POST /api/v1/rollouts/:id/cancel":                             {tenure.RoleAdmin},
}

// roleHarness is an API server on a real SQLite store whose callers hold issued
// tokens, one per role, as well as the bootstrap admin token.
type roleHarness struct {
	*harness
	db     *store.DB
	path   string
	tokens map[string]string // role to token
	victim string            // a token ID the admin may revoke
}

func newRoleHarness(t *testing.T) *roleHarness {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenure.db")
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := &roleHarness{
		harness: &harness{t: t, store: db, engine: &fakeEngine{}, logs: &syncBuffer{}},
		db:      db, path: path, tokens: map[string]string{},
	}
	h.cfg = Config{
		Store:    db,
		Tokens:   db,
		Managers: db,
		Sessions: db,
		Engine:   h.engine,
		Guard:    testGuard(t, db, h.engine, nil),
		// The fake engine starts reconciliations too.
		Reconciler: h.engine,
		Auth:       StoreTokens(db, map[string]tenure.Principal{adminToken: {Name: "bootstrap", Role: tenure.RoleAdmin}}),
		Logger:     slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// Evidence is signed; without a key its route answers 503 to everyone.
		AuditSigningKey: testSigningKey,
		Policies:        policyInForce(t, db, nil, []byte(testPolicy)),
	}
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	h.url = srv.URL

	for _, role := range tenure.Roles {
		spec := TokenSpec{Name: role + " token", Role: role}
		if role == tenure.RoleManager {
			spec.EmployeeID = "boss"
		}
		h.tokens[role] = h.issue(spec, time.Now())
	}
	victim := h.issue(TokenSpec{Name: "victim", Role: tenure.RoleAuditor}, time.Now())
	found, err := db.FindTokenByHash(ctx, HashToken(victim))
	if err != nil {
		t.Fatal(err)
	}
	h.victim = found.ID
	// A console session the admin may revoke.
	if err := db.CreateSession(ctx, tenure.ConsoleSession{IDHash: victimSession, Email: "victim@example.com", Name: "Victim",
		Role: tenure.RoleAuditor, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// boss manages ada; other manages grace.
	for _, p := range []tenure.Person{
		{ID: "ada", GivenName: "Ada", FamilyName: "Lovelace", ManagerID: "boss"},
		{ID: "grace", GivenName: "Grace", FamilyName: "Hopper", ManagerID: "other"},
		{ID: "boss", GivenName: "Bea", FamilyName: "Boss"},
	} {
		p.Email = p.ID + "@example.com"
		if err := db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonActive}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []tenure.Approval{
		{ID: "ap-mine", EmployeeID: "ada", ApproverID: "boss"},
		{ID: "ap-other", EmployeeID: "grace", ApproverID: "other"},
	} {
		a.WorkflowID, a.App, a.Entitlement, a.Approver = tenure.WorkflowID(a.EmployeeID), "aws", "admin", tenure.ApproverManager
		if err := db.CreateApproval(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.UpsertApp(ctx, tenure.App{Name: "github", Connector: "scim", Health: tenure.HealthOK}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logs := h.logs.String()
		for role, tok := range h.tokens {
			if strings.Contains(logs, tok) {
				t.Errorf("the logs contain the %s token", role)
			}
		}
	})
	return h
}

// issue makes a token as if at now, straight into the store.
func (h *roleHarness) issue(spec TokenSpec, now time.Time) string {
	h.t.Helper()
	if spec.ExpiresAt == nil {
		e := now.Add(time.Hour)
		spec.ExpiresAt = &e
	}
	tok, _, err := IssueToken(context.Background(), h.db, spec, "test", now)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// victimSession is the hash of a console session the admin may revoke.
const victimSession = "5e55"

// state sums up what a request could change: calls to the engine, the events,
// tokens and audit records in the store, and whether the victim token and the
// victim console session are revoked.
func (h *roleHarness) state() string {
	h.t.Helper()
	ctx := context.Background()
	c := h.engine.calls()
	tokens, err := h.db.ListTokens(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	audit, err := h.db.ListAudit(ctx, tenure.AuditFilter{Limit: 500})
	if err != nil {
		h.t.Fatal(err)
	}
	events, err := h.db.ListEvents(ctx, "newhire")
	if err != nil {
		h.t.Fatal(err)
	}
	victim, err := h.db.GetToken(ctx, h.victim)
	if err != nil {
		h.t.Fatal(err)
	}
	session, err := h.db.FindSession(ctx, victimSession)
	if err != nil {
		h.t.Fatal(err)
	}
	return fmt.Sprintf("engine %d/%d/%d/%d/%d, %d events, %d tokens, %d audit records, victim revoked %t, session revoked %t",
		len(c.submits), len(c.locks), len(c.unlocks), len(c.retries), len(c.decisions),
		len(events), len(tokens), len(audit), victim.RevokedAt != nil, session.RevokedAt != nil)
}

// as sends a request with token.
func (h *roleHarness) as(token, method, path, body string) response {
	h.t.Helper()
	return h.do(method, path, body, "Authorization", "Bearer "+token)
}

// concrete fills a route's parameters with things that exist and that the manager
// may see, so that an allowed call can succeed; Echo's \: is a literal colon.
func (h *roleHarness) concrete(method, route string) (path, body string) {
	segs := strings.Split(route, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, ":") {
			continue
		}
		prev := segs[i-1]
		switch {
		case s == ":app":
			segs[i] = "github"
		case prev == "employees":
			segs[i] = "ada"
		case prev == "approvals":
			segs[i] = "ap-mine"
		case prev == "tokens":
			segs[i] = h.victim
		default:
			segs[i] = "x"
		}
	}
	path = strings.ReplaceAll(strings.Join(segs, "/"), `\:`, ":")
	switch {
	case method == http.MethodPost && route == "/api/v1/events":
		body = hireBody("", "newhire")
	case method == http.MethodPost && route == "/api/v1/tokens":
		body = `{"name":"made in the matrix","role":"auditor","expires_in":"1h"}`
	case route == "/api/v1/sessions":
		path += "?email=victim@example.com"
	case method == http.MethodPost:
		body = `{}`
	}
	return path, body
}

// TestEveryRouteAndRole calls every route the server registers as every role, and
// without a token, and checks each answer against roleMatrix: 401 without a valid
// token, 403 for a role that is not allowed (and nothing done), and for an allowed
// role an answer that is neither a refusal nor a server error.
func TestEveryRouteAndRole(t *testing.T) {
	h := newRoleHarness(t)
	routes := apiRoutes(t, h.cfg)
	seen := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		seen[key] = true
		allowed, ok := roleMatrix[key]
		if !ok {
			t.Errorf("%s has no decision in roleMatrix (api/auth_test.go) and docs/api-tokens.md: add which roles may call it", key)
			continue
		}
		path, body := h.concrete(r.Method, r.Path)

		res := h.do(r.Method, path, body, "Authorization", "")
		if res.status != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d %s, want 401", key, res.status, res.body)
		}
		for _, role := range tenure.Roles {
			before := h.state()
			res := h.as(h.tokens[role], r.Method, path, body)
			if !slices.Contains(allowed, role) {
				if res.status != http.StatusForbidden {
					t.Errorf("%s as %s: %d %s, want 403", key, role, res.status, res.body)
					continue
				}
				wantError(t, res, http.StatusForbidden, tenure.EFORBIDDEN)
				if after := h.state(); after != before {
					t.Errorf("%s as %s was refused but changed %s to %s", key, role, before, after)
				}
				continue
			}
			if res.status == http.StatusUnauthorized || res.status == http.StatusForbidden || res.status >= 500 {
				t.Errorf("%s as %s: %d %s, want it let through", key, role, res.status, res.body)
			}
		}
	}
	for key := range roleMatrix {
		if !seen[key] {
			// Not an error: a row may be written before its route is merged.
			t.Logf("roleMatrix has %s, which the server does not register", key)
		}
	}
}

// TestAllowedCallsSucceed pins the matrix's "let through" to real successes for the
// routes that read or decide, for each role that may call them.
func TestAllowedCallsSucceed(t *testing.T) {
	h := newRoleHarness(t)
	for _, tc := range []struct {
		role, method, path string
		want               int
	}{
		{tenure.RoleHR, "GET", "/api/v1/employees/grace", 200},
		{tenure.RoleAuditor, "GET", "/api/v1/employees/grace", 200},
		{tenure.RoleAuditor, "GET", "/api/v1/approvals", 200},
		{tenure.RoleAuditor, "GET", "/api/v1/audit", 200},
		{tenure.RoleManager, "GET", "/api/v1/employees/ada", 200},
		{tenure.RoleManager, "POST", "/api/v1/approvals/ap-mine/deny", 200},
		{tenure.RoleHR, "POST", "/api/v1/events", 202},
		{tenure.RoleAdmin, "POST", "/api/v1/employees/grace/lock", 202},
	} {
		body := ""
		if tc.path == "/api/v1/events" {
			body = hireBody("", "newhire")
		}
		if res := h.as(h.tokens[tc.role], tc.method, tc.path, body); res.status != tc.want {
			t.Errorf("%s %s as %s: %d %s, want %d", tc.method, tc.path, tc.role, res.status, res.body, tc.want)
		}
	}
}

func TestManagerSeesOnlyTheirReports(t *testing.T) {
	h := newRoleHarness(t)
	mgr := h.tokens[tenure.RoleManager]
	ids := func(res response) []string {
		t.Helper()
		var l employeeList
		if err := json.Unmarshal(res.body, &l); err != nil || res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		var out []string
		for _, e := range l.Employees {
			out = append(out, e.ID)
		}
		if l.Total != len(out) {
			t.Fatalf("total %d for %v", l.Total, out)
		}
		return out
	}
	if got := ids(h.as(mgr, "GET", "/api/v1/employees", "")); !slices.Equal(got, []string{"ada"}) {
		t.Fatalf("manager's list = %v, want [ada]", got)
	}
	if got := ids(h.as(mgr, "GET", "/api/v1/employees?q=grace", "")); len(got) != 0 {
		t.Fatalf("a search reached another manager's report: %v", got)
	}
	if got := ids(h.as(h.tokens[tenure.RoleHR], "GET", "/api/v1/employees", "")); len(got) != 3 {
		t.Fatalf("hr's list = %v, want everyone", got)
	}

	// Another manager's report, and someone who does not exist, look the same.
	other := wantError(t, h.as(mgr, "GET", "/api/v1/employees/grace", ""), http.StatusNotFound, tenure.ENOTFOUND)
	nobody := wantError(t, h.as(mgr, "GET", "/api/v1/employees/nobody", ""), http.StatusNotFound, tenure.ENOTFOUND)
	if strings.Replace(other.Message, "grace", "nobody", 1) != nobody.Message {
		t.Errorf("messages differ: %q and %q", other.Message, nobody.Message)
	}
	if res := h.as(mgr, "GET", "/api/v1/employees/ada", ""); res.status != 200 || res.json(t)["id"] != "ada" {
		t.Fatalf("own report: %d %s", res.status, res.body)
	}
	// Nor may they read their own record: a manager reads reports only.
	wantError(t, h.as(mgr, "GET", "/api/v1/employees/boss", ""), http.StatusNotFound, tenure.ENOTFOUND)
}

func TestManagerDecidesOnlyTheirApprovals(t *testing.T) {
	h := newRoleHarness(t)
	mgr := h.tokens[tenure.RoleManager]
	res := h.as(mgr, "GET", "/api/v1/approvals", "")
	var l approvalList
	if err := json.Unmarshal(res.body, &l); err != nil || len(l.Approvals) != 1 || l.Approvals[0].ID != "ap-mine" {
		t.Fatalf("manager's approvals: %d %s", res.status, res.body)
	}
	res = h.as(h.tokens[tenure.RoleAuditor], "GET", "/api/v1/approvals", "")
	if err := json.Unmarshal(res.body, &l); err != nil || len(l.Approvals) != 2 {
		t.Fatalf("auditor's approvals: %d %s", res.status, res.body)
	}

	wantError(t, h.as(mgr, "POST", "/api/v1/approvals/ap-other/approve", `{"reason":"mine now"}`), http.StatusNotFound, tenure.ENOTFOUND)
	wantError(t, h.as(mgr, "POST", "/api/v1/approvals/ap-other/deny", ""), http.StatusNotFound, tenure.ENOTFOUND)
	if d := h.engine.calls().decisions; len(d) != 0 {
		t.Fatalf("another manager's approval was decided: %+v", d)
	}
	res = h.as(mgr, "POST", "/api/v1/approvals/ap-mine/approve", `{"reason":"on call"}`)
	if res.status != http.StatusOK {
		t.Fatalf("own approval: %d %s", res.status, res.body)
	}
	want := []tenure.Decision{{ApprovalID: "ap-mine", Approve: true, By: "boss", Reason: "on call", Role: tenure.RoleManager}}
	if got := h.engine.calls().decisions; !slices.Equal(got, want) {
		t.Fatalf("decisions %+v, want %+v (decided by the manager's HR ID)", got, want)
	}

	// Once escalated to boss, another manager's approval is boss's to decide too.
	if err := h.db.EscalateApproval(context.Background(), "ap-other", "boss"); err != nil {
		t.Fatal(err)
	}
	if res := h.as(mgr, "POST", "/api/v1/approvals/ap-other/deny", ""); res.status != http.StatusOK {
		t.Fatalf("escalated approval: %d %s", res.status, res.body)
	}

	// A manager token that names nobody sees nothing, rather than everything.
	if err := h.db.CreateToken(context.Background(), tenure.APIToken{ID: "tok_nobody", Name: "broken", Role: tenure.RoleManager,
		Prefix: "tnr_BROKEN00", Hash: HashToken("tnr_BROKEN00000"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.as("tnr_BROKEN00000", "GET", "/api/v1/employees", ""), http.StatusForbidden, tenure.EFORBIDDEN)
	wantError(t, h.as("tnr_BROKEN00000", "GET", "/api/v1/approvals", ""), http.StatusForbidden, tenure.EFORBIDDEN)
}

func TestTokenLifecycleThroughTheAPI(t *testing.T) {
	h := newRoleHarness(t)
	ctx := context.Background()
	res := h.do("POST", "/api/v1/tokens", `{"name":"workday feed","role":"hr","expires_in":"720h"}`)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var created struct {
		tenure.APIToken
		Token string `json:"token"`
		Hash  string `json:"hash"`
	}
	if err := json.Unmarshal(res.body, &created); err != nil {
		t.Fatal(err)
	}
	tok := created.Token
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) < 40 || created.Prefix != tok[:shownPrefix] ||
		created.Role != tenure.RoleHR || created.Name != "workday feed" || created.ExpiresAt == nil ||
		time.Until(*created.ExpiresAt) < 719*time.Hour || created.CreatedBy != "bootstrap" || created.Hash != "" {
		t.Fatalf("created %s", res.body)
	}
	h.tokens["workday"] = tok // so the logs are checked for it too

	// It works, for what an hr token may do, and its use is recorded.
	if res := h.as(tok, "POST", "/api/v1/events", hireBody("ev-tok", "newhire")); res.status != http.StatusAccepted {
		t.Fatalf("using the token: %d %s", res.status, res.body)
	}
	wantError(t, h.as(tok, "GET", "/api/v1/audit", ""), http.StatusForbidden, tenure.EFORBIDDEN)

	// Listed without the token or its hash.
	res = h.do("GET", "/api/v1/tokens", "")
	if res.status != 200 || strings.Contains(string(res.body), tok[shownPrefix:]) || strings.Contains(string(res.body), HashToken(tok)) ||
		strings.Contains(string(res.body), `"token"`) {
		t.Fatalf("list: %d %s", res.status, res.body)
	}
	var l tokenList
	if err := json.Unmarshal(res.body, &l); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(l.Tokens, func(x tenure.APIToken) bool { return x.ID == created.ID })
	if i < 0 || l.Tokens[i].LastUsedAt == nil || l.Tokens[i].Prefix != created.Prefix {
		t.Fatalf("the new token in the list: %+v", l.Tokens)
	}

	// Only the hash is in the database: no column of its row holds the token.
	raw, err := sql.Open("sqlite", h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query("SELECT * FROM api_tokens WHERE id = ?", created.ID)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		t.Fatal("no row for the token")
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	var row strings.Builder
	for i, c := range cols {
		fmt.Fprintf(&row, "%s=%s\n", c, vals[i])
	}
	if strings.Contains(row.String(), tok[shownPrefix:]) || strings.Contains(strings.ToLower(row.String()), strings.ToLower(tok[shownPrefix:])) {
		t.Fatalf("the row holds the token:\n%s", row.String())
	}
	if !strings.Contains(row.String(), "hash="+HashToken(tok)+"\n") {
		t.Fatalf("the row does not hold the token's SHA-256:\n%s", row.String())
	}

	// Revoked: 401 at once, and the revocation is in the audit trail.
	res = h.do("DELETE", "/api/v1/tokens/"+created.ID, "")
	if res.status != 200 || res.json(t)["revoked_at"] == nil {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	e := wantError(t, h.as(tok, "POST", "/api/v1/events", hireBody("ev-tok-2", "newhire")), http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	if !strings.Contains(e.Message, "revoked") {
		t.Errorf("message %q should say the token was revoked", e.Message)
	}
	if res := h.do("DELETE", "/api/v1/tokens/"+created.ID, ""); res.status != 200 {
		t.Fatalf("revoking again: %d %s", res.status, res.body)
	}
	wantError(t, h.do("DELETE", "/api/v1/tokens/tok_nothere", ""), http.StatusNotFound, tenure.ENOTFOUND)
	audit, err := h.db.ListAudit(ctx, tenure.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		if strings.Contains(a.Key, created.ID) {
			actions = append(actions, a.Action+" by "+a.Actor)
		}
	}
	slices.Sort(actions)
	if !slices.Equal(actions, []string{"token.created by bootstrap", "token.revoked by bootstrap"}) {
		t.Fatalf("audit = %v", actions)
	}
	if n := h.engine.submitCount(); n != 1 {
		t.Fatalf("%d events reached the engine, want 1 (the revoked token's must not)", n)
	}
}

func TestExpiredAndUnknownTokens(t *testing.T) {
	h := newRoleHarness(t)
	expired := h.issue(TokenSpec{Name: "old", Role: tenure.RoleAdmin}, time.Now().Add(-2*time.Hour))
	e := wantError(t, h.as(expired, "GET", "/api/v1/apps", ""), http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	if !strings.Contains(e.Message, "expired") {
		t.Errorf("message %q should say the token expired", e.Message)
	}
	h.tokens["expired"] = expired
	// One character off, and a token that was never issued.
	good := h.tokens[tenure.RoleAdmin]
	last := "A"
	if strings.HasSuffix(good, "A") {
		last = "B"
	}
	flipped := good[:len(good)-1] + last
	for _, tok := range []string{flipped, TokenPrefix + "NEVERISSUED", strings.ToLower(good)} {
		wantError(t, h.as(tok, "GET", "/api/v1/apps", ""), http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	}
	if res := h.as(good, "GET", "/api/v1/apps", ""); res.status != 200 {
		t.Fatalf("the good token: %d %s", res.status, res.body)
	}
	// The bootstrap token still works beside issued ones.
	if res := h.do("GET", "/api/v1/apps", ""); res.status != 200 {
		t.Fatalf("the bootstrap token: %d %s", res.status, res.body)
	}
}

func TestCreateTokenValidation(t *testing.T) {
	h := newRoleHarness(t)
	ctx := context.Background()
	before, _ := h.db.ListTokens(ctx)
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{"role":"manager"}`, []string{"employee_id", "name"}},
		{`{"name":"x","role":"root","expires_in":"-1h","colour":1}`, []string{"colour", "expires_in", "role"}},
		{`{"name":" x","role":"hr","employee_id":"a/b","expires_at":"2001-01-01T00:00:00Z"}`, []string{"employee_id", "expires_at", "name"}},
		{`{"name":"x","role":"hr","expires_at":"2099-01-01T00:00:00Z","expires_in":"1h"}`, []string{"expires_in"}},
		{`{"name":"x","role":"hr","expires_at":"tomorrow"}`, []string{"expires_at"}},
		{`{"name":`, []string{"body"}},
		{``, []string{"body"}},
	} {
		e := wantError(t, h.do("POST", "/api/v1/tokens", tc.body), http.StatusBadRequest, tenure.EINVALID)
		var got []string
		for _, f := range e.Fields {
			got = append(got, f.Field)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.fields) {
			t.Errorf("%s: fields %v, want %v", tc.body, got, tc.fields)
		}
	}
	after, _ := h.db.ListTokens(ctx)
	if len(after) != len(before) {
		t.Fatalf("refused requests created %d tokens", len(after)-len(before))
	}
	// A manager token needs the HR ID it is scoped to, and gets it.
	res := h.do("POST", "/api/v1/tokens", `{"name":"Bea","role":"manager","employee_id":"boss"}`)
	if res.status != http.StatusCreated || res.json(t)["employee_id"] != "boss" || res.json(t)["expires_at"] != nil {
		t.Fatalf("manager token: %d %s", res.status, res.body)
	}
	tok, _ := res.json(t)["token"].(string)
	h.tokens["bea"] = tok
	var l employeeList
	if err := json.Unmarshal(h.as(tok, "GET", "/api/v1/employees", "").body, &l); err != nil || len(l.Employees) != 1 || l.Employees[0].ID != "ada" {
		t.Fatalf("the new manager token sees %+v", l)
	}
}
