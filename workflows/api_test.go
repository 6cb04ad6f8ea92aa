package workflows_test

import (
	"context"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// downClient is a Temporal client whose frontend cannot be reached: every call
// fails as gRPC reports it, naming the internal address it dialled.
type downClient struct {
	client.Client // any other call panics: the test does not make it
	err           error
}

func (c downClient) SignalWithStartWorkflow(context.Context, string, string, any, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, c.err
}

func (c downClient) SignalWorkflow(context.Context, string, string, string, any) error { return c.err }

func (c downClient) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, c.err
}

func (c downClient) WorkflowService() workflowservice.WorkflowServiceClient {
	return downService{err: c.err}
}

// downService is the frontend's gRPC service, as unreachable as downClient.
type downService struct {
	workflowservice.WorkflowServiceClient
	err error
}

func (s downService) UpdateWorkflowExecutionOptions(context.Context, *workflowservice.UpdateWorkflowExecutionOptionsRequest, ...grpc.CallOption) (*workflowservice.UpdateWorkflowExecutionOptionsResponse, error) {
	return nil, s.err
}

func (c downClient) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return nil, c.err
}

func (c downClient) DescribeTaskQueue(context.Context, string, enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	return nil, c.err
}

// TestEngineErrorsHideTemporalsAddress: when Temporal is down, the engine's
// errors are EUNAVAILABLE with a message fit for API callers; the gRPC text,
// with the frontend's internal address, stays in the error's cause for the log.
func TestEngineErrorsHideTemporalsAddress(t *testing.T) {
	const addr = "10.20.30.40:7233"
	grpcErr := serviceerror.NewUnavailable(`connection error: desc = "transport: Error while dialing: dial tcp ` + addr + `: connect: connection refused"`)
	e := &workflows.Engine{Client: downClient{err: grpcErr}}
	ctx := context.Background()
	ev := tenure.Event{ID: "ev1", Type: tenure.EventHire, Employee: tenure.Person{ID: "E1"}}
	_, submitErr := e.SubmitEvent(ctx, ev)
	_, lockErr := e.Lock(ctx, "E1", "r1", "it")
	_, retryErr := e.Retry(ctx, "E1", "github", "r2", "it")
	_, decideErr := e.Decide(ctx, tenure.Approval{ID: "ap1", EmployeeID: "E1"}, tenure.Decision{ApprovalID: "ap1"})
	for name, err := range map[string]error{
		"SubmitEvent": submitErr,
		"Lock":        lockErr,
		"Retry":       retryErr,
		"Decide":      decideErr,
		"Ready":       e.Ready(ctx),
	} {
		if code := tenure.ErrorCode(err); code != tenure.EUNAVAILABLE {
			t.Errorf("%s: code %q, want %q (%v)", name, code, tenure.EUNAVAILABLE, err)
		}
		if msg := tenure.ErrorMessage(err); strings.Contains(msg, addr) || strings.Contains(msg, "dial") {
			t.Errorf("%s: users would see %q", name, msg)
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: the log would not see the cause: %v", name, err)
		}
	}
}
