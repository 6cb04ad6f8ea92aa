package workflows

// The blast-radius guard holds a workflow-backed bulk operation (a policy
// rollout, a reconciliation's remediations) whole: the workflow waits for this
// signal, which releasing or discarding the hold sends.
//
// These stand in for package guard's DecisionSignal and Decision, with the same
// name and fields (and so the same JSON), until that package is part of this branch.
const GuardDecisionSignal = "guard-decision"

// GuardDecision is an admin's decision on a hold: Release lets the operation
// go on; otherwise it ends as canceled.
type GuardDecision struct {
	HoldID  string
	Release bool
	Actor   string
}
