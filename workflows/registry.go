package workflows

// Registry returns every workflow Tenure runs, by the type name it is registered
// under. The worker, the test environment and the replay test all register from
// it, so a workflow cannot run in one without being tested in the others.
func Registry() map[string]any {
	return map[string]any{
		EmployeeWorkflowName:    Employee,
		JoinerWorkflowName:      Joiner,
		MoverWorkflowName:       Mover,
		LeaverWorkflowName:      Leaver,
		LockWorkflowName:        Lock,
		UnlockWorkflowName:      Unlock,
		DeliverWorkflowName:     Deliver,
		WorkdaySyncWorkflowName: WorkdaySync,
		RolloutWorkflowName:     PolicyRollout,

		AuditCheckpointWorkflowName: AuditCheckpoint,
		ReconcileWorkflowName:       Reconcile,
	}
}
