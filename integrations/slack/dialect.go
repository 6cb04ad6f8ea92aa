package slack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tenure-io/tenure/integrations/scim"
)

// dialect adapts requests to Slack's SCIM API and its answers to RFC 7644, so
// the scim package's client reads Slack as it reads any SCIM app. Slack
// documents JSON as application/json, and answers errors as
// {"Errors": {"description": "...", "code": 404}} where RFC 7644 has
// {"schemas": [...Error], "status": "404", "detail": "..."}; the scim client
// would otherwise see Slack's words only as a raw snippet.
type dialect struct {
	base http.RoundTripper
}

func (d dialect) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", "application/json")
	if r.Body != nil && r.Header.Get("Content-Type") != "" {
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := d.base.RoundTrip(r)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if desc, ok := slackError(body); ok {
		body, _ = json.Marshal(map[string]any{
			"schemas": []string{scim.SchemaError},
			"status":  strconv.Itoa(resp.StatusCode),
			"detail":  desc,
		})
		resp.Header.Set("Content-Type", scim.MediaType)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

type slackErrorItem struct {
	Description string `json:"description"`
	Code        int    `json:"code"`
}

// slackError reads Slack's SCIM error body: Errors as one object or a list.
func slackError(body []byte) (string, bool) {
	var env struct {
		Errors json.RawMessage `json:"Errors"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Errors) == 0 {
		return "", false
	}
	var one slackErrorItem
	if json.Unmarshal(env.Errors, &one) == nil && one.Description != "" {
		return one.Description, true
	}
	var many []slackErrorItem
	if json.Unmarshal(env.Errors, &many) == nil && len(many) > 0 {
		var parts []string
		for _, e := range many {
			parts = append(parts, e.Description)
		}
		return strings.Join(parts, "; "), true
	}
	return "", false
}

// errorText is the app's explanation in an error body: the RFC 7644 detail
// (which dialect makes of Slack's description), or a trimmed snippet.
func errorText(body []byte) string {
	var e struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil && e.Detail != "" {
		return e.Detail
	}
	if desc, ok := slackError(body); ok {
		return desc
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "..."
	}
	return s
}
