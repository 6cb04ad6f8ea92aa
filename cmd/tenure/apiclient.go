package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/tenure-io/tenure"
)

// apiTarget is the running Tenure API a command talks to, and the token it
// shows: `tenure import`, `tenure lock`, `tenure unlock` and `tenure status`.
type apiTarget struct {
	url     string
	token   string
	dataDir string
}

// apiTargetFlags declares --url, --token and --data-dir; roles names the roles
// whose tokens the command needs, for its help.
func apiTargetFlags(fs *flag.FlagSet, getenv func(string) string, t *apiTarget, roles string) {
	fs.StringVar(&t.url, "url", envOr(getenv, "TENURE_URL", "http://127.0.0.1:8080"), "Tenure's API `URL`; env TENURE_URL")
	fs.StringVar(&t.token, "token", getenv("TENURE_TOKEN"), "API bearer token with the "+roles+" role; env TENURE_TOKEN (default: read DIR/admin.token)")
	fs.StringVar(&t.dataDir, "data-dir", envOr(getenv, "TENURE_DATA_DIR", ".tenure"), "`DIR` of a `tenure dev` whose admin.token to use when no --token is given; env TENURE_DATA_DIR")
}

// resolve reads the token of a `tenure dev` when none was given, and checks
// the URL.
func (t *apiTarget) resolve() error {
	if t.token == "" {
		tok, err := os.ReadFile(filepath.Join(t.dataDir, "admin.token"))
		if err != nil {
			return fmt.Errorf("no token: pass --token or TENURE_TOKEN, or --data-dir of a tenure dev (%w)", err)
		}
		t.token = strings.TrimSpace(string(tok))
	}
	u, err := url.Parse(t.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url must be an http or https URL such as http://127.0.0.1:8080: %w", errUsage)
	}
	t.url = strings.TrimRight(t.url, "/")
	return nil
}

// apiClient calls the API as the target's token.
type apiClient struct {
	target apiTarget
	http   *http.Client
}

// do sends body (nil for none) and decodes a 2xx answer into out (nil to
// ignore it); any other answer is an error carrying the API's code, message and
// fields, and the status is returned either way (0 when the API was not reached).
func (c *apiClient) do(ctx context.Context, method, path, contentType string, body []byte, header http.Header, out any) (int, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.target.url+path, r)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.target.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reaching Tenure at %s: %w", c.target.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading Tenure's answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error struct {
				Code    string              `json:"code"`
				Message string              `json:"message"`
				Fields  []tenure.FieldError `json:"fields"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
			return resp.StatusCode, fmt.Errorf("the API answered %s", resp.Status)
		}
		return resp.StatusCode, &tenure.Error{Code: e.Error.Code, Message: e.Error.Message, Fields: e.Error.Fields}
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("the API's answer is not what was expected: %w", err)
	}
	return resp.StatusCode, nil
}
