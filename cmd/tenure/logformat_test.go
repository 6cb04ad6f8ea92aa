package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	sdklog "go.temporal.io/sdk/log"
)

// With --log-format json every record is one JSON object a line, and the
// redaction wrapper still replaces emails and bearer tokens, in the message and
// in attributes, for the process logger and the Temporal SDK's alike.
func TestLogFormatJSONIsRedacted(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelDebug, logJSON)
	log.Error("creating the account failed", "error", errors.New(`HTTP 409: userName ada@example.com is taken`), "employee_id", "E1001")
	log.With("approver", "boss@example.com").Info("approval requested for grace@example.com")
	log.Info("calling the app", slog.Group("request", slog.String("authorization", "Bearer tnr_0123456789")))
	sdklog.With(sdkLogger(log), "Namespace", "default").Error("Workflow panic.", "Error", errors.New("no user eve@example.com"))

	out := buf.String()
	for _, leak := range []string{"@example.com", "tnr_0123456789"} {
		if strings.Contains(out, leak) {
			t.Errorf("the JSON log shows %q:\n%s", leak, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), out)
	}
	var recs []map[string]any
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, l)
		}
		recs = append(recs, rec)
	}
	if recs[0]["level"] != "ERROR" || recs[0]["employee_id"] != "E1001" || recs[0]["error"] != "HTTP 409: userName [email] is taken" {
		t.Errorf("first record = %v", recs[0])
	}
	if recs[1]["msg"] != "approval requested for [email]" || recs[1]["approver"] != "[email]" {
		t.Errorf("second record = %v", recs[1])
	}
	if req, _ := recs[2]["request"].(map[string]any); req["authorization"] != "[redacted]" {
		t.Errorf("third record = %v", recs[2])
	}
	if recs[3]["Namespace"] != "default" || recs[3]["Error"] != "no user [email]" {
		t.Errorf("the SDK's record = %v", recs[3])
	}
}

// Every command that logs takes --log-format and TENURE_LOG_FORMAT, and
// refuses a format it does not know, naming where it came from.
func TestLogFormatFlagOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"dev"}, {"worker"}, {"api"}, {"migrate"}, {"token", "list"}, {"audit", "verify"}, {"temporal"}} {
		name := strings.Join(args, " ")
		env := func(k string) string {
			if k == logFormatEnv {
				return "xml"
			}
			return ""
		}
		err := run(context.Background(), args, env, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), logFormatEnv) || !strings.Contains(err.Error(), "text or json") {
			t.Errorf("%s with %s=xml: %v, want an error naming %s", name, logFormatEnv, err, logFormatEnv)
		}
		var stderr bytes.Buffer
		err = run(context.Background(), append(append([]string(nil), args...), "--log-format", "yaml"), func(string) string { return "" }, &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), "log-format") {
			t.Errorf("%s --log-format yaml: %v, want an error naming the flag", name, err)
		}
		if !strings.Contains(stderr.String(), "-log-format") {
			t.Errorf("%s: the usage does not list --log-format:\n%s", name, stderr.String())
		}
	}
}
