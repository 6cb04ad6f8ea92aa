package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// page is what every page template gets: the signed-in user, the CSRF token for
// its forms, the navigation, and the page's own data.
type page struct {
	Title string
	User  *user
	CSRF  string
	Nav   []navItem
	Path  string
	Data  any
}

type navItem struct {
	Label, Href string
	Current     bool
}

// nav lists the pages, each with the roles that may open it.
var nav = []struct {
	label, href string
	roles       []string
}{
	{"Dashboard", "/", []string{tenure.RoleAdmin, tenure.RoleHR, tenure.RoleAuditor}},
	{"People", "/people", everyone},
	{"Hire", "/hire", []string{tenure.RoleAdmin, tenure.RoleHR}},
	{"Approvals", "/approvals", []string{tenure.RoleAdmin, tenure.RoleManager, tenure.RoleAuditor}},
	{"Holds", "/holds", []string{tenure.RoleAdmin, tenure.RoleAuditor}},
	{"Apps", "/apps", []string{tenure.RoleAdmin, tenure.RoleAuditor}},
	{"Policy", "/policy", []string{tenure.RoleAdmin, tenure.RoleAuditor}},
	{"Reconciliation", "/reconciliation", []string{tenure.RoleAdmin, tenure.RoleAuditor}},
	{"Audit log", "/audit", []string{tenure.RoleAdmin, tenure.RoleAuditor}},
	{"Sessions", "/sessions", []string{tenure.RoleAdmin}},
}

func navFor(u *user, current string) []navItem {
	if u == nil {
		return nil
	}
	var out []navItem
	for _, n := range nav {
		if !slices.Contains(n.roles, u.Role) {
			continue
		}
		cur := current == n.href || n.href != "/" && strings.HasPrefix(current, n.href)
		out = append(out, navItem{Label: n.label, Href: n.href, Current: cur})
	}
	return out
}

var funcs = template.FuncMap{
	"when":     when,
	"duration": duration,
	"statusClass": func(s any) string {
		return "st st-" + strings.ReplaceAll(fmt.Sprint(s), "_", "-")
	},
	"human": func(s any) string { return strings.ReplaceAll(fmt.Sprint(s), "_", " ") },
	"is": func(u *user, roles ...string) bool {
		return u != nil && slices.Contains(roles, u.Role)
	},
	"add":   func(a, b int) int { return a + b },
	"lines": func(b []byte) []string { return strings.Split(strings.TrimRight(string(b), "\n"), "\n") },
	// dict passes several named values to a sub-template, such as a form field.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

// when formats a time for people: UTC, to the minute; "never" for none.
func when(t any) string {
	var tt time.Time
	switch v := t.(type) {
	case time.Time:
		tt = v
	case *time.Time:
		if v != nil {
			tt = *v
		}
	}
	if tt.IsZero() {
		return "never"
	}
	return tt.UTC().Format("2006-01-02 15:04 UTC")
}

// duration formats a span of time to a sensible precision.
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// parsePages parses each page with the layout, so that pages can each define
// "content" without clashing.
func parsePages() (map[string]*template.Template, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render writes a whole page. It renders into a buffer first, so a template error
// becomes an error page rather than half a page.
func (c *console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name, title string, data any) {
	p := page{Title: title, Data: data, Path: r.URL.Path}
	if s != nil {
		p.User, p.CSRF = s.User, s.CSRF
		p.Nav = navFor(s.User, r.URL.Path)
	}
	c.write(w, status, name, "layout", p)
}

// renderFragment writes one named template of a page, for htmx to swap in.
func (c *console) renderFragment(w http.ResponseWriter, s *session, status int, name, fragment string, data any) {
	p := page{Data: data}
	if s != nil {
		p.User, p.CSRF = s.User, s.CSRF
	}
	c.write(w, status, name, fragment, p)
}

func (c *console) write(w http.ResponseWriter, status int, name, tmpl string, p page) {
	t, ok := c.pages[name]
	var buf bytes.Buffer
	var err error
	if !ok {
		err = fmt.Errorf("no template %q", name)
	} else {
		err = t.ExecuteTemplate(&buf, tmpl, p)
	}
	if err != nil {
		c.log.Error("rendering a console page", "template", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// isHTMX says whether htmx sent the request, so a fragment is enough.
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// fieldErrors indexes an EINVALID error's fields by name, for showing each next
// to its input. Other errors come back as nil.
func fieldErrors(err error) map[string]string {
	te, ok := asTenure(err)
	if !ok || te.Code != tenure.EINVALID {
		return nil
	}
	out := map[string]string{}
	for _, f := range te.Fields {
		out[f.Field] = f.Problem
	}
	if len(out) == 0 {
		out[""] = te.Message
	}
	return out
}
