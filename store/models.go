package store

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// The GORM models. They mirror the domain types of package tenure, which stay free
// of storage tags; each has a conversion to and from its domain type.

// models lists every table, in the order Migrate creates them.
var models = []any{
	&employeeRow{}, &appRow{}, &accountRow{}, &grantRow{}, &eventRow{},
	&approvalRow{}, &runRow{}, &auditRow{}, &auditCheckpointRow{}, &tokenRow{}, &sessionRow{}, &accountBeforeRow{},
	&scimUserRow{}, &scimGroupRow{},
	&outboundEventRow{}, &subscriptionRow{}, &deliveryRow{},
	&guardWindowRow{}, &holdRow{}, &holdPersonRow{}, &holdEventRow{},
	&policyVersionRow{}, &policyActivationRow{}, &rolloutRow{}, &rolloutItemRow{},
	&reconciliationRow{}, &reconcileAppRow{}, &findingRow{}, &checkpointRow{},
}

type employeeRow struct {
	ID             string `gorm:"primaryKey;index:idx_employees_name,priority:3;index:idx_employees_status,priority:4"`
	Email          string `gorm:"not null"`
	GivenName      string `gorm:"not null;index:idx_employees_name,priority:2;index:idx_employees_status,priority:3"`
	FamilyName     string `gorm:"not null;index:idx_employees_name,priority:1;index:idx_employees_status,priority:2"`
	ManagerID      string `gorm:"not null;index:idx_employees_manager"`
	Department     string `gorm:"not null"`
	Title          string `gorm:"not null"`
	Location       string `gorm:"not null"`
	EmploymentType string `gorm:"not null"`
	StartDate      string `gorm:"not null"`
	EndDate        string `gorm:"not null"`
	Attributes     string `gorm:"not null"` // JSON object
	Status         string `gorm:"not null;index:idx_employees_status,priority:1"`
	// Search is the lower-cased text that ListEmployees' Q matches, computed in Go:
	// SQLite's LOWER() folds ASCII only, and names are often not ASCII.
	Search    string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (employeeRow) TableName() string { return "employees" }

type appRow struct {
	Name      string `gorm:"primaryKey"`
	Connector string `gorm:"not null"`
	BaseURL   string `gorm:"not null"`
	Health    string `gorm:"not null"`
	LastError string `gorm:"not null"`
	CheckedAt *time.Time
}

func (appRow) TableName() string { return "apps" }

type accountRow struct {
	EmployeeID   string `gorm:"primaryKey"`
	App          string `gorm:"primaryKey;index:idx_accounts_app"`
	AccountID    string `gorm:"not null"`
	Status       string `gorm:"not null"`
	Entitlements string `gorm:"not null"` // JSON array
	Error        string `gorm:"not null"`
	VerifiedAt   *time.Time
	UpdatedAt    time.Time `gorm:"not null"`
}

func (accountRow) TableName() string { return "accounts" }

type grantRow struct {
	EmployeeID  string    `gorm:"primaryKey"`
	App         string    `gorm:"primaryKey"`
	Entitlement string    `gorm:"primaryKey"`
	Status      string    `gorm:"not null"`
	Rule        string    `gorm:"not null"`
	ApprovalID  string    `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

func (grantRow) TableName() string { return "grants" }

type eventRow struct {
	ID         string    `gorm:"primaryKey"`
	EmployeeID string    `gorm:"not null;index:idx_events_employee,priority:1"`
	Type       string    `gorm:"not null"`
	WorkflowID string    `gorm:"not null"`
	BodyHash   string    `gorm:"not null"`
	Body       []byte    `gorm:""`
	Status     string    `gorm:"not null"`
	ReceivedAt time.Time `gorm:"not null;index:idx_events_employee,priority:2"`
	Note       string    `gorm:"not null;default:''"`
}

func (eventRow) TableName() string { return "events" }

type approvalRow struct {
	ID          string    `gorm:"primaryKey"`
	EmployeeID  string    `gorm:"not null;index:idx_approvals_employee"`
	WorkflowID  string    `gorm:"not null"`
	App         string    `gorm:"not null"`
	Entitlement string    `gorm:"not null"`
	Rule        string    `gorm:"not null"`
	Approver    string    `gorm:"not null"`
	ApproverID  string    `gorm:"not null"`
	Status      string    `gorm:"not null;index:idx_approvals_status,priority:1"`
	DecidedBy   string    `gorm:"not null"`
	Reason      string    `gorm:"not null"`
	RequestedAt time.Time `gorm:"not null;index:idx_approvals_status,priority:2"`
	DecidedAt   *time.Time
	EscalatedTo string `gorm:"not null;default:''"`
	Messages    string `gorm:"not null;default:'[]'"` // JSON array of {channel, ts}
	// Notice and NoticeError are how the latest notice went (SetApprovalNotice).
	Notice      string `gorm:"not null;default:''"`
	NoticeError string `gorm:"not null;default:''"`
}

func (approvalRow) TableName() string { return "approvals" }

type runRow struct {
	WorkflowID string    `gorm:"primaryKey"`
	InWorkflow string    `gorm:"not null;default:''"`
	EmployeeID string    `gorm:"not null;index:idx_runs_employee,priority:1"`
	Type       string    `gorm:"not null"`
	EventID    string    `gorm:"not null"`
	Status     string    `gorm:"not null"`
	Error      string    `gorm:"not null"`
	StartedAt  time.Time `gorm:"not null;index:idx_runs_employee,priority:2"`
	ClosedAt   *time.Time
}

func (runRow) TableName() string { return "runs" }

type auditRow struct {
	Key        string    `gorm:"primaryKey"`
	At         time.Time `gorm:"not null;index:idx_audit_at;index:idx_audit_employee,priority:2;index:idx_audit_action,priority:2"`
	Actor      string    `gorm:"not null"`
	Action     string    `gorm:"not null;index:idx_audit_action,priority:1"`
	EmployeeID string    `gorm:"not null;index:idx_audit_employee,priority:1"`
	App        string    `gorm:"not null"`
	WorkflowID string    `gorm:"not null"`
	Detail     string    `gorm:"not null"`
	// Seq is NULL only for a record written before the chain existed, until
	// Migrate chains it; many NULLs do not collide in the unique index.
	Seq      *int64 `gorm:"uniqueIndex:idx_audit_seq"`
	PrevHash string `gorm:"not null;default:''"`
	Hash     string `gorm:"not null;default:''"`
}

func (auditRow) TableName() string { return "audit_records" }

// auditCheckpointRow is a signed checkpoint of the audit chain's head, one per
// seq and signing key: after the key changes, the new key signs the head the
// old one signed. The envelope is the source of truth; the other columns copy
// its payload.
type auditCheckpointRow struct {
	Seq      int64     `gorm:"primaryKey;autoIncrement:false"`
	KeyID    string    `gorm:"primaryKey"`
	Hash     string    `gorm:"not null"`
	At       time.Time `gorm:"not null"`
	SignedAt time.Time `gorm:"not null"`
	Envelope string    `gorm:"not null"` // JSON
}

func (auditCheckpointRow) TableName() string { return "audit_checkpoints" }

func toEmployeeRow(e tenure.Employee) employeeRow {
	p := e.Person
	return employeeRow{
		ID:             p.ID,
		Email:          p.Email,
		GivenName:      p.GivenName,
		FamilyName:     p.FamilyName,
		ManagerID:      p.ManagerID,
		Department:     p.Department,
		Title:          p.Title,
		Location:       p.Location,
		EmploymentType: p.EmploymentType,
		StartDate:      p.StartDate,
		EndDate:        p.EndDate,
		Attributes:     encodeMap(p.Attributes),
		Status:         string(e.Status),
		Search:         searchText(p),
		CreatedAt:      e.CreatedAt,
		UpdatedAt:      e.UpdatedAt,
	}
}

func (r employeeRow) domain() tenure.Employee {
	return tenure.Employee{
		Person: tenure.Person{
			ID:             r.ID,
			Email:          r.Email,
			GivenName:      r.GivenName,
			FamilyName:     r.FamilyName,
			ManagerID:      r.ManagerID,
			Department:     r.Department,
			Title:          r.Title,
			Location:       r.Location,
			EmploymentType: r.EmploymentType,
			StartDate:      r.StartDate,
			EndDate:        r.EndDate,
			Attributes:     decodeMap(r.Attributes),
		},
		Status:    tenure.PersonStatus(r.Status),
		CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// searchText is what a list search matches: one field a line, so that a query
// cannot match across two fields, plus the full name so "ada lovelace" matches.
func searchText(p tenure.Person) string {
	return strings.ToLower(strings.Join([]string{
		p.ID, p.Email, p.GivenName, p.FamilyName, p.DisplayName(), p.Department, p.Title,
	}, "\n"))
}

func toAppRow(a tenure.App) appRow {
	return appRow{
		Name:      a.Name,
		Connector: a.Connector,
		BaseURL:   a.BaseURL,
		Health:    a.Health,
		LastError: a.LastError,
		CheckedAt: utcPtr(a.CheckedAt),
	}
}

func (r appRow) domain() tenure.App {
	return tenure.App{
		Name:      r.Name,
		Connector: r.Connector,
		BaseURL:   r.BaseURL,
		Health:    r.Health,
		LastError: r.LastError,
		CheckedAt: utcPtr(r.CheckedAt),
	}
}

func toAccountRow(a tenure.Account) accountRow {
	return accountRow{
		EmployeeID:   a.EmployeeID,
		App:          a.App,
		AccountID:    a.AccountID,
		Status:       string(a.Status),
		Entitlements: encodeList(a.Entitlements),
		Error:        a.Error,
		VerifiedAt:   utcPtr(a.VerifiedAt),
		UpdatedAt:    orNow(a.UpdatedAt),
	}
}

func (r accountRow) domain() tenure.Account {
	return tenure.Account{
		EmployeeID:   r.EmployeeID,
		App:          r.App,
		AccountID:    r.AccountID,
		Status:       tenure.AccessStatus(r.Status),
		Entitlements: decodeList(r.Entitlements),
		Error:        r.Error,
		VerifiedAt:   utcPtr(r.VerifiedAt),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
}

func toGrantRow(g tenure.GrantRecord) grantRow {
	return grantRow{
		EmployeeID:  g.EmployeeID,
		App:         g.App,
		Entitlement: g.Entitlement,
		Status:      string(g.Status),
		Rule:        g.Rule,
		ApprovalID:  g.ApprovalID,
		UpdatedAt:   orNow(g.UpdatedAt),
	}
}

func (r grantRow) domain() tenure.GrantRecord {
	return tenure.GrantRecord{
		EmployeeID:  r.EmployeeID,
		App:         r.App,
		Entitlement: r.Entitlement,
		Status:      tenure.AccessStatus(r.Status),
		Rule:        r.Rule,
		ApprovalID:  r.ApprovalID,
		UpdatedAt:   r.UpdatedAt.UTC(),
	}
}

func toEventRow(e tenure.EventRecord) eventRow {
	status := e.Status
	if status == "" {
		status = tenure.EventReceived
	}
	return eventRow{
		ID:         e.ID,
		EmployeeID: e.EmployeeID,
		Type:       string(e.Type),
		WorkflowID: e.WorkflowID,
		BodyHash:   e.BodyHash,
		Body:       e.Body,
		Status:     string(status),
		ReceivedAt: orNow(e.ReceivedAt),
		Note:       e.Note,
	}
}

func (r eventRow) domain() tenure.EventRecord {
	return tenure.EventRecord{
		ID:         r.ID,
		EmployeeID: r.EmployeeID,
		Type:       tenure.EventType(r.Type),
		WorkflowID: r.WorkflowID,
		BodyHash:   r.BodyHash,
		Body:       r.Body,
		Status:     tenure.EventStatus(r.Status),
		ReceivedAt: r.ReceivedAt.UTC(),
		Note:       r.Note,
	}
}

func toApprovalRow(a tenure.Approval) approvalRow {
	status := a.Status
	if status == "" {
		status = tenure.ApprovalPending
	}
	return approvalRow{
		ID:          a.ID,
		EmployeeID:  a.EmployeeID,
		WorkflowID:  a.WorkflowID,
		App:         a.App,
		Entitlement: a.Entitlement,
		Rule:        a.Rule,
		Approver:    string(a.Approver),
		ApproverID:  a.ApproverID,
		Status:      string(status),
		DecidedBy:   a.DecidedBy,
		Reason:      a.Reason,
		RequestedAt: orNow(a.RequestedAt),
		DecidedAt:   utcPtr(a.DecidedAt),
		EscalatedTo: a.EscalatedTo,
		Messages:    encodeMessages(a.Messages),
		Notice:      string(a.Notice),
		NoticeError: a.NoticeError,
	}
}

func (r approvalRow) domain() tenure.Approval {
	return tenure.Approval{
		ID:          r.ID,
		EmployeeID:  r.EmployeeID,
		WorkflowID:  r.WorkflowID,
		App:         r.App,
		Entitlement: r.Entitlement,
		Rule:        r.Rule,
		Approver:    tenure.Approver(r.Approver),
		ApproverID:  r.ApproverID,
		Status:      tenure.ApprovalStatus(r.Status),
		DecidedBy:   r.DecidedBy,
		Reason:      r.Reason,
		RequestedAt: r.RequestedAt.UTC(),
		DecidedAt:   utcPtr(r.DecidedAt),
		EscalatedTo: r.EscalatedTo,
		Messages:    decodeMessages(r.Messages),
		Notice:      tenure.NoticeStatus(r.Notice),
		NoticeError: r.NoticeError,
	}
}

func encodeMessages(m []tenure.MessageRef) string {
	if len(m) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeMessages(s string) []tenure.MessageRef {
	var m []tenure.MessageRef
	if err := json.Unmarshal([]byte(s), &m); err != nil || len(m) == 0 {
		return nil
	}
	return m
}

func toRunRow(r tenure.Run) runRow {
	status := r.Status
	if status == "" {
		status = tenure.RunRunning
	}
	return runRow{
		WorkflowID: r.WorkflowID,
		InWorkflow: r.InWorkflow,
		EmployeeID: r.EmployeeID,
		Type:       r.Type,
		EventID:    r.EventID,
		Status:     string(status),
		Error:      r.Error,
		StartedAt:  orNow(r.StartedAt),
		ClosedAt:   utcPtr(r.ClosedAt),
	}
}

func (r runRow) domain() tenure.Run {
	return tenure.Run{
		WorkflowID: r.WorkflowID,
		InWorkflow: r.InWorkflow,
		EmployeeID: r.EmployeeID,
		Type:       r.Type,
		EventID:    r.EventID,
		Status:     tenure.RunStatus(r.Status),
		Error:      r.Error,
		StartedAt:  r.StartedAt.UTC(),
		ClosedAt:   utcPtr(r.ClosedAt),
	}
}

func toAuditRow(a tenure.AuditRecord) auditRow {
	return auditRow{
		Key:        a.Key,
		At:         orNow(a.At),
		Actor:      a.Actor,
		Action:     a.Action,
		EmployeeID: a.EmployeeID,
		App:        a.App,
		WorkflowID: a.WorkflowID,
		Detail:     a.Detail,
	}
}

func (r auditRow) domain() tenure.AuditRecord {
	return tenure.AuditRecord{
		Key:        r.Key,
		At:         r.At.UTC(),
		Actor:      r.Actor,
		Action:     r.Action,
		EmployeeID: r.EmployeeID,
		App:        r.App,
		WorkflowID: r.WorkflowID,
		Detail:     r.Detail,
		Seq:        deref(r.Seq),
		PrevHash:   r.PrevHash,
		Hash:       r.Hash,
	}
}

func deref(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

func (r auditCheckpointRow) domain() tenure.SignedAuditCheckpoint {
	return tenure.SignedAuditCheckpoint{
		AuditCheckpoint: tenure.AuditCheckpoint{
			Kind: tenure.AuditCheckpointKind, Seq: r.Seq, Hash: r.Hash, At: r.At.UTC(), SignedAt: r.SignedAt.UTC(),
		},
		KeyID:    r.KeyID,
		Envelope: json.RawMessage(r.Envelope),
	}
}

// encodeList stores a list as a JSON array; nil and empty both become "[]".
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// decodeList reads a JSON array back. It returns an empty, non-nil list for
// none, so the API shows "entitlements": [] rather than null.
func decodeList(s string) []string {
	l := []string{}
	_ = json.Unmarshal([]byte(s), &l) // written by encodeList; "" leaves it empty
	return l
}

// encodeMap stores a map as a JSON object; nil and empty both become "{}".
func encodeMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals, keys sorted
	return string(b)
}

// decodeMap reads a JSON object back, as nil when it is empty.
func decodeMap(s string) map[string]string {
	var m map[string]string
	_ = json.Unmarshal([]byte(s), &m) // written by encodeMap
	if len(m) == 0 {
		return nil
	}
	return m
}
