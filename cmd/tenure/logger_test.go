package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	sdklog "go.temporal.io/sdk/log"
)

// The process logger, and the Temporal SDK's logger built on it, log an app's
// error that quotes a person's email with the email replaced.
func TestLoggerRedactsEmails(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelDebug, logText)
	appErr := fmt.Errorf("scim.CreateAccount: %w", errors.New(`HTTP 409: {"detail":"userName ada.lovelace@example.com is already taken"}`))

	log.Error("creating the account failed", "error", appErr, "employee_id", "E1001")
	log.With("approver", "boss@example.com").Info("approval requested for grace@example.com")
	log.Info("calling the app", slog.Group("request", slog.String("authorization", "Bearer tnr_0123456789")))

	sdk := sdkLogger(log)
	sdk.Warn("Activity error.", "WorkflowID", "employee/E1001", "Error", appErr)
	sdklog.With(sdk, "Namespace", "default").Error("Workflow panic.", "Error", errors.New("no user eve@example.com"))
	sdklog.With(sdk, "Namespace", "default").Info("below the SDK's level: ada@example.com")

	out := buf.String()
	for _, leak := range []string{"@example.com", "tnr_0123456789", "below the SDK's level"} {
		if strings.Contains(out, leak) {
			t.Errorf("the log shows %q:\n%s", leak, out)
		}
	}
	if n := strings.Count(out, "[email]"); n != 5 {
		t.Errorf("%d emails replaced, want 5:\n%s", n, out)
	}
	for _, want := range []string{"employee_id=E1001", "WorkflowID=employee/E1001", "Namespace=default", "userName [email] is already taken"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lost %q:\n%s", want, out)
		}
	}
}
