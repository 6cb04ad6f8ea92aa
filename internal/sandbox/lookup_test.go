package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// A lookup by userName or externalId that serveLookup answers gets the
// answer the SCIM library gives the same request, status, type and body; any
// other request is left to the library.
func TestALookupIsAnsweredAsTheLibraryAnswersIt(t *testing.T) {
	s, err := New(Options{Apps: []string{"github"}, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	a, err := s.app("github")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ userName, externalID string }{
		{"Ada.Lovelace@example.com", "E100"}, {"grace@example.com", "E200"}, {"linus@example.com", ""},
	} {
		body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + u.userName + `","active":true`
		if u.externalID != "" {
			body += `,"externalId":"` + u.externalID + `"`
		}
		body += `}`
		req := httptest.NewRequest(http.MethodPost, "http://sandbox.test/sandbox/github/scim/v2/Users", strings.NewReader(body))
		rec := httptest.NewRecorder()
		a.serveSCIM(rec, req, "/Users")
		if rec.Code != http.StatusCreated {
			t.Fatalf("creating %s: %d %s", u.userName, rec.Code, rec.Body)
		}
	}

	answer := func(serve func(http.ResponseWriter, *http.Request, string), query string) (int, string, any) {
		req := httptest.NewRequest(http.MethodGet, "http://sandbox.test/sandbox/github/scim/v2/Users?"+query, nil)
		rec := httptest.NewRecorder()
		serve(rec, req, "/Users")
		var body any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: not JSON: %s", query, rec.Body)
		}
		return rec.Code, rec.Header().Get("Content-Type"), body
	}
	filter := func(f string, rest ...string) string {
		return strings.Join(append([]string{"filter=" + url.QueryEscape(f)}, rest...), "&")
	}
	for _, tc := range []struct {
		query string
		fast  bool
	}{
		{filter(`userName eq "Ada.Lovelace@example.com"`), true},
		{filter(`userName eq "ada.lovelace@EXAMPLE.com"`), true},
		{filter(`USERNAME EQ "grace@example.com"`), true},
		{filter(`externalId eq "E200"`), true},
		{filter(`externalId eq "e200"`), true},
		{filter(`externalId eq "E404"`), true},
		{filter(`userName eq "nobody@example.com"`), true},
		{filter(`externalId eq "E100"`, "startIndex=1", "count=2"), true},
		{filter(`externalId eq "E100"`, "startIndex=2", "count=2"), true},
		{filter(`externalId eq "E100"`, "count=0"), true},
		{filter(`externalId eq "E100"`, "count=-3", "startIndex=-1"), true},
		{filter(`externalId eq "E100"`, "count=1000"), true},
		{filter(`externalId eq "E100"`, "count=two"), false},
		{filter(`externalId eq "E100"`, "attributes=userName"), false},
		{filter(`userName eq "a\"b"`), false},
		{filter(`userName  eq "grace@example.com"`), false},
		{filter(`userName sw "grace"`), false},
		{filter(`name.givenName eq "Grace"`), false},
		{"", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://sandbox.test/sandbox/github/scim/v2/Users?"+tc.query, nil)
		if got := a.serveLookup(httptest.NewRecorder(), req, "/Users"); got != tc.fast {
			t.Errorf("%s: answered from the index = %t, want %t", tc.query, got, tc.fast)
		}
		code, typ, body := answer(a.serveSCIM, tc.query)
		wantCode, wantType, wantBody := answer(a.serveLibrary, tc.query)
		if code != wantCode || typ != wantType || !reflect.DeepEqual(body, wantBody) {
			t.Errorf("%s:\n got %d %s %v\nwant %d %s %v", tc.query, code, typ, body, wantCode, wantType, wantBody)
		}
	}
}
