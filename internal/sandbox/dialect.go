package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	scimerr "github.com/elimity-com/scim/errors"
	"github.com/tenure-io/tenure"
)

// Dialect makes one app speak SCIM the way some real services do, each within
// what RFC 7643 and 7644 allow or commonly seen beside them, so a client's
// handling of each can be shown and tested over real HTTP. The zero Dialect is
// the default: every attribute shown on every side, every request form taken.
// Over HTTP (PUT /sandbox/<app>/_dialect) it is JSON with the field names in
// camelCase: {"noUserGroups": true, "patch": "value", "pageSize": 3}.
type Dialect struct {
	// NoUserGroups leaves the read-only groups attribute off every User, as AWS
	// IAM Identity Center and several open-source servers do.
	NoUserGroups bool `json:"noUserGroups,omitempty"`
	// NoGroupMembers leaves members off every Group, even when asked for.
	NoGroupMembers bool `json:"noGroupMembers,omitempty"`
	// NoMemberFilter answers a filter on a Group's members with 400 invalidFilter.
	NoMemberFilter bool `json:"noMemberFilter,omitempty"`
	// NoGroupFilter answers any filter on /Groups with 400 invalidFilter.
	NoGroupFilter bool `json:"noGroupFilter,omitempty"`
	// NoGroupCreate answers POST /Groups with 403: groups are made in the app.
	NoGroupCreate bool `json:"noGroupCreate,omitempty"`
	// NoActive drops the User's active attribute from the schema: users cannot
	// be switched off, only deleted, and a PATCH of active is refused.
	NoActive bool `json:"noActive,omitempty"`
	// Patch is the PATCH form taken for add and replace: "" takes both, "path"
	// refuses operations without a path, "value" refuses them with one (the
	// value map form: {"op":"replace","value":{"active":false}}). A remove
	// always needs its path.
	Patch string `json:"patch,omitempty"`
	// RequireETags makes PATCH, PUT and DELETE need If-Match with the
	// resource's current version: 428 without one, 412 when it is stale.
	RequireETags bool `json:"requireETags,omitempty"`
	// PageSize, when set, is the size of every page of a list, whatever count
	// the client asked for.
	PageSize int `json:"pageSize,omitempty"`
	// DuplicateMembers keeps a member added twice twice, as the service in
	// Tenure's bug report did; by default a group lists each member once.
	DuplicateMembers bool `json:"duplicateMembers,omitempty"`
	// PatchNoContent answers a successful PATCH with 204 No Content, as AWS
	// IAM Identity Center does (RFC 7644 3.5.2 allows either), instead of the
	// whole resource: a big group's every member with each change.
	PatchNoContent bool `json:"patchNoContent,omitempty"`
}

func (d Dialect) normalize() (Dialect, error) {
	var fields []tenure.FieldError
	if d.Patch != "" && d.Patch != "path" && d.Patch != "value" {
		fields = append(fields, tenure.FieldError{Field: "patch", Problem: `must be "", "path" or "value"`})
	}
	if d.PageSize < 0 {
		fields = append(fields, tenure.FieldError{Field: "pageSize", Problem: "must not be negative"})
	}
	if len(fields) > 0 {
		return Dialect{}, tenure.Invalid(fields...)
	}
	return d, nil
}

// String summarises d for logs.
func (d Dialect) String() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// SetDialect replaces one app's dialect. The zero Dialect restores the default.
func (s *Sandbox) SetDialect(app string, d Dialect) error {
	a, err := s.app(app)
	if err != nil {
		return err
	}
	if d, err = d.normalize(); err != nil {
		return err
	}
	a.dialect.Store(&d)
	s.log.Info("sandbox dialect set", "app", app, "dialect", d.String())
	return nil
}

// Members returns the member IDs a group of app lists, as stored, repeats
// included: what a test checks to prove a member was added once.
func (s *Sandbox) Members(app, group string) ([]string, error) {
	a, err := s.app(app)
	if err != nil {
		return nil, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.groups.byKey[lower(group)]
	if !ok {
		return nil, tenure.Errorf(tenure.ENOTFOUND, "sandbox %s: no group named %s", app, quote(group))
	}
	return memberIDs(a.groups.byID[id]), nil
}

func (a *app) getDialect() Dialect {
	if d := a.dialect.Load(); d != nil {
		return *d
	}
	return Dialect{}
}

func (s *Sandbox) serveDialect(w http.ResponseWriter, r *http.Request, a *app) {
	serveSetting(w, r, func(body []byte) (Dialect, error) {
		var d Dialect
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		return d, dec.Decode(&d)
	}, func(d Dialect) error { return s.SetDialect(a.name, d) }, a.getDialect)
}

// refuse plays the parts of the app's dialect that turn a request away before
// the SCIM library sees it, and reports whether it answered. path is the path
// under scim/v2. It may replace r.Body with a copy it has read.
func (a *app) refuse(w http.ResponseWriter, r *http.Request, path string) bool {
	d := a.getDialect()
	groups := path == "/Groups" || strings.HasPrefix(path, "/Groups/")
	filter := r.URL.Query().Get("filter")
	switch {
	case groups && r.Method == http.MethodGet && filter != "" && d.NoGroupFilter:
		writeError(w, http.StatusBadRequest, scimerr.ScimTypeInvalidFilter, "this app cannot filter groups")
		return true
	case groups && r.Method == http.MethodGet && d.NoMemberFilter && strings.Contains(strings.ToLower(filter), "members"):
		writeError(w, http.StatusBadRequest, scimerr.ScimTypeInvalidFilter, "this app cannot filter on members")
		return true
	case path == "/Groups" && r.Method == http.MethodPost && d.NoGroupCreate:
		writeError(w, http.StatusForbidden, "", "groups are managed in the app's admin console; they cannot be created over SCIM")
		return true
	}
	write := r.Method == http.MethodPatch || r.Method == http.MethodPut || r.Method == http.MethodDelete
	if write && d.RequireETags {
		if status, detail := a.checkETag(r, path); status != 0 {
			writeError(w, status, "", detail)
			return true
		}
	}
	if r.Method == http.MethodPatch && d.Patch != "" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, scimerr.ScimTypeInvalidSyntax, "unreadable body")
			return true
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Operations []struct {
				Op   string          `json:"op"`
				Path *string         `json:"path"`
				Val  json.RawMessage `json:"value"`
			} `json:"Operations"`
		}
		if json.Unmarshal(body, &msg) != nil {
			return false // the library says what is wrong with it
		}
		for _, op := range msg.Operations {
			if strings.EqualFold(op.Op, "remove") {
				continue
			}
			hasPath := op.Path != nil && *op.Path != ""
			switch {
			case d.Patch == "path" && !hasPath:
				writeError(w, http.StatusBadRequest, scimerr.ScimTypeInvalidPath, "every operation needs a path")
				return true
			case d.Patch == "value" && hasPath:
				writeError(w, http.StatusBadRequest, scimerr.ScimTypeInvalidPath,
					fmt.Sprintf("path %q is not supported; send the attributes as the value", *op.Path))
				return true
			}
		}
	}
	return false
}

// checkETag compares If-Match with the current version of the resource at path.
func (a *app) checkETag(r *http.Request, path string) (status int, detail string) {
	var t *table
	var id string
	switch {
	case strings.HasPrefix(path, "/Users/"):
		t, id = &a.users, strings.TrimPrefix(path, "/Users/")
	case strings.HasPrefix(path, "/Groups/"):
		t, id = &a.groups, strings.TrimPrefix(path, "/Groups/")
	default:
		return 0, ""
	}
	a.mu.RLock()
	rec, ok := t.byID[id]
	var version string
	if ok {
		version = versionTag(rec)
	}
	a.mu.RUnlock()
	if !ok {
		return 0, "" // the library answers 404
	}
	match := r.Header.Get("If-Match")
	switch {
	case match == "":
		return http.StatusPreconditionRequired, "this app requires If-Match with the resource's version"
	case match != "*" && match != version && strings.TrimPrefix(match, "W/") != strings.TrimPrefix(version, "W/"):
		return http.StatusPreconditionFailed, fmt.Sprintf("the resource is at version %s, not %s", version, match)
	}
	return 0, ""
}

func versionTag(rec *record) string { return fmt.Sprintf("W/%q", fmt.Sprint(rec.Version)) }
