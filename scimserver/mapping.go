package scimserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"reflect"
	"slices"
	"strings"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/scimserver/directory"
)

// How a SCIM user maps onto a person in Tenure. The person is derived from the
// user's attributes each time, so what an event carries is exactly what the
// identity provider last wrote.

// GroupsAttribute is the custom HR attribute that carries a person's SCIM groups:
// their display names, sorted and joined by commas. A policy matches it under
// attributes, such as groups: {regex: "(^|,)Engineering(,|$)"}.
const GroupsAttribute = "groups"

// hrIDPrefix starts the HR ID Tenure assigns to a user created without an
// employeeNumber.
const hrIDPrefix = "scim-"

// newID returns a random UUID (version 4), the form identity providers expect
// SCIM ids to take.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails, per crypto/rand
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// readUser copies what doc (validated attributes, externalId included) says into
// u: its names, its active flag and the attributes kept as written.
func readUser(doc map[string]any, u *directory.User) error {
	userName, _ := doc["userName"].(string)
	if strings.TrimSpace(userName) == "" {
		return invalidValue("userName is required")
	}
	u.UserName = userName
	u.ExternalID, _ = doc["externalId"].(string)
	if active, ok := doc["active"].(bool); ok {
		u.Active = active
	}
	attrs := maps.Clone(doc)
	for _, k := range []string{"id", "externalId", "meta", "schemas", "groups", "password", TenureSchemaID} {
		delete(attrs, k)
	}
	attrs["active"] = u.Active
	u.Attributes = attrs
	u.Email = primaryEmail(attrs)
	return nil
}

// employeeNumber is the enterprise employeeNumber in doc, or "".
func employeeNumber(doc map[string]any) string {
	ext, _ := doc[enterpriseSchema.ID].(map[string]any)
	n, _ := ext["employeeNumber"].(string)
	return strings.TrimSpace(n)
}

// primaryEmail is the email marked primary, else the work email, else the first.
func primaryEmail(attrs map[string]any) string {
	var work, first string
	for _, e := range asList(attrs["emails"]) {
		m := asMap(e)
		v, _ := m["value"].(string)
		if v == "" {
			continue
		}
		if p, _ := m["primary"].(bool); p {
			return v
		}
		if t, _ := m["type"].(string); work == "" && strings.EqualFold(t, "work") {
			work = v
		}
		if first == "" {
			first = v
		}
	}
	if work != "" {
		return work
	}
	return first
}

// person is the HR record a user stands for. The manager, a SCIM id, becomes
// that user's HR ID.
func (s *Server) person(ctx context.Context, u directory.User) (tenure.Person, error) {
	a := u.Attributes
	ext, _ := a[enterpriseSchema.ID].(map[string]any)
	name := asMap(a["name"])
	p := tenure.Person{
		ID:             u.HRID,
		Email:          u.Email,
		GivenName:      str(name, "givenName"),
		FamilyName:     str(name, "familyName"),
		Title:          str(a, "title"),
		EmploymentType: str(a, "userType"),
		Department:     str(ext, "department"),
		Location:       locality(a),
	}
	if p.Email == "" {
		// Okta's userName is the login, which is usually the email.
		if addr, err := mail.ParseAddress(u.UserName); err == nil && addr.Address == u.UserName {
			p.Email = u.UserName
		}
	}
	attrs := map[string]string{}
	for key, scimName := range map[string]string{"cost_center": "costCenter", "division": "division", "organization": "organization"} {
		if v := str(ext, scimName); v != "" {
			attrs[key] = v
		}
	}
	if len(u.Groups) > 0 {
		names := make([]string, 0, len(u.Groups))
		for _, g := range u.Groups {
			names = append(names, g.Name)
		}
		slices.Sort(names)
		attrs[GroupsAttribute] = strings.Join(names, ",")
	}
	if len(attrs) > 0 {
		p.Attributes = attrs
	}
	if m := str(asMap(ext["manager"]), "value"); m != "" {
		mgr, err := s.dir.GetSCIMUser(ctx, m)
		switch {
		case err == nil:
			p.ManagerID = mgr.HRID
		case tenure.ErrorCode(err) != tenure.ENOTFOUND:
			return tenure.Person{}, err
		case intake.ValidHRID(m):
			// Not one of ours: the identity provider sent an HR ID.
			p.ManagerID = m
		default:
			return tenure.Person{}, invalidValue(fmt.Sprintf("%s:manager.value %q is neither a user of this server nor an HR ID", enterpriseSchema.ID, m))
		}
	}
	return p, nil
}

// locality is the city of the primary (else work, else first) address.
func locality(a map[string]any) string {
	var work, first string
	for _, e := range asList(a["addresses"]) {
		m := asMap(e)
		l := str(m, "locality")
		if l == "" {
			continue
		}
		if p, _ := m["primary"].(bool); p {
			return l
		}
		if t := str(m, "type"); work == "" && strings.EqualFold(t, "work") {
			work = l
		}
		if first == "" {
			first = l
		}
	}
	if work != "" {
		return work
	}
	return first
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return strings.TrimSpace(s)
}

// eventID is the ID of the event a change makes: the user, its new version and a
// digest of what the event says. A retried request makes the same change, so the
// same ID, and runs once; a different change that raced to the same version gets
// another ID instead of being refused as a duplicate forever.
func eventID(userID string, version int, typ tenure.EventType, p tenure.Person) string {
	body, _ := json.Marshal(struct {
		Type   tenure.EventType `json:"type"`
		Person tenure.Person    `json:"person"`
	}{typ, p}) // strings and a map of strings: cannot fail
	sum := sha256.Sum256(body)
	return fmt.Sprintf("scim:%s:%d:%s", userID, version, hex.EncodeToString(sum[:6]))
}

// sameUser reports whether two states of a user are equal as SCIM stores them.
func sameUser(a, b directory.User) bool {
	return a.UserName == b.UserName && a.ExternalID == b.ExternalID && a.Active == b.Active &&
		a.Email == b.Email && reflect.DeepEqual(a.Groups, b.Groups) && equalJSON(a.Attributes, b.Attributes)
}

// equalJSON compares decoded JSON by its encoding, so that a json.Number and
// the same number read another way compare equal.
func equalJSON(a, b any) bool {
	ea, errA := json.Marshal(a)
	eb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ea) == string(eb)
}

// scimField names, for each field of an HR event, the SCIM attribute it came from.
var scimField = map[string]string{
	"employee.id":                            enterpriseSchema.ID + ":employeeNumber",
	"employee.email":                         "emails",
	"employee.given_name":                    "name.givenName",
	"employee.family_name":                   "name.familyName",
	"employee.title":                         "title",
	"employee.employment_type":               "userType",
	"employee.department":                    enterpriseSchema.ID + ":department",
	"employee.location":                      "addresses.locality",
	"employee.manager_id":                    enterpriseSchema.ID + ":manager",
	"employee.attributes.cost_center":        enterpriseSchema.ID + ":costCenter",
	"employee.attributes.division":           enterpriseSchema.ID + ":division",
	"employee.attributes.organization":       enterpriseSchema.ID + ":organization",
	"employee.attributes." + GroupsAttribute: "groups",
}

// checkPerson validates a person as a full HR record (as a hire needs it), and
// names the SCIM attributes at fault.
func checkPerson(p tenure.Person) error {
	err := intake.ValidateEvent(tenure.Event{Type: tenure.EventHire, Employee: p})
	if err == nil {
		return nil
	}
	e, ok := err.(*tenure.Error)
	if !ok {
		return err
	}
	problems := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		field := f.Field
		if n, ok := scimField[field]; ok {
			field = n
		}
		problems = append(problems, field+" "+f.Problem)
	}
	return invalidValue(strings.Join(problems, "; "))
}
