package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
)

// lookupFilter is a filter on a user's userName or externalId, with a value
// that needs no escape (no quote, backslash or control character): how
// Tenure's connector, and most clients, look a person up.
var lookupFilter = regexp.MustCompile(`^(?i:(username|externalid)) (?i:eq) "([^"\\\x00-\x1f]*)"$`)

// serveLookup answers GET /Users?filter=userName eq "x" (or externalId eq)
// from the app's index, exactly as the SCIM library answers it, and reports
// whether it did. The library parses every filter with a general grammar: two
// lookups per app for each person Tenure provisions cost the sandbox, running
// in the same process as Tenure in `tenure dev` and the bench, a twentieth of
// the machine during a bulk onboarding. Any other request, or a parameter the
// lookup does not take, goes to the library (TestALookupIsAnsweredAsTheLibraryAnswersIt).
func (a *app) serveLookup(w http.ResponseWriter, r *http.Request, path string) bool {
	if r.Method != http.MethodGet || path != "/Users" {
		return false
	}
	q := r.URL.Query()
	for k, v := range q {
		if len(v) != 1 || (k != "filter" && k != "startIndex" && k != "count") {
			return false
		}
	}
	m := lookupFilter.FindStringSubmatch(q.Get("filter"))
	if m == nil {
		return false
	}
	count, ok := intParam(q, "count", maxResults)
	if !ok {
		return false
	}
	start, ok := intParam(q, "startIndex", 1)
	if !ok {
		return false
	}
	count, start = min(max(count, 0), maxResults), max(start, 1)
	if n := a.getDialect().PageSize; n > 0 {
		count = n // the dialect of an app that ignores count
	}

	a.mu.RLock()
	id, _ := a.users.find(m[1], m[2], userKey)
	a.mu.RUnlock()
	total, page := 0, []json.RawMessage{}
	if id != "" {
		total = 1
		if start == 1 && count > 0 {
			raw, ok := a.userJSON(r, id)
			if !ok {
				return false
			}
			page = append(page, raw)
		}
	}
	body, err := json.Marshal(map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": total,
		"itemsPerPage": count,
		"startIndex":   start,
		"Resources":    page,
	})
	if err != nil {
		return false
	}
	w.Header().Set("Content-Type", "application/scim+json")
	_, _ = w.Write(body)
	return true
}

// userJSON is the user id as the library renders it, in a list or alone.
func (a *app) userJSON(r *http.Request, id string) (json.RawMessage, bool) {
	get := r.Clone(r.Context())
	get.URL = &url.URL{Path: "/Users/" + url.PathEscape(id)}
	rec := httptest.NewRecorder()
	a.serveLibrary(rec, get, get.URL.Path)
	if rec.Code != http.StatusOK {
		return nil, false
	}
	return bytes.TrimSpace(rec.Body.Bytes()), true
}

// intParam reads an integer query parameter as the library does; ok is false
// for one that is not an integer, which the library answers with a 400.
func intParam(q url.Values, key string, def int) (n int, ok bool) {
	s := q.Get(key)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
