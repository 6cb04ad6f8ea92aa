// Package importer reads HR events from a CSV file, such as a spreadsheet HR keeps
// or an HRIS export: it parses and validates every row before anything is applied,
// reports each problem with its line and column, and plans what the file would do
// to people's access. It does no I/O of its own beyond reading the file; callers
// (the API's POST /api/v1/imports and `tenure import`) hand the events to
// intake, which applies them.
package importer

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// MaxRows is the most data rows one file may hold; a bigger file is split.
const MaxRows = 100_000

// AttrPrefix starts the name of a column that holds a custom HR attribute.
const AttrPrefix = "attr."

// The columns a file may have, besides attr.<name>.
const (
	ColType           = "type"
	ColID             = "id"
	ColEmployeeID     = "employee_id"
	ColEmail          = "email"
	ColGivenName      = "given_name"
	ColFamilyName     = "family_name"
	ColManagerID      = "manager_id"
	ColDepartment     = "department"
	ColTitle          = "title"
	ColLocation       = "location"
	ColEmploymentType = "employment_type"
	ColStartDate      = "start_date"
	ColEndDate        = "end_date"
	ColEffectiveAt    = "effective_at"
)

// Columns lists the known columns in the order the documentation gives them.
var Columns = []string{
	ColType, ColID, ColEmployeeID, ColEmail, ColGivenName, ColFamilyName, ColManagerID,
	ColDepartment, ColTitle, ColLocation, ColEmploymentType, ColStartDate, ColEndDate, ColEffectiveAt,
}

// required are the columns without which no row could be valid.
var required = []string{ColType, ColEmployeeID, ColEmail}

// Row is one valid data row and the event it stands for.
type Row struct {
	// Line is the file line where the row starts (the header is line 1).
	Line  int
	Event tenure.Event
}

// Problem is one thing wrong with one row: the line it starts on, the column at
// fault ("" for the row as a whole) and what is wrong.
type Problem struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Problem string `json:"problem"`
}

// String reads like "line 7: email: is not a valid email address".
func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Problem)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Problem)
}

// FieldError is the problem as the API's error body lists it.
func (p Problem) FieldError() tenure.FieldError {
	f := fmt.Sprintf("line %d", p.Line)
	if p.Field != "" {
		f += ": " + p.Field
	}
	return tenure.FieldError{Field: f, Problem: p.Problem}
}

// File is a parsed CSV file: its valid rows and the problems of the others.
type File struct {
	// Name is the file's base name; default event IDs are made from it.
	Name string
	// Total is the number of data rows, valid or not.
	Total int
	// Rows are the valid rows, in file order.
	Rows []Row
	// Problems lists every problem, by line; a row may have several.
	Problems []Problem
	// InvalidRows is the number of rows with at least one problem.
	InvalidRows int
}

// Events returns the valid rows' events, in file order.
func (f *File) Events() []tenure.Event {
	out := make([]tenure.Event, len(f.Rows))
	for i, r := range f.Rows {
		out[i] = r.Event
	}
	return out
}

// Err is nil when every row is valid, and otherwise an EINVALID error that lists
// every problem with its line.
func (f *File) Err() error {
	if len(f.Problems) == 0 {
		return nil
	}
	fields := make([]tenure.FieldError, len(f.Problems))
	for i, p := range f.Problems {
		fields[i] = p.FieldError()
	}
	e := tenure.Invalid(fields...)
	e.Message = fmt.Sprintf("%d of %d rows are invalid; nothing was imported", f.InvalidRows, f.Total)
	return e
}

// DefaultID is the event ID of a row without one: the file's name and the row's
// line, so importing the same file again is recognised and runs nothing twice.
// Characters an event ID may not hold are replaced, and a short digest of the
// name keeps two names that differ only in those characters apart.
func DefaultID(name string, line int) string {
	clean := unsafeID.ReplaceAllString(name, "_")
	if len(clean) > 80 {
		clean = clean[:80]
	}
	if clean != name {
		sum := sha256.Sum256([]byte(name))
		clean += "-" + hex.EncodeToString(sum[:4])
	}
	return fmt.Sprintf("csv:%s:%d", clean, line)
}

// unsafeID matches what intake.ValidEventID refuses in an event ID (and ':',
// which separates the parts of a default ID).
var unsafeID = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// Parse reads a CSV file named name (its base name; it seeds default event IDs).
// Every row is checked, as strictly as the API checks an event, and every problem
// is kept. The error is for a file that cannot be read as a whole: unreadable,
// empty, a header at fault, or more than MaxRows rows; it is an EINVALID
// *tenure.Error naming line 1 for the header.
func Parse(r io.Reader, name string) (*File, error) {
	f := &File{Name: name}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return nil, tenure.Errorf(tenure.EINVALID, "the file is empty; its first line must be a header such as %s", strings.Join(required, ","))
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, tenure.Invalid(Problem{Line: pe.StartLine, Problem: "is not valid CSV: " + pe.Err.Error()}.FieldError())
		}
		return nil, tenure.Errorf(tenure.EINVALID, "the file could not be read: %v", err)
	}
	cols, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	seenIDs := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, tenure.Errorf(tenure.EINVALID, "the file could not be read: %v", err)
			}
			f.Total++
			f.InvalidRows++
			f.Problems = append(f.Problems, Problem{Line: pe.StartLine, Problem: "is not valid CSV: " + pe.Err.Error()})
			if f.Total > MaxRows {
				return nil, tooMany()
			}
			continue
		}
		f.Total++
		if f.Total > MaxRows {
			return nil, tooMany()
		}
		line, _ := cr.FieldPos(0)
		ev, probs := rowEvent(cols, rec, name, line)
		if ev.ID != "" && len(probs) == 0 {
			if first, dup := seenIDs[ev.ID]; dup {
				probs = append(probs, Problem{Line: line, Field: idField(cols), Problem: fmt.Sprintf("is the same event ID as line %d's; give each row its own", first)})
			} else {
				seenIDs[ev.ID] = line
			}
		}
		if len(probs) > 0 {
			f.InvalidRows++
			f.Problems = append(f.Problems, probs...)
			continue
		}
		f.Rows = append(f.Rows, Row{Line: line, Event: ev})
	}
	if f.Total == 0 {
		return nil, tenure.Errorf(tenure.EINVALID, "the file has a header but no rows")
	}
	return f, nil
}

func tooMany() error {
	return tenure.Errorf(tenure.EINVALID, "the file has more than %d rows; split it into smaller files", MaxRows)
}

// idField is the column a duplicate ID is reported against.
func idField(cols []string) string {
	if slices.Contains(cols, ColID) {
		return ColID
	}
	return ""
}

// parseHeader names each column. Names are trimmed and matched without regard
// to case; a UTF-8 byte order mark, which spreadsheets write, is dropped. An
// unknown or repeated column is refused rather than ignored, so that a misspelt
// "emial" cannot silently drop every address.
func parseHeader(header []string) ([]string, error) {
	var p []tenure.FieldError
	add := func(field, problem string) {
		p = append(p, Problem{Line: 1, Field: field, Problem: problem}.FieldError())
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		name := strings.ToLower(strings.TrimSpace(h))
		if attr, ok := strings.CutPrefix(name, AttrPrefix); ok {
			// Attribute names keep their case: policies match them as written.
			name = AttrPrefix + strings.TrimSpace(h)[len(AttrPrefix):]
			// intake owns the rule for attribute names: ask it about this one.
			var ap intake.Problems
			intake.ValidatePerson(&tenure.Person{ID: "x", Email: "x@example.com", Attributes: map[string]string{attr: ""}}, tenure.EventUpdate, &ap)
			if len(ap.List()) > 0 {
				add(fmt.Sprintf("column %d", i+1), fmt.Sprintf("%q is not a valid attribute column: use attr. and 1 to 64 letters, digits or . _ -", h))
				continue
			}
		} else if !slices.Contains(Columns, name) {
			what := fmt.Sprintf("%q is not a known column", h)
			if name == "" {
				what = "has no name"
			}
			add(fmt.Sprintf("column %d", i+1), what+"; the columns are "+strings.Join(Columns, ", ")+" and attr.<name>")
			continue
		}
		if seen[name] {
			add(fmt.Sprintf("column %d", i+1), fmt.Sprintf("%q appears twice", name))
			continue
		}
		seen[name] = true
		cols[i] = name
	}
	for _, c := range required {
		if !seen[c] {
			add(c, "the column is required")
		}
	}
	if len(p) > 0 {
		e := tenure.Invalid(p...)
		e.Message = "the header (line 1) is invalid: " + e.Message
		return nil, e
	}
	return cols, nil
}

// rowEvent turns one record into an event and checks it with intake's rules,
// naming problems by column.
func rowEvent(cols, rec []string, name string, line int) (tenure.Event, []Problem) {
	var p intake.Problems
	if len(rec) != len(cols) {
		return tenure.Event{}, []Problem{{Line: line, Problem: fmt.Sprintf("has %d cells but the header has %d columns", len(rec), len(cols))}}
	}
	var ev tenure.Event
	e := &ev.Employee
	for i, col := range cols {
		v := strings.TrimSpace(rec[i])
		switch col {
		case ColType:
			ev.Type = tenure.EventType(strings.ToLower(v))
			if v == "" {
				p.Add(ColType, "is required")
			}
		case ColID:
			ev.ID = v
		case ColEmployeeID:
			e.ID = v
		case ColEmail:
			e.Email = v
		case ColGivenName:
			e.GivenName = v
		case ColFamilyName:
			e.FamilyName = v
		case ColManagerID:
			e.ManagerID = v
		case ColDepartment:
			e.Department = v
		case ColTitle:
			e.Title = v
		case ColLocation:
			e.Location = v
		case ColEmploymentType:
			e.EmploymentType = v
		case ColStartDate:
			e.StartDate = v
		case ColEndDate:
			e.EndDate = v
		case ColEffectiveAt:
			if v == "" {
				continue
			}
			t, err := parseEffective(v)
			if err != nil {
				p.Add(ColEffectiveAt, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z, or a date as YYYY-MM-DD")
				continue
			}
			ev.EffectiveAt = &t
		default:
			// An empty attribute cell means the person has no such attribute.
			if v == "" {
				continue
			}
			if e.Attributes == nil {
				e.Attributes = map[string]string{}
			}
			e.Attributes[strings.TrimPrefix(col, AttrPrefix)] = v
		}
	}
	if ev.ID == "" {
		ev.ID = DefaultID(name, line)
	}
	if err := intake.ValidateEvent(ev); err != nil {
		var te *tenure.Error
		if !errors.As(err, &te) {
			p.Add("", err.Error())
		} else {
			for _, f := range te.Fields {
				p.Add(column(f.Field), f.Problem)
			}
		}
	}
	probs := make([]Problem, 0, len(p.List()))
	for _, f := range p.List() {
		probs = append(probs, Problem{Line: line, Field: f.Field, Problem: f.Problem})
	}
	return ev, probs
}

// column names a field of intake's event by the CSV column it came from.
func column(field string) string {
	switch field {
	case "employee.id":
		return ColEmployeeID
	case "employee.attributes":
		return "attr.*"
	}
	if k, ok := strings.CutPrefix(field, "employee.attributes."); ok {
		return AttrPrefix + k
	}
	return strings.TrimPrefix(field, "employee.")
}

// parseEffective reads an RFC 3339 time, or a date meaning its midnight UTC, as
// spreadsheets tend to write them.
func parseEffective(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(tenure.DateLayout, s)
}

// sniff is how much of a body is looked at to tell CSV from something else.
const sniff = 512

// LooksBinary reports whether data is plainly not a text file (a spreadsheet's
// .xlsx, say), so the caller can say so instead of listing a thousand problems.
func LooksBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), sniff)], 0) >= 0
}
