package hr

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// BambooHR's webhook actions.
const (
	BambooCreated = "Created"
	BambooUpdated = "Updated"
	BambooDeleted = "Deleted"
)

// bambooFields maps BambooHR's field names, folded by normKey, to Tenure's
// record. Both the English names a global webhook posts by default ("Work
// Email") and the API names used as aliases ("workEmail") fold to the same key.
// Status, employment status and termination date are read separately: they
// decide whether the change is a termination.
var bambooFields = map[string]string{
	"firstname":      "given_name",
	"lastname":       "family_name",
	"workemail":      "email",
	"department":     "department",
	"jobtitle":       "title",
	"location":       "location",
	"hiredate":       "start_date",
	"supervisoreid":  "manager_id",
	"division":       "attributes.division",
	"employeenumber": "attributes.employee_number",
	"employee#":      "attributes.employee_number",
}

// bambooTimestamps are the layouts BambooHR's timestamp comes in; its documented
// form has a zone offset without a colon (2026-01-31T18:42:00+0000).
var bambooTimestamps = []string{"2006-01-02T15:04:05-0700", time.RFC3339, "2006-01-02 15:04:05"}

// bambooEmployee is one entry of BambooHR's field-based webhook payload.
type bambooEmployee struct {
	ID            json.RawMessage            `json:"id"`
	Action        string                     `json:"action"`
	Timestamp     string                     `json:"timestamp"`
	Fields        map[string]json.RawMessage `json:"fields"`
	ChangedFields []string                   `json:"changedFields"`
}

// BambooChange is one employee entry of a BambooHR webhook, mapped onto Tenure's
// record but not yet merged with what Tenure knows of the person: BambooHR posts
// only the fields its webhook is configured to post, and nothing at all for
// Created and Deleted.
type BambooChange struct {
	EmployeeID string
	Action     string
	// At is BambooHR's time of the change; zero when the entry had none.
	At time.Time
	// Set holds the mapped fields the entry carried, by Tenure field name
	// ("email", "attributes.division"); "" clears a field.
	Set map[string]string
	// Terminated is true when the status, the employment status or a termination
	// date says the person is leaving; TerminationDate is their last day, if given.
	Terminated      bool
	TerminationDate string
	// key is what makes the event ID unique when the entry has no timestamp.
	key string
	// Err is why the entry cannot be mapped at all.
	Err error
}

// BambooHR parses BambooHR's field-based webhook payload:
//
//	{"employees": [{"id": "123", "action": "Updated", "timestamp": "2026-01-31T18:42:00+0000",
//	  "fields": {"Work Email": "...", ...}, "changedFields": ["Job Title"]}]}
//
// The error is for a body that is not such a payload at all; each entry's own
// problem is in its BambooChange.
func BambooHR(body []byte) ([]BambooChange, error) {
	var payload struct {
		Employees *[]json.RawMessage `json:"employees"`
	}
	if err := json.Unmarshal(body, &payload); err != nil || payload.Employees == nil {
		return nil, tenure.Invalid(tenure.FieldError{Field: "employees", Problem: "is required: BambooHR posts {\"employees\": [...]}"})
	}
	raws := *payload.Employees
	switch {
	case len(raws) == 0:
		return nil, tenure.Invalid(tenure.FieldError{Field: "employees", Problem: "is empty"})
	case len(raws) > MaxEvents:
		return nil, tenure.Invalid(tenure.FieldError{Field: "employees", Problem: fmt.Sprintf("has %d entries; send at most %d", len(raws), MaxEvents)})
	}
	out := make([]BambooChange, len(raws))
	for i, raw := range raws {
		out[i] = bambooOne(raw)
	}
	return out, nil
}

func bambooOne(raw json.RawMessage) BambooChange {
	var (
		p  intake.Problems
		e  bambooEmployee
		ch = BambooChange{Set: map[string]string{}, key: shortHash(string(raw))}
	)
	if err := json.Unmarshal(raw, &e); err != nil {
		p.Add("employees[]", "must be an object with id, action, timestamp and fields")
		ch.Err = p.Err()
		return ch
	}
	id, ok := scalar(e.ID)
	switch {
	case !ok || id == "":
		p.Add("id", "is required: BambooHR's employee ID")
	case !intake.ValidHRID(id):
		p.Add("id", "must be 1 to 64 letters, digits or . _ -")
	}
	ch.EmployeeID = id
	switch e.Action {
	case BambooCreated, BambooUpdated, BambooDeleted:
		ch.Action = e.Action
	case "":
		p.Add("action", "is required: Created, Updated or Deleted")
	default:
		p.Add("action", "must be Created, Updated or Deleted")
	}
	if e.Timestamp != "" {
		for _, layout := range bambooTimestamps {
			if t, err := time.Parse(layout, e.Timestamp); err == nil {
				ch.At = t.UTC()
				break
			}
		}
		if ch.At.IsZero() {
			p.Add("timestamp", "must be a time such as 2026-01-31T18:42:00+0000")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(e.Fields)) {
		v, ok := scalar(e.Fields[name])
		if !ok {
			p.Add("fields."+name, "must be a string, a number or null")
			continue
		}
		key := normKey(name)
		switch key {
		case "status":
			// BambooHR's employee status: Active or Inactive.
			if strings.EqualFold(v, "Inactive") {
				ch.Terminated = true
			}
			continue
		case "employmenthistorystatus", "employmentstatus":
			if strings.EqualFold(v, "Terminated") {
				ch.Terminated = true
			} else {
				ch.Set["employment_type"] = v
			}
			continue
		case "terminationdate":
			d, ok := hrDate(v)
			if !ok {
				p.Add("fields."+name, "must be a date as YYYY-MM-DD")
				continue
			}
			if d != "" {
				ch.Terminated, ch.TerminationDate = true, d
			}
			continue
		}
		field, known := bambooFields[key]
		if !known {
			// BambooHR posts whatever fields the webhook is set to post; only the
			// ones Tenure maps matter.
			continue
		}
		if field == "start_date" {
			d, ok := hrDate(v)
			if !ok {
				p.Add("fields."+name, "must be a date as YYYY-MM-DD")
				continue
			}
			v = d
		}
		ch.Set[field] = v
	}
	ch.Err = p.Err()
	return ch
}

// EventID is the change's deterministic event ID: the same entry delivered again
// has the same ID, so intake runs it once.
func (c BambooChange) EventID() string {
	when := c.key
	if !c.At.IsZero() {
		when = c.At.Format("20060102T150405Z")
	}
	return "bamboohr-" + c.EmployeeID + "-" + strings.ToLower(c.Action) + "-" + when
}

// Item merges the change onto what Tenure knows of the person (base, nil when
// nothing) and returns the event to accept:
//
//   - Created is a hire (a rehire of someone Tenure saw leave).
//   - Updated is an update, a rehire of someone terminated, or a termination when
//     the status is Inactive, the employment status is Terminated or a
//     termination date is set.
//   - Deleted is a termination now; for someone Tenure never knew it is skipped.
//
// effective_at is BambooHR's timestamp, except for a termination with a date,
// which takes effect at the end of the last day (midnight UTC after it).
func (c BambooChange) Item(base *tenure.Employee) Item {
	if c.Err != nil {
		return Item{Err: c.Err}
	}
	var p tenure.Person
	known := base != nil && base.ID != ""
	if known {
		p = clonePerson(base.Person)
	}
	p.ID = c.EmployeeID
	for _, name := range slices.Sorted(maps.Keys(c.Set)) {
		setField(&p, name, c.Set[name])
	}
	ev := tenure.Event{ID: c.EventID(), Employee: p}
	if !c.At.IsZero() {
		at := c.At
		ev.EffectiveAt = &at
	}
	terminatedBefore := known && base.Status == tenure.PersonTerminated
	switch {
	case c.Action == BambooDeleted:
		if !known {
			return Item{Skip: "BambooHR deleted an employee Tenure never knew; nothing to revoke"}
		}
		ev.Type = tenure.EventTerminate
	case c.Terminated:
		if !known {
			return Item{Skip: "BambooHR terminated an employee Tenure never knew; nothing to revoke"}
		}
		ev.Type = tenure.EventTerminate
		if c.TerminationDate != "" {
			ev.EffectiveAt = dayAfter(c.TerminationDate)
		}
	case terminatedBefore:
		ev.Type = tenure.EventRehire
	case c.Action == BambooCreated:
		ev.Type = tenure.EventHire
	default:
		ev.Type = tenure.EventUpdate
		if !known {
			// Tenure has not seen them: the update hires them, so it needs a whole record.
			ev.Type = tenure.EventHire
		}
	}
	if err := intake.ValidateEvent(ev); err != nil {
		if !known {
			err = bambooHint(err)
		}
		return Item{Err: err}
	}
	return Item{Event: ev}
}

// bambooHint adds what to change in BambooHR when a new person's record lacks
// required fields: Created posts no fields at all.
func bambooHint(err error) error {
	te, ok := err.(*tenure.Error)
	if !ok {
		return err
	}
	out := *te
	out.Fields = slices.Clone(te.Fields)
	for i, f := range out.Fields {
		switch f.Field {
		case "employee.email", "employee.given_name", "employee.family_name":
			out.Fields[i].Problem = f.Problem + "; BambooHR sent no value: add Work Email, First Name and Last Name to the webhook's posted fields (Created posts none; the next Updated hires them)"
		}
	}
	return &out
}

// Matches reports whether ev, an event accepted earlier under this change's ID,
// came from the same entry: the same type and time, and every field the entry
// carried equal. A redelivery matches even when what Tenure knew of the person
// has changed since; a different entry under the same ID does not.
func (c BambooChange) Matches(ev tenure.Event, item Item) bool {
	if item.Err != nil || item.Skip != "" || ev.Type != item.Event.Type || ev.Employee.ID != c.EmployeeID {
		return false
	}
	a, b := ev.EffectiveAt, item.Event.EffectiveAt
	if (a == nil) != (b == nil) || (a != nil && !a.Equal(*b)) {
		return false
	}
	for name, v := range c.Set {
		if getField(ev.Employee, name) != v {
			return false
		}
	}
	return true
}
