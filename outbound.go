package tenure

import (
	"context"
	"encoding/json"
	"time"
)

// The outbound event types that subscribers can receive.
const (
	EventEmployeeHired      = "employee.hired"
	EventEmployeeUpdated    = "employee.updated"
	EventEmployeeTerminated = "employee.terminated"
	EventEmployeeLocked     = "employee.locked"
	EventEmployeeUnlocked   = "employee.unlocked"
	EventAccessGranted      = "access.granted"
	EventAccessRevoked      = "access.revoked"
	EventApprovalRequested  = "approval.requested"
	EventApprovalDecided    = "approval.decided"
	EventWorkflowFailed     = "workflow.failed"
	// EventAuditCheckpoint carries a signed checkpoint of the audit chain's
	// head, hourly, so that a copy lives outside Tenure's database.
	EventAuditCheckpoint = "audit.checkpoint"
	// EventGuardHeld: the blast-radius guard held an operation, or its excess.
	EventGuardHeld = "guard.held"
	// EventReconcileFindings says what a reconciliation found: counts by app
	// and kind, never the accounts themselves.
	EventReconcileFindings = "reconcile.findings"
)

// OutboundEventTypes lists every outbound event type.
var OutboundEventTypes = []string{
	EventEmployeeHired, EventEmployeeUpdated, EventEmployeeTerminated, EventEmployeeLocked,
	EventEmployeeUnlocked, EventAccessGranted, EventAccessRevoked, EventApprovalRequested,
	EventApprovalDecided, EventWorkflowFailed, EventAuditCheckpoint, EventGuardHeld, EventReconcileFindings,
}

// OutboundEvent is a normalised event that Tenure sends to subscribers. Its ID is
// derived from the business key of the step that caused it, so a retried step
// publishes the same event, which subscribers receive once.
type OutboundEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	At         time.Time       `json:"at"`
	EmployeeID string          `json:"employee_id,omitempty"`
	Data       json.RawMessage `json:"data"`
}

// Publisher hands outbound events to their subscribers. Publishing the same
// event ID twice delivers it once.
type Publisher interface {
	// Publish hands over evs, in order: a step's events go together.
	Publish(ctx context.Context, evs ...OutboundEvent) error
}
