package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// subscriber stands in for the outbound.Deliver and outbound.DisableSubscription
// activities: it answers each attempt as scripted and notes when it came.
type subscriber struct {
	env    *testsuite.TestWorkflowEnvironment
	answer func(attempt int) tenure.DeliveryResult

	mu       sync.Mutex
	attempts []time.Time
	requests []tenure.DeliveryRequest
	disabled []workflows.SubscriptionDisable
}

func newDeliverEnv(t *testing.T, answer func(attempt int) tenure.DeliveryResult) (*testsuite.TestWorkflowEnvironment, *subscriber) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.DeliveryWorkflowID("evt_1", "sub_1")})
	sub := &subscriber{env: env, answer: answer}
	env.RegisterWorkflowWithOptions(workflows.Deliver, workflow.RegisterOptions{Name: workflows.DeliverWorkflowName})
	env.RegisterActivityWithOptions(sub.deliver, activity.RegisterOptions{Name: workflows.DeliverActivity})
	env.RegisterActivityWithOptions(sub.disable, activity.RegisterOptions{Name: workflows.DisableSubscriptionActivity})
	return env, sub
}

// deliver maps a failed answer to a retryable error, as the real activity does.
func (s *subscriber) deliver(ctx context.Context, req tenure.DeliveryRequest) (tenure.DeliveryResult, error) {
	s.mu.Lock()
	s.attempts = append(s.attempts, s.env.Now())
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	res := s.answer(int(activity.GetInfo(ctx).Attempt))
	if res.Outcome == tenure.DeliveryFailed {
		return res, temporal.NewApplicationError(res.Error, workflows.DeliveryFailedError)
	}
	return res, nil
}

func (s *subscriber) disable(_ context.Context, d workflows.SubscriptionDisable) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disabled = append(s.disabled, d)
	return nil
}

func failing(int) tenure.DeliveryResult {
	return tenure.DeliveryResult{Outcome: tenure.DeliveryFailed, StatusCode: 503, Error: "HTTP 503 Service Unavailable"}
}

func TestDeliverRetriesWithBackoffUntilDelivered(t *testing.T) {
	env, sub := newDeliverEnv(t, func(attempt int) tenure.DeliveryResult {
		if attempt <= 5 {
			return failing(attempt)
		}
		return tenure.DeliveryResult{Outcome: tenure.DeliveryDelivered, StatusCode: 200}
	})
	env.ExecuteWorkflow(workflows.DeliverWorkflowName, workflows.DeliverInput{EventID: "evt_1", SubscriptionID: "sub_1"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed=%t err=%v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var res tenure.DeliveryResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Outcome != tenure.DeliveryDelivered {
		t.Fatalf("result = %+v, %v", res, err)
	}
	if len(sub.attempts) != 6 {
		t.Fatalf("%d attempts, want 6", len(sub.attempts))
	}
	// Exponential backoff: 1s, 2s, 4s, 8s, 16s between attempts.
	for i := 1; i < len(sub.attempts); i++ {
		want := time.Second << (i - 1)
		if got := sub.attempts[i].Sub(sub.attempts[i-1]); got != want {
			t.Errorf("gap before attempt %d = %s, want %s", i+1, got, want)
		}
	}
	r := sub.requests[0]
	if r.DeliveryID != "delivery/evt_1/sub_1" || r.EventID != "evt_1" || r.SubscriptionID != "sub_1" {
		t.Fatalf("request = %+v", r)
	}
	if len(sub.disabled) != 0 {
		t.Fatalf("a delivered subscription was disabled: %+v", sub.disabled)
	}
}

func TestDeliverGivesUpAfterThreeDaysWithTheIntervalCappedAtAnHour(t *testing.T) {
	env, sub := newDeliverEnv(t, failing)
	env.ExecuteWorkflow(workflows.DeliverWorkflowName, workflows.DeliverInput{EventID: "evt_1", SubscriptionID: "sub_1"})
	if !env.IsWorkflowCompleted() {
		t.Fatal("the workflow did not finish")
	}
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != "DeliveryAbandoned" {
		t.Fatalf("error = %v, want DeliveryAbandoned", err)
	}
	first, last := sub.attempts[0], sub.attempts[len(sub.attempts)-1]
	if span := last.Sub(first); span < 71*time.Hour || span > 72*time.Hour {
		t.Fatalf("attempts span %s, want the last within the 72h window and less than an hour before its end", span)
	}
	maxGap := time.Duration(0)
	for i := 1; i < len(sub.attempts); i++ {
		maxGap = max(maxGap, sub.attempts[i].Sub(sub.attempts[i-1]))
	}
	if maxGap != time.Hour {
		t.Fatalf("largest gap %s, want the 1h cap", maxGap)
	}
	// 1s doubling reaches the hour after 12 attempts; the rest are an hour apart.
	if n := len(sub.attempts); n < 80 || n > 84 {
		t.Fatalf("%d attempts in 3 days, want about 82", n)
	}
	if len(sub.disabled) != 0 {
		t.Fatal("a failing subscription was disabled; only 410 disables")
	}
}

func TestDeliverGoneDisablesTheSubscription(t *testing.T) {
	env, sub := newDeliverEnv(t, func(int) tenure.DeliveryResult {
		return tenure.DeliveryResult{Outcome: tenure.DeliveryGone, StatusCode: 410, Error: "HTTP 410 Gone"}
	})
	env.ExecuteWorkflow(workflows.DeliverWorkflowName, workflows.DeliverInput{EventID: "evt_1", SubscriptionID: "sub_1"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed=%t err=%v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if len(sub.attempts) != 1 {
		t.Fatalf("%d attempts after a 410, want 1", len(sub.attempts))
	}
	if len(sub.disabled) != 1 || sub.disabled[0].SubscriptionID != "sub_1" || sub.disabled[0].Reason == "" {
		t.Fatalf("disabled = %+v, want sub_1 with a reason", sub.disabled)
	}
}

func TestDeliverSkippedSubscriptionStopsQuietly(t *testing.T) {
	env, sub := newDeliverEnv(t, func(int) tenure.DeliveryResult {
		return tenure.DeliveryResult{Outcome: tenure.DeliverySkipped, Error: "the subscription was deleted"}
	})
	env.ExecuteWorkflow(workflows.DeliverWorkflowName, workflows.DeliverInput{EventID: "evt_1", SubscriptionID: "sub_1"})
	if env.GetWorkflowError() != nil || len(sub.attempts) != 1 || len(sub.disabled) != 0 {
		t.Fatalf("err=%v attempts=%d disabled=%v", env.GetWorkflowError(), len(sub.attempts), sub.disabled)
	}
}
