package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// waitHealthy waits until GET /healthz answers 200. It asks the engine directly
// while the worker starts, so the API does not log every early 503.
func (b *benchRun) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(2 * benchStepTimeout)
	for b.s.engine.Ready(ctx) != nil && time.Now().Before(deadline) {
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	last := ""
	for {
		res, err := b.do(ctx, http.MethodGet, "/healthz", nil, nil)
		if err == nil && res.status == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("HTTP %d: %s", res.status, strings.TrimSpace(string(res.body)))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /healthz did not answer 200 within %s: %s", 2*benchStepTimeout, last)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitActive polls the apps' own state until p's account in each of their apps
// has the wanted active flag, and returns when it saw that.
func (b *benchRun) waitActive(ctx context.Context, p tenure.Person, active bool, timeout time.Duration) (time.Time, error) {
	pending := b.appsOf(p)
	deadline := time.Now().Add(timeout)
	for {
		var still []string
		for _, app := range pending {
			ok, err := b.isActive(ctx, app, p, active)
			if err != nil {
				return time.Time{}, err
			}
			if !ok {
				still = append(still, app)
			}
		}
		now := time.Now()
		if len(still) == 0 {
			return now, nil
		}
		pending = still
		if now.After(deadline) {
			want := "disabled"
			if active {
				want = "active"
			}
			return time.Time{}, fmt.Errorf("%s is not yet %s after %s in %s", p.ID, want, timeout, strings.Join(still, ", "))
		}
		if err := sleep(ctx, benchPoll); err != nil {
			return time.Time{}, err
		}
	}
}

// isActive reads whether p's account in app has the wanted active flag: from
// the sandbox's memory for a sandbox app, through its externalId index, which
// costs next to nothing to poll however many people the app holds (a bulk of
// thousands runs beside the timed locks), and through the bench's own connector
// for any other app.
func (b *benchRun) isActive(ctx context.Context, app string, p tenure.Person, active bool) (bool, error) {
	if slices.Contains(b.s.sandbox.Apps(), app) {
		u, ok, err := b.s.sandbox.User(app, p.ID)
		if err != nil {
			return false, fmt.Errorf("reading sandbox app %s: %w", app, err)
		}
		return ok && u.Active == active, nil
	}
	a, err := b.conns[app].Lookup(ctx, p.ID, strings.ToLower(p.Email))
	if integrations.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading app %s: %w", app, err)
	}
	return a.Active == active, nil
}

// settle waits until the read model shows every run of the person closed, so the
// tail of one measurement (verifying, recording) does not land in the next.
func (b *benchRun) settle(ctx context.Context, id string) error {
	deadline := time.Now().Add(b.stepTimeout())
	for {
		res, err := b.do(ctx, http.MethodGet, "/api/v1/employees/"+id, nil, nil)
		if err != nil {
			return err
		}
		var open []string
		if res.status == http.StatusOK {
			var detail struct {
				Workflows []struct {
					WorkflowID string           `json:"workflow_id"`
					Status     tenure.RunStatus `json:"status"`
				} `json:"workflows"`
			}
			if err := json.Unmarshal(res.body, &detail); err != nil {
				return fmt.Errorf("reading %s: %w", id, err)
			}
			for _, w := range detail.Workflows {
				if w.Status == tenure.RunRunning {
					open = append(open, w.WorkflowID)
				}
			}
			if len(open) == 0 && len(detail.Workflows) > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still has runs open after %s: %v (last answer HTTP %d)", id, b.stepTimeout(), open, res.status)
		}
		if err := sleep(ctx, benchSettlePoll); err != nil {
			return err
		}
	}
}

func (b *benchRun) postEvent(ctx context.Context, id string, typ tenure.EventType, p tenure.Person) error {
	body, err := json.Marshal(map[string]any{"id": id, "type": typ, "employee": p})
	if err != nil {
		return err
	}
	res, err := b.do(ctx, http.MethodPost, "/api/v1/events", body, nil)
	if err != nil {
		return fmt.Errorf("%s event for %s: %w", typ, p.ID, err)
	}
	if res.status != http.StatusAccepted {
		return fmt.Errorf("%s event for %s: HTTP %d: %s", typ, p.ID, res.status, res.body)
	}
	return nil
}

type benchResponse struct {
	status int
	body   []byte
}

func (b *benchRun) do(ctx context.Context, method, path string, body []byte, header map[string]string) (benchResponse, error) {
	return b.doWith(ctx, b.http, method, path, body, header)
}

// doWith is do on another client, for a request that may take longer than
// benchStepTimeout (a batch of a thousand hires on a loaded machine).
func (b *benchRun) doWith(ctx context.Context, hc *http.Client, method, path string, body []byte, header map[string]string) (benchResponse, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.s.baseURL+path, r)
	if err != nil {
		return benchResponse{}, err
	}
	req.Header.Set("Authorization", "Bearer "+b.s.adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		return benchResponse{}, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return benchResponse{status: res.StatusCode, body: out}, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
