package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

var _ tenure.OutboundStore = (*DB)(nil)

// outboundEventRow is an event Tenure published to subscribers.
type outboundEventRow struct {
	ID         string    `gorm:"primaryKey"`
	Type       string    `gorm:"not null;index:idx_outbound_events_type,priority:1"`
	At         time.Time `gorm:"not null;index:idx_outbound_events_at;index:idx_outbound_events_type,priority:2;index:idx_outbound_events_employee,priority:2"`
	EmployeeID string    `gorm:"not null;index:idx_outbound_events_employee,priority:1"`
	Data       string    `gorm:"not null"` // JSON
	CreatedAt  time.Time `gorm:"not null"`
}

func (outboundEventRow) TableName() string { return "outbound_events" }

// subscriptionRow is a subscriber's endpoint. SealedSecret is AES-GCM ciphertext
// made by the outbound package; the store never sees the secret itself.
type subscriptionRow struct {
	ID             string    `gorm:"primaryKey"`
	URL            string    `gorm:"not null"`
	Events         string    `gorm:"not null"` // JSON array
	Description    string    `gorm:"not null"`
	Status         string    `gorm:"not null"`
	DisabledReason string    `gorm:"not null"`
	SealedSecret   []byte    `gorm:"not null"`
	CreatedAt      time.Time `gorm:"not null"`
	UpdatedAt      time.Time `gorm:"not null"`
}

func (subscriptionRow) TableName() string { return "subscriptions" }

// deliveryRow is one attempt of one delivery. The key is the delivery (its
// workflow ID) and the attempt, so a retried write of one attempt is one row.
type deliveryRow struct {
	DeliveryID     string    `gorm:"primaryKey"`
	Attempt        int       `gorm:"primaryKey;autoIncrement:false"`
	EventID        string    `gorm:"not null;index:idx_deliveries_event,priority:1"`
	SubscriptionID string    `gorm:"not null;index:idx_deliveries_subscription,priority:1"`
	At             time.Time `gorm:"not null;index:idx_deliveries_event,priority:2;index:idx_deliveries_subscription,priority:2;index:idx_deliveries_at"`
	Outcome        string    `gorm:"not null"`
	StatusCode     int       `gorm:"not null"`
	Error          string    `gorm:"not null"`
	DurationMS     int64     `gorm:"not null"`
}

func (deliveryRow) TableName() string { return "deliveries" }

// CreateOutboundEvent inserts ev unless an event with its ID exists, in which case
// it returns the stored event and created=false. Data defaults to {} and At to now.
func (db *DB) CreateOutboundEvent(ctx context.Context, ev tenure.OutboundEvent) (tenure.OutboundEvent, bool, error) {
	row, err := toOutboundEventRow(ev)
	if err != nil {
		return tenure.OutboundEvent{}, false, err
	}
	res := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return tenure.OutboundEvent{}, false, wrap("create outbound event", res.Error)
	}
	if res.RowsAffected == 1 {
		return row.domain(), true, nil
	}
	stored, err := db.GetOutboundEvent(ctx, ev.ID)
	return stored, false, err
}

// CreateOutboundEvents inserts each of evs unless an event with its ID
// exists, in one statement; an invalid event inserts none. Data defaults to {}
// and At to now.
func (db *DB) CreateOutboundEvents(ctx context.Context, evs []tenure.OutboundEvent) error {
	rows := make([]outboundEventRow, 0, len(evs))
	for _, ev := range evs {
		row, err := toOutboundEventRow(ev)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil
	}
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error
	return wrap("create outbound events", err)
}

func toOutboundEventRow(ev tenure.OutboundEvent) (outboundEventRow, error) {
	if err := required([2]string{"id", ev.ID}, [2]string{"type", ev.Type}); err != nil {
		return outboundEventRow{}, err
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		data = []byte("{}")
	}
	if !json.Valid(data) {
		return outboundEventRow{}, tenure.Invalid(tenure.FieldError{Field: "data", Problem: "must be JSON"})
	}
	return outboundEventRow{
		ID: ev.ID, Type: ev.Type, At: orNow(ev.At), EmployeeID: ev.EmployeeID,
		Data: string(data), CreatedAt: now(),
	}, nil
}

// GetOutboundEvent returns one outbound event; ENOTFOUND when there is none.
func (db *DB) GetOutboundEvent(ctx context.Context, id string) (tenure.OutboundEvent, error) {
	var row outboundEventRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.OutboundEvent{}, notFound("outbound event", id)
	}
	if err != nil {
		return tenure.OutboundEvent{}, wrap("get outbound event", err)
	}
	return row.domain(), nil
}

// ListOutboundEvents returns one page of outbound events, newest first.
func (db *DB) ListOutboundEvents(ctx context.Context, f tenure.OutboundEventFilter) ([]tenure.OutboundEvent, error) {
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	q := db.r.WithContext(ctx)
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.EmployeeID != "" {
		q = q.Where("employee_id = ?", f.EmployeeID)
	}
	var rows []outboundEventRow
	if err := q.Order(`"at" DESC, id`).Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, wrap("list outbound events", err)
	}
	out := make([]tenure.OutboundEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

func (r outboundEventRow) domain() tenure.OutboundEvent {
	return tenure.OutboundEvent{
		ID: r.ID, Type: r.Type, At: r.At.UTC(), EmployeeID: r.EmployeeID, Data: json.RawMessage(r.Data),
	}
}

// CreateSubscription inserts s; ECONFLICT when its ID is taken.
func (db *DB) CreateSubscription(ctx context.Context, s tenure.Subscription) error {
	if err := required([2]string{"id", s.ID}, [2]string{"url", s.URL}); err != nil {
		return err
	}
	if len(s.SealedSecret) == 0 {
		return tenure.Invalid(tenure.FieldError{Field: "secret", Problem: "is required"})
	}
	status := s.Status
	if status == "" {
		status = tenure.SubscriptionActive
	}
	created := orNow(s.CreatedAt)
	row := subscriptionRow{
		ID: s.ID, URL: s.URL, Events: encodeList(s.Events), Description: s.Description,
		Status: string(status), DisabledReason: s.DisabledReason, SealedSecret: s.SealedSecret,
		CreatedAt: created, UpdatedAt: created,
	}
	res := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return wrap("create subscription", res.Error)
	}
	if res.RowsAffected == 0 {
		return tenure.Errorf(tenure.ECONFLICT, "subscription %q exists", s.ID)
	}
	return nil
}

// GetSubscription returns one subscription; ENOTFOUND when there is none.
func (db *DB) GetSubscription(ctx context.Context, id string) (tenure.Subscription, error) {
	var row subscriptionRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.Subscription{}, notFound("subscription", id)
	}
	if err != nil {
		return tenure.Subscription{}, wrap("get subscription", err)
	}
	return row.domain(), nil
}

// ListSubscriptions returns every subscription, oldest first. There are few, and
// publishing an event reads them all.
func (db *DB) ListSubscriptions(ctx context.Context) ([]tenure.Subscription, error) {
	var rows []subscriptionRow
	if err := db.r.WithContext(ctx).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, wrap("list subscriptions", err)
	}
	out := make([]tenure.Subscription, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// DeleteSubscription removes a subscription; ENOTFOUND when there is none. Its
// delivery log stays, as evidence of what was sent.
func (db *DB) DeleteSubscription(ctx context.Context, id string) error {
	res := db.w.WithContext(ctx).Where("id = ?", id).Delete(&subscriptionRow{})
	if res.Error != nil {
		return wrap("delete subscription", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("subscription", id)
	}
	return nil
}

// DisableSubscription marks a subscription disabled with the reason; disabling it
// again keeps the first reason. ENOTFOUND when there is none.
func (db *DB) DisableSubscription(ctx context.Context, id, reason string, at time.Time) error {
	res := db.w.WithContext(ctx).Model(&subscriptionRow{}).
		Where("id = ? AND status = ?", id, string(tenure.SubscriptionActive)).
		Updates(map[string]any{
			"status":          string(tenure.SubscriptionDisabled),
			"disabled_reason": reason,
			"updated_at":      orNow(at),
		})
	if res.Error != nil {
		return wrap("disable subscription", res.Error)
	}
	if res.RowsAffected == 0 {
		_, err := db.GetSubscription(ctx, id)
		return err
	}
	return nil
}

func (r subscriptionRow) domain() tenure.Subscription {
	return tenure.Subscription{
		ID: r.ID, URL: r.URL, Events: decodeList(r.Events), Description: r.Description,
		Status: tenure.SubscriptionStatus(r.Status), DisabledReason: r.DisabledReason,
		SealedSecret: r.SealedSecret, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// RecordDelivery writes one attempt; writing the same delivery and attempt again
// replaces it, so a retried write leaves one row with the last word.
func (db *DB) RecordDelivery(ctx context.Context, d tenure.Delivery) error {
	if err := required([2]string{"delivery_id", d.DeliveryID}, [2]string{"event_id", d.EventID},
		[2]string{"subscription_id", d.SubscriptionID}, [2]string{"outcome", string(d.Outcome)}); err != nil {
		return err
	}
	if d.Attempt < 1 {
		return tenure.Invalid(tenure.FieldError{Field: "attempt", Problem: "must be 1 or more"})
	}
	row := deliveryRow{
		DeliveryID: d.DeliveryID, Attempt: d.Attempt, EventID: d.EventID, SubscriptionID: d.SubscriptionID,
		At: orNow(d.At), Outcome: string(d.Outcome), StatusCode: d.StatusCode, Error: d.Error, DurationMS: d.DurationMS,
	}
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "delivery_id"}, {Name: "attempt"}},
		DoUpdates: clause.AssignmentColumns([]string{"at", "outcome", "status_code", "error", "duration_ms"}),
	}).Create(&row).Error
	return wrap("record delivery", err)
}

// ListDeliveries returns one page of delivery attempts, newest first.
func (db *DB) ListDeliveries(ctx context.Context, f tenure.DeliveryFilter) ([]tenure.Delivery, error) {
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	q := db.r.WithContext(ctx)
	if f.EventID != "" {
		q = q.Where("event_id = ?", f.EventID)
	}
	if f.SubscriptionID != "" {
		q = q.Where("subscription_id = ?", f.SubscriptionID)
	}
	var rows []deliveryRow
	if err := q.Order(`"at" DESC, delivery_id, attempt DESC`).Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, wrap("list deliveries", err)
	}
	out := make([]tenure.Delivery, 0, len(rows))
	for _, r := range rows {
		out = append(out, tenure.Delivery{
			DeliveryID: r.DeliveryID, EventID: r.EventID, SubscriptionID: r.SubscriptionID, Attempt: r.Attempt,
			At: r.At.UTC(), Outcome: tenure.DeliveryOutcome(r.Outcome), StatusCode: r.StatusCode,
			Error: r.Error, DurationMS: r.DurationMS,
		})
	}
	return out, nil
}
