package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure/internal/signing"
	"github.com/tenure-io/tenure/workflows"
)

// TestWorkdayAndHRWebhooksEndToEnd runs `tenure dev` against a local HTTPS server
// that serves a Workday RaaS report to the integration user, and checks that the
// report's hires reach the sandbox apps, that a leaver in a later report loses
// access, and that a signed BambooHR webhook, verified with the secret dev
// generated, provisions too.
func TestWorkdayAndHRWebhooksEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	var (
		mu     sync.Mutex
		report = workdayReport("")
		pulls  int
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ISU_Tenure" || p != "e2e-workday-password" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		pulls++
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(report))
	}))
	defer srv.Close()
	out := historiesOut(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "workday-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TENURE_WORKDAY_URL", srv.URL+"/ccx/service/customreport2/acme/ISU_Tenure/Tenure_Workers")
	t.Setenv("TENURE_WORKDAY_USERNAME", "ISU_Tenure")
	t.Setenv("TENURE_WORKDAY_PASSWORD", "e2e-workday-password")
	t.Setenv("TENURE_WORKDAY_CA_FILE", caFile)
	t.Setenv("TENURE_WORKDAY_INTERVAL", "1h")
	t.Setenv("TENURE_HR_WEBHOOK_SECRET", "")

	p := startDev(t, filepath.Join(dir, "data"))
	// The schedule runs once as it is created: both hires are provisioned.
	p.waitApps("21001", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	p.waitApps("21002", map[string]string{"google": "active all-staff", "slack": "active general", "salesforce": "active sales-users"})
	if got := p.appState("21003"); len(got) != 0 {
		t.Errorf("a leaver Tenure never knew was provisioned: %v", got)
	}

	// HR records Logan's last day; the next pull revokes his access.
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	mu.Lock()
	report = workdayReport(yesterday)
	mu.Unlock()
	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	h := c.ScheduleClient().GetHandle(ctx, workflows.WorkdayScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil || len(desc.Schedule.Spec.Intervals) != 1 || desc.Schedule.Spec.Intervals[0].Every != time.Hour {
		t.Fatalf("schedule = %+v, %v; want every 1h", desc, err)
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	p.waitApps("21001", map[string]string{"google": "disabled all-staff", "slack": "disabled general", "github": "disabled engineering"})
	p.waitApps("21002", map[string]string{"google": "active all-staff", "slack": "active general", "salesforce": "active sales-users"})
	if v := p.employee("21001"); v.Status != "terminated" {
		t.Errorf("21001 is %s, want terminated", v.Status)
	}

	// A signed BambooHR webhook, with the secret dev generated.
	secret := readToken(t, filepath.Join(p.dir, "hr-webhook.secret"))
	body, err := os.ReadFile("../../integrations/hr/testdata/bamboohr/created.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", p.base+"/webhooks/hr/bamboohr", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.Header, signing.Sign(secret, time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("BambooHR webhook: %s", resp.Status)
	}
	p.waitApps("112", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	mu.Lock()
	defer mu.Unlock()
	if pulls < 2 {
		t.Errorf("the report was pulled %d times, want at least 2", pulls)
	}
	if strings.Contains(p.out.String(), "e2e-workday-password") || strings.Contains(p.out.String(), secret) {
		t.Error("a secret is in the logs")
	}

	if out != "" {
		// The triggered sync, which found Logan's last day.
		desc, err := h.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		actions := desc.Info.RecentActions
		if len(actions) == 0 {
			t.Fatal("the schedule lists no runs")
		}
		last := actions[len(actions)-1].StartWorkflowResult
		if err := c.GetWorkflow(ctx, last.WorkflowID, last.FirstExecutionRunID).Get(ctx, nil); err != nil {
			t.Fatalf("the sync %s: %v", last.WorkflowID, err)
		}
		writeRunHistory(t, c, last.WorkflowID, last.FirstExecutionRunID, filepath.Join(out, "workdaysync.json"))
	}
}

// workdayReport is a RaaS report of two active workers and one leaver; with
// loganLeft, Logan's last day was that date.
func workdayReport(loganLeft string) string {
	logan := `"Active_Status": "1"`
	if loganLeft != "" {
		logan = `"Active_Status": "0", "Termination_Date": "` + loganLeft + `-08:00"`
	}
	return `{"Report_Entry": [
  {"Employee_ID": "21001", "Legal_First_Name": "Logan", "Legal_Last_Name": "McNeil",
   "Email_Address": "logan.mcneil@example.com", "Supervisory_Organization": "Engineering",
   "Business_Title": "Software Engineer", "Location": "San Francisco", "Worker_Type": "Regular",
   "Manager_ID": "21000", "Hire_Date": "2026-01-05-08:00", ` + logan + `},
  {"Employee_ID": "21002", "Legal_First_Name": "Teresa", "Legal_Last_Name": "Serrano",
   "Email_Address": "teresa.serrano@example.com", "Supervisory_Organization": "Sales",
   "Business_Title": "Account Executive", "Location": "New York", "Worker_Type": "Regular",
   "Manager_ID": "21000", "Hire_Date": "2025-06-02-07:00", "Active_Status": "1"},
  {"Employee_ID": "21003", "Legal_First_Name": "Maria", "Legal_Last_Name": "Cardoza",
   "Email_Address": "maria.cardoza@example.com", "Supervisory_Organization": "Finance",
   "Business_Title": "Controller", "Location": "Chicago", "Worker_Type": "Regular",
   "Manager_ID": "21000", "Hire_Date": "2020-03-16-07:00", "Termination_Date": "2026-03-31-07:00",
   "Active_Status": "0"}
]}`
}
