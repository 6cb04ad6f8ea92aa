package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/workflows"
)

// TestGuardHoldsAMassTermination runs the blast-radius guard on a running
// tenure dev, with the dev policy's default threshold (more than 10 people and
// more than 5% of the active people within an hour). Twelve of thirteen people
// are terminated in one events:batch: ten leave, two are held, and the
// sandbox apps show them untouched; a single terminate sent on its own goes
// through while the batch's window is full; the admin's release disables the
// two held, as read from the apps themselves.
func TestGuardHoldsAMassTermination(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tenure dev")
	}
	p := startDev(t, t.TempDir())
	id := func(i int) string { return fmt.Sprintf("G%02d", i) }
	active := map[string]string{"google": "active all-staff", "slack": "active general"}
	disabled := map[string]string{"google": "disabled all-staff", "slack": "disabled general"}

	type result struct {
		Status string `json:"status"`
		HoldID string `json:"hold_id"`
	}
	var batch struct {
		Accepted int      `json:"accepted"`
		Held     int      `json:"held"`
		Results  []result `json:"results"`
		Guard    struct {
			Held   bool   `json:"held"`
			HoldID string `json:"hold_id"`
			Reason string `json:"reason"`
		} `json:"guard"`
	}
	send := func(typ string, n int) {
		t.Helper()
		var events []map[string]any
		for i := range n {
			events = append(events, map[string]any{"id": typ + "-" + id(i), "type": typ, "employee": person(id(i), "Marketing", "Marketer")})
		}
		if code := p.call("POST", "/api/v1/events:batch", map[string]any{"events": events}, &batch); code != http.StatusOK {
			t.Fatalf("events:batch of %ss: %d %+v", typ, code, batch)
		}
	}
	send("hire", 13)
	if batch.Accepted != 13 || batch.Guard.Held {
		t.Fatalf("13 hires: %+v; a hire takes nothing away and is never held", batch)
	}
	for i := range 13 {
		p.waitApps(id(i), active)
	}

	send("terminate", 12)
	if batch.Accepted != 10 || batch.Held != 2 || !batch.Guard.Held || batch.Guard.HoldID == "" {
		t.Fatalf("12 terminations: %+v, want 10 accepted and 2 held", batch)
	}
	hold := batch.Guard.HoldID
	for i, r := range batch.Results {
		if (i < 10) != (r.Status == "accepted") || (i >= 10) != (r.HoldID == hold) {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	for i := range 10 {
		p.waitApps(id(i), disabled)
	}
	// Ten leavers have run; the two held have lost nothing, in the apps' own
	// state and in Tenure's.
	for _, held := range []string{id(10), id(11)} {
		if got := p.appState(held); fmt.Sprint(got) != fmt.Sprint(active) {
			t.Fatalf("held %s in the apps: %v, want %v", held, got, active)
		}
		if v := p.employee(held); v.Status != "active" || len(v.Workflows) != 1 {
			t.Fatalf("held %s: %s with runs %+v, want active with only the joiner", held, v.Status, v.Workflows)
		}
	}

	// A single terminate sent on its own is never held, though the batch
	// window is full (and this one is not even counted there).
	p.event("terminate-"+id(12), "terminate", person(id(12), "Marketing", "Marketer"))
	p.waitApps(id(12), disabled)

	var holds struct {
		Holds []struct {
			ID, Source, Status string
			People, Pending    int
		} `json:"holds"`
	}
	if code := p.call("GET", "/api/v1/holds?status=held", nil, &holds); code != http.StatusOK || len(holds.Holds) != 1 ||
		holds.Holds[0].ID != hold || holds.Holds[0].People != 2 || holds.Holds[0].Pending != 2 || holds.Holds[0].Source != "batch" {
		t.Fatalf("holds: %d %+v", code, holds)
	}
	var released struct{ Status string }
	if code := p.call("POST", "/api/v1/holds/"+hold+"/release", map[string]string{"reason": "the layoff list is right"}, &released); code != http.StatusOK || released.Status != "released" {
		t.Fatalf("release: %d %+v", code, released)
	}
	p.waitApps(id(10), disabled)
	p.waitApps(id(11), disabled)
	var audit struct {
		Records []struct{ Actor, Action, Detail string } `json:"records"`
	}
	if code := p.call("GET", "/api/v1/audit?action=guard.released", nil, &audit); code != http.StatusOK || len(audit.Records) != 1 || audit.Records[0].Actor != "admin" {
		t.Fatalf("audit: %d %+v", code, audit)
	}

	t.Run("a workflow-backed hold is decided by signal", func(t *testing.T) {
		p.t = t
		discardSignalsTheWorkflow(t, p, id)
	})
}

// discardSignalsTheWorkflow holds a stand-in for a policy rollout whole (its
// workflow waits on guard.DecisionSignal, as a rollout does), and checks that
// the API's discard reaches the workflow, sealed like every payload, as the
// guard.Decision the seam promises.
func discardSignalsTheWorkflow(t *testing.T, p *devProcess, id func(int) string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	codec, err := payloadCodec(func(string) string { return "" }, p.dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: p.temporal, DataConverter: codec.DataConverter(),
		Logger: sdkLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const queue = "guard-test"
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) (guard.Decision, error) {
		var d guard.Decision
		workflow.GetSignalChannel(ctx, guard.DecisionSignal).Receive(ctx, &d)
		return d, nil
	}, workflow.RegisterOptions{Name: "GuardWaiter"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "guard-test/rollout-1", TaskQueue: queue}, "GuardWaiter")
	if err != nil {
		t.Fatal(err)
	}
	// The check is made as the rollout would make it, on the same read model.
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(p.dir, "tenure.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g, err := guard.New(guard.Config{Store: db, Engine: &workflows.Engine{Client: c}})
	if err != nil {
		t.Fatal(err)
	}
	var people []string
	for i := range 13 {
		people = append(people, id(i))
	}
	v, err := g.Check(ctx, guard.Request{Source: guard.SourcePolicy, Operation: "rollout-1", People: people, Actor: "ci",
		WorkflowID: run.GetID()})
	if err != nil || !v.Held || len(v.HeldPeople) != 13 {
		t.Fatalf("check = %+v, %v; want held whole", v, err)
	}
	var discarded struct {
		Status     string `json:"status"`
		WorkflowID string `json:"workflow_id"`
	}
	if code := p.call("POST", "/api/v1/holds/"+v.HoldID+"/discard", map[string]string{"reason": "not this week"}, &discarded); code != http.StatusOK ||
		discarded.Status != "discarded" || discarded.WorkflowID != run.GetID() {
		t.Fatalf("discard: %d %+v", code, discarded)
	}
	var got guard.Decision
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != (guard.Decision{HoldID: v.HoldID, Release: false, Actor: "admin"}) {
		t.Fatalf("the workflow got %+v", got)
	}
}
