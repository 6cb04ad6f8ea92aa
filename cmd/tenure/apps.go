package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/worker"
)

const appsUsage = `Usage:
  tenure apps test [flags] [APP...]

Checks each app of the policy (all of them, or the ones named) as the worker
will use it: builds its connector from the policy, makes an authenticated call
(reachability and credentials), reads the first account and looks up a user
that does not exist (read access), then compares what the app can do with what
its connector kind declares and with what the policy needs of it.

Exits non-zero when an app cannot be reached or read, or lacks something the
policy needs (such as groups for the entitlements it grants). What the policy
does not need (ending sessions, say) is reported, not failed.

Sandbox apps are the ones tenure dev serves: their address is --dev-url, and
their token TENURE_SANDBOX_TOKEN or else DIR/sandbox.token in tenure dev's
--data-dir.`

// The user that `tenure apps test` looks up, which no app should hold: .invalid
// is a top-level domain reserved never to exist (RFC 2606).
const (
	probeExternalID = "tenure-apps-test"
	probeUserName   = "tenure-apps-test@invalid"
)

// runApps is `tenure apps test`.
func runApps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, appsUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] != "test" {
		fmt.Fprintln(stderr, appsUsage)
		return fmt.Errorf("unknown apps command %q: use test", args[0])
	}
	fs := newFlags("apps test", appsUsage, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", appsUsage)
		fs.PrintDefaults()
	}
	var cfg appsTestConfig
	fs.StringVar(&cfg.policyPath, "policy", getenv("TENURE_POLICY"), "access policy `FILE` (default: the built-in dev policy); env TENURE_POLICY")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "how long each call to an app may take")
	fs.BoolVar(&cfg.json, "json", false, "print the results as JSON")
	fs.StringVar(&cfg.devURL, "dev-url", envOr(getenv, "TENURE_SANDBOX_URL", "http://127.0.0.1:8080"),
		"base `URL` of the tenure dev (or tenure api --sandbox) that serves the policy's sandbox apps; env TENURE_SANDBOX_URL")
	fs.StringVar(&cfg.dataDir, "data-dir", envOr(getenv, "TENURE_DATA_DIR", ".tenure"),
		"tenure dev's data directory (`DIR`), whose sandbox.token the sandbox apps accept, unless TENURE_SANDBOX_TOKEN is set; env TENURE_DATA_DIR")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	// Let flags follow the app names too: tenure apps test github --json.
	for fs.NArg() > 0 {
		cfg.names = append(cfg.names, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if cfg.timeout <= 0 {
		return errors.New("--timeout must be more than 0")
	}
	cfg.sandboxToken = getenv("TENURE_SANDBOX_TOKEN")
	return appsTest(ctx, cfg, getenv, stdout)
}

// appsTestConfig is what `tenure apps test` was asked to do.
type appsTestConfig struct {
	policyPath   string
	names        []string // the apps to test; none means all
	timeout      time.Duration
	json         bool
	devURL       string
	dataDir      string
	sandboxToken string // TENURE_SANDBOX_TOKEN; wins over DIR/sandbox.token
}

// appsTest tests the apps and prints what it found. Its error says which apps
// failed, after the report is printed.
func appsTest(ctx context.Context, cfg appsTestConfig, getenv func(string) string, stdout io.Writer) error {
	pol, err := loadPolicy(cfg.policyPath, getenv)
	if err != nil {
		return err
	}
	apps, err := selectApps(pol, cfg.names)
	if err != nil {
		return err
	}
	// A sandbox app has no address or token until it is told where tenure dev
	// serves it; without a token it cannot be tested, but the others can.
	var sandboxErr error
	sandboxes := pol.SandboxApps()
	if slices.ContainsFunc(apps, func(a integrations.AppConfig) bool { return slices.Contains(sandboxes, a.Name) }) {
		token, err := sandboxToken(cfg)
		if err != nil {
			sandboxErr = err
		} else {
			pol = pol.WithSandbox(strings.TrimRight(cfg.devURL, "/"), token)
			for i := range apps {
				apps[i], _ = pol.App(apps[i].Name)
			}
		}
	}

	reports := make([]chan appReport, len(apps))
	for i, app := range apps {
		reports[i] = make(chan appReport, 1)
		t := appTest{app: app, managed: pol.Managed(app.Name), timeout: cfg.timeout}
		if slices.Contains(sandboxes, app.Name) {
			t.sandbox, t.devURL, t.configErr = true, cfg.devURL, sandboxErr
		}
		// Apps are tested at once, so one that does not answer costs the
		// timeout once, not once per app.
		go func() { reports[i] <- t.run(ctx) }()
	}
	var all []appReport
	var failed []string
	for i := range apps {
		r := <-reports[i]
		all = append(all, r)
		if !r.OK {
			failed = append(failed, r.Name)
		}
		if !cfg.json {
			r.print(stdout)
		}
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			OK   bool        `json:"ok"`
			Apps []appReport `json:"apps"`
		}{len(failed) == 0, all}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%d of %d %s ready\n", len(all)-len(failed), len(all), plural(len(all), "app", "apps"))
	}
	if len(failed) > 0 {
		return fmt.Errorf("apps test: %s not ready", strings.Join(failed, ", "))
	}
	return nil
}

// selectApps returns the apps named, in the order given, or every app when
// none is.
func selectApps(pol *policy.Policy, names []string) ([]integrations.AppConfig, error) {
	if len(names) == 0 {
		return pol.Apps(), nil
	}
	var out []integrations.AppConfig
	for _, name := range names {
		app, ok := pol.App(name)
		if !ok {
			var known []string
			for _, a := range pol.Apps() {
				known = append(known, a.Name)
			}
			return nil, fmt.Errorf("the policy has no app %q; its apps are: %s", name, strings.Join(known, ", "))
		}
		if !slices.ContainsFunc(out, func(a integrations.AppConfig) bool { return a.Name == name }) {
			out = append(out, app)
		}
	}
	return out, nil
}

// sandboxToken is the token tenure dev's sandbox apps accept: the one given, or
// else the one tenure dev keeps in its data directory. It never creates one, as
// tenure dev would: a new token would only be refused.
func sandboxToken(cfg appsTestConfig) (string, error) {
	if cfg.sandboxToken != "" {
		return cfg.sandboxToken, nil
	}
	path := filepath.Join(cfg.dataDir, "sandbox.token")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("a sandbox app has the token of the tenure dev that serves it, and there is none: %s does not exist; "+
			"give tenure dev's --data-dir, or set TENURE_SANDBOX_TOKEN", path)
	case err != nil:
		return "", fmt.Errorf("reading the sandbox apps' token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("the sandbox apps' token file %s is empty", path)
	}
	return token, nil
}

// appTest is the test of one app.
type appTest struct {
	app       integrations.AppConfig
	sandbox   bool
	devURL    string   // where tenure dev serves the app, when it is a sandbox app
	managed   []string // the entitlements the policy grants in the app
	timeout   time.Duration
	configErr error // set when the app cannot even be configured
}

// appReport is what the test of one app found. It is printed as text or JSON.
type appReport struct {
	Name      string `json:"name"`
	Connector string `json:"connector"`
	BaseURL   string `json:"base_url,omitempty"`
	Sandbox   bool   `json:"sandbox,omitempty"`
	// Params are the app's non-secret keys from the policy, such as org.
	Params map[string]string `json:"params,omitempty"`
	// OK is true when every check passed and the app can do all the policy
	// needs of it.
	OK           bool         `json:"ok"`
	Checks       []check      `json:"checks"`
	Capabilities []capability `json:"capabilities,omitempty"`

	kindKeys []integrations.Key // the order in which to print Params
}

// The checks, in the order they run.
const (
	checkConfig  = "config"  // the connector could be built from the policy
	checkConnect = "connect" // Capabilities: reachable, credentials accepted
	checkList    = "list"    // the first account could be read
	checkLookup  = "lookup"  // a user who does not exist is reported as not found
)

// check is the outcome of one check.
type check struct {
	Name   string      `json:"name"`
	OK     bool        `json:"ok"`
	Millis int64       `json:"ms"`
	Error  *checkError `json:"error,omitempty"`

	said string // what the text report says when the check passed
}

// checkError is why a check failed, in the app's own words.
type checkError struct {
	// Kind is the integrations error kind (transient, rate_limited,
	// permanent, not_found, conflict), or invalid for a bad config.
	Kind   string `json:"kind"`
	Status int    `json:"status,omitempty"` // the app's HTTP status
	Field  string `json:"field,omitempty"`  // the policy key at fault, for a bad config
	// Message is what went wrong, with the app's own explanation.
	Message string `json:"message"`
	// Hint is what to do about it, where Tenure knows better than the app.
	Hint string `json:"hint,omitempty"`
}

// capability compares one capability as the app reports it with what its
// kind declares and what the policy needs.
type capability struct {
	Name   string `json:"name"`
	App    bool   `json:"app"`    // this app reports it
	Kind   bool   `json:"kind"`   // every app of the kind can (its Spec)
	Needed bool   `json:"needed"` // the policy needs it of this app
	// Entitlements are what the policy grants that need it.
	Entitlements []string `json:"entitlements,omitempty"`
	Note         string   `json:"note,omitempty"`
}

// run runs the checks in order; a check that fails ends the test, as the ones
// after it would only fail again for the same reason.
func (t appTest) run(ctx context.Context) (r appReport) {
	r = appReport{Name: t.app.Name, Connector: t.app.Connector, BaseURL: displayURL(t.app.BaseURL), Sandbox: t.sandbox}
	spec, known := kindSpec(t.app.Connector)
	r.kindKeys = spec.Keys
	for _, k := range spec.Keys {
		if v, ok := t.app.Params[k.Name]; ok && !k.Secret && k.Name != "base_url" && k.Name != "url" {
			if r.Params == nil {
				r.Params = map[string]string{}
			}
			r.Params[k.Name] = displayURL(v)
		}
	}
	defer func() { r.redact(t.app) }()

	conn, err := t.connector(spec, known)
	if err != nil {
		e := describe(err, t.timeout)
		e.Kind = tenure.EINVALID // whatever the cause, the fix is in the config
		r.Checks = append(r.Checks, check{Name: checkConfig, Error: e})
		return r
	}
	r.Checks = append(r.Checks, check{Name: checkConfig, OK: true})
	var caps integrations.Capabilities
	start := time.Now()
	err = t.call(ctx, func(ctx context.Context) (err error) {
		caps, err = conn.Capabilities(ctx)
		return err
	})
	if !r.add(check{Name: checkConnect, said: "reachable, credentials accepted"}, start, err, t.timeout) {
		t.hint(r.Checks[len(r.Checks)-1].Error)
		return r
	}

	start = time.Now()
	var accounts int
	err = t.call(ctx, func(ctx context.Context) error {
		return conn.List(ctx, func(integrations.Account) bool { accounts++; return false })
	})
	said := "can read accounts"
	// Only a call that returned has finished counting: one that timed out
	// may still be running.
	if err == nil && accounts == 0 {
		said += "; the app has none yet"
	}
	if !r.add(check{Name: checkList, said: said}, start, err, t.timeout) {
		return r
	}

	start = time.Now()
	err = t.call(ctx, func(ctx context.Context) error {
		acct, err := conn.Lookup(ctx, probeExternalID, probeUserName)
		switch {
		case integrations.IsNotFound(err):
			return nil
		case err == nil:
			return &integrations.Error{Kind: integrations.Conflict, App: t.app.Name, Op: "lookup",
				Detail: fmt.Sprintf("found account %s for %s, a user that cannot exist; lookups would find the wrong people", acct.ID, probeUserName)}
		}
		return err
	})
	if !r.add(check{Name: checkLookup, said: "finds no account for a user who does not exist"}, start, err, t.timeout) {
		return r
	}

	r.Capabilities = compare(t.app.Connector, caps, spec.Can, t.managed)
	r.OK = ready(r.Capabilities)
	return r
}

// ready reports whether the app can do all the policy needs of it.
func ready(caps []capability) bool {
	return !slices.ContainsFunc(caps, func(c capability) bool { return c.Needed && !c.App })
}

// connector builds the app's connector as the worker does, which checks the
// config but makes no call.
func (t appTest) connector(spec integrations.Spec, known bool) (integrations.Connector, error) {
	switch {
	case t.configErr != nil:
		return nil, t.configErr
	case !known:
		return nil, fmt.Errorf("unknown connector %q; known connectors: %s", t.app.Connector, strings.Join(worker.Kinds(), ", "))
	}
	return spec.New(t.app)
}

// hint says what to do about a sandbox app that cannot be reached or refuses
// the token: both are about the tenure dev that should serve it.
func (t appTest) hint(e *checkError) {
	switch {
	case !t.sandbox:
	case e.Status == 401:
		e.Hint = "the token is not the one this tenure dev's sandbox apps accept: give its --data-dir, or its sandbox.token in TENURE_SANDBOX_TOKEN"
	case e.Status == 0 || e.Status == 404:
		e.Hint = "sandbox apps are served by tenure dev: is it running at " + t.devURL + " with this policy? Give its address with --dev-url"
	}
}

// call runs fn with the timeout. A connector that ignores its context still
// returns no later than the timeout, with the context's error.
func (t appTest) call(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The app's words are about the cancelled request; the timeout
			// is what a person can act on.
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// add records a check that started at start and ended with err, and reports
// whether it passed.
func (r *appReport) add(c check, start time.Time, err error, timeout time.Duration) bool {
	c.Millis = time.Since(start).Milliseconds()
	c.OK = err == nil
	if err != nil {
		c.Error = describe(err, timeout)
	}
	r.Checks = append(r.Checks, c)
	return c.OK
}

// describe turns an error into what a person reads: the app's own words, the
// status it answered with, or the policy key at fault.
func describe(err error, timeout time.Duration) *checkError {
	var ae *integrations.Error
	var te *tenure.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &checkError{Kind: integrations.Transient.String(), Message: fmt.Sprintf("no answer within %s (--timeout)", timeout)}
	case errors.Is(err, context.Canceled):
		return &checkError{Kind: integrations.Transient.String(), Message: "interrupted"}
	case errors.As(err, &ae):
		msg := ae.Detail
		if msg == "" {
			msg = "the app gave no reason"
		}
		if ae.RetryAfter > 0 {
			msg += fmt.Sprintf(" (retry after %s)", ae.RetryAfter)
		}
		return &checkError{Kind: ae.Kind.String(), Status: ae.Status, Message: msg}
	case errors.As(err, &te) && te.Code == tenure.EINVALID:
		e := &checkError{Kind: tenure.EINVALID, Message: te.Message}
		if len(te.Fields) > 0 {
			e.Field = te.Fields[0].Field
		}
		return e
	}
	return &checkError{Kind: integrations.KindOf(err).String(), Message: err.Error()}
}

// allCapabilities has every capability, so that what a Capabilities lacks of
// it names them all, in Capabilities.Missing's order.
var allCapabilities = integrations.Capabilities{Groups: true, RevokeSessions: true, Disable: true, Delete: true,
	ReclaimLicence: true, TransferData: true, Filter: true}

// compare lines up, capability by capability, what the app reports, what its
// kind declares, and what the policy needs: groups, when it grants
// entitlements in the app. Everything else changes how Tenure goes about a
// lock or a leaver, not whether it can, and the note says how.
func compare(kind string, app, can integrations.Capabilities, managed []string) []capability {
	appLacks := app.Missing(allCapabilities)
	kindLacks := can.Missing(allCapabilities)
	var out []capability
	for _, name := range (integrations.Capabilities{}).Missing(allCapabilities) {
		c := capability{Name: name, App: !slices.Contains(appLacks, name), Kind: !slices.Contains(kindLacks, name)}
		if name == "groups" && len(managed) > 0 {
			c.Needed, c.Entitlements = true, managed
		}
		var notes []string
		if c.Needed {
			notes = append(notes, fmt.Sprintf("needed: %d %s in the policy", len(managed), plural(len(managed), "entitlement", "entitlements")))
		}
		if !c.App {
			notes = append(notes, without(name, app))
		}
		c.Note = strings.Join(notes, "; ")
		switch {
		case !c.App && c.Kind:
			c.Note += " (the " + kind + " connector can; this app does not offer it)"
		case c.App && !c.Kind:
			c.Note = strings.TrimPrefix(c.Note+"; this app reports it, though the "+kind+" connector does not declare it", "; ")
		}
		out = append(out, c)
	}
	return out
}

// without says what Tenure does instead where the app lacks the capability
// name, as the activities go about it.
func without(name string, app integrations.Capabilities) string {
	switch name {
	case "groups":
		return "no entitlements can be granted in this app"
	case "revoke_sessions":
		if !app.Disable {
			return "this app cannot end sessions: a lock removes the person instead"
		}
		return "this app cannot end sessions: a lock disables the account, and sessions already open last until they expire"
	case "disable":
		return "this app cannot switch an account off: a lock removes the person, and unlocking adds them again"
	case "delete":
		return "a leaver's account stays disabled instead of being deleted"
	case "reclaim_licence":
		return "removing an account is not known to free its licence"
	case "transfer_data":
		return "a leaver's data is not handed to their manager before the account goes"
	case "filter":
		return "lookups page through the accounts instead of searching, which is slower in a large app"
	}
	return ""
}

// kindSpec returns the Spec of the connector kind.
func kindSpec(kind string) (integrations.Spec, bool) {
	for _, s := range worker.Specs {
		if s.Kind == kind {
			return s, true
		}
	}
	return integrations.Spec{}, false
}

// redact removes the app's secrets from everything the report says. The
// connectors already leave them out of their errors; this makes sure of it.
func (r *appReport) redact(app integrations.AppConfig) {
	secrets := []string{app.Token}
	for _, s := range app.Secrets {
		secrets = append(secrets, s)
	}
	scrub := func(s string) string {
		for _, secret := range secrets {
			// A secret that short would only mangle ordinary words.
			if len(secret) >= 4 {
				s = strings.ReplaceAll(s, secret, "[redacted]")
			}
		}
		return s
	}
	r.BaseURL = scrub(r.BaseURL)
	for k, v := range r.Params {
		r.Params[k] = scrub(v)
	}
	for i := range r.Checks {
		if e := r.Checks[i].Error; e != nil {
			e.Message = scrub(e.Message)
		}
	}
	for i := range r.Capabilities {
		r.Capabilities[i].Note = scrub(r.Capabilities[i].Note)
	}
}

// displayURL drops any user and password from a URL shown to people.
func displayURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// The markers at the start of each line of the text report.
const (
	markOK      = "ok"
	markNo      = "no"      // a capability the policy does not need
	markMissing = "MISSING" // a capability the policy needs
	markFailed  = "FAILED"
)

// print writes the report as text, one line per check and capability.
func (r appReport) print(w io.Writer) {
	var about []string
	if r.BaseURL != "" {
		about = append(about, r.Connector+" at "+r.BaseURL)
	} else {
		about = append(about, r.Connector)
	}
	for _, k := range r.kindKeys {
		if v, ok := r.Params[k.Name]; ok {
			about = append(about, k.Name+" "+v)
		}
	}
	if r.Sandbox {
		about = append(about, "sandbox")
	}
	fmt.Fprintf(w, "%s (%s)\n", r.Name, strings.Join(about, ", "))
	line := func(mark, what, note string) {
		if note == "" {
			fmt.Fprintf(w, "  %-7s  %s\n", mark, what)
			return
		}
		fmt.Fprintf(w, "  %-7s  %-15s  %s\n", mark, what, note)
	}
	for _, c := range r.Checks {
		switch {
		case c.OK && c.Name == checkConfig:
			// Said by the checks after it, which could not run without it.
		case c.OK:
			line(markOK, fmt.Sprintf("%s (%d ms)", c.said, c.Millis), "")
		default:
			line(markFailed, failure(c), "")
			if c.Error.Hint != "" {
				fmt.Fprintf(w, "  %-7s  %s\n", "", c.Error.Hint)
			}
		}
	}
	for _, c := range r.Capabilities {
		mark := markOK
		switch {
		case !c.App && c.Needed:
			mark = markMissing
		case !c.App:
			mark = markNo
		}
		line(mark, c.Name, c.Note)
	}
	fmt.Fprintln(w)
}

// failure says what a failed check means, then why, in the app's words.
func failure(c check) string {
	e := c.Error
	var what string
	switch c.Name {
	case checkConfig:
		if e.Field != "" {
			return "the policy's config is wrong: " + e.Message
		}
		return "cannot set up the connector: " + e.Message
	case checkConnect:
		what = "cannot connect"
		switch {
		case e.Status == 401:
			what = "credentials refused"
		case e.Status == 403:
			what = "credentials lack permission"
		case e.Kind == integrations.Transient.String() && e.Status == 0:
			what = "not reachable"
		}
	case checkList:
		what = "cannot read accounts"
	case checkLookup:
		what = "cannot look up a user"
	}
	if e.Status != 0 {
		what += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	return what + ": " + e.Message
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
