package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/importer"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/policy"
)

// maxImportBody is the largest CSV file POST /api/v1/imports takes: 100,000 rows
// of about 300 bytes.
const maxImportBody = 32 << 20

// importResult is what became of one row of an import.
type importResult struct {
	Line       int          `json:"line"`
	EventID    string       `json:"event_id"`
	EmployeeID string       `json:"employee_id,omitempty"`
	WorkflowID string       `json:"workflow_id,omitempty"`
	Status     string       `json:"status"`
	HoldID     string       `json:"hold_id,omitempty"`
	Error      *errorDetail `json:"error,omitempty"`
}

// importResponse answers an import that was applied.
type importResponse struct {
	File string `json:"file"`
	Rows int    `json:"rows"`
	batchCounts
	// Guard is what the blast-radius guard decided about the file.
	Guard    guardVerdict       `json:"guard"`
	Problems []importer.Problem `json:"problems"`
	Results  []importResult     `json:"results"`
}

// planResponse answers a dry run.
type planResponse struct {
	File     string             `json:"file"`
	Rows     int                `json:"rows"`
	Valid    int                `json:"valid"`
	Invalid  int                `json:"invalid"`
	Problems []importer.Problem `json:"problems"`
	Plan     importer.Plan      `json:"plan"`
	// Guard says whether the blast-radius guard would hold part of the file now.
	Guard guardVerdict `json:"guard"`
}

// postImport imports a CSV file of HR events. Every row is validated first; while
// any is invalid nothing is applied, unless skip_invalid=true. With dry_run=true
// nothing is applied and the answer is the plan: the hires, changes and
// terminations, and the access each grants or revokes.
func (s *server) postImport(c echo.Context) error {
	var p intake.Problems
	dryRun := queryBool(c, "dry_run", &p)
	skipInvalid := queryBool(c, "skip_invalid", &p)
	name := c.QueryParam("filename")
	if name != "" {
		name = path.Base(strings.ReplaceAll(name, `\`, "/"))
		intake.CheckText("filename", name, intake.MaxText, false, &p)
	}
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "text/csv" && mt != "application/csv" && mt != "text/plain") {
			p.Add("Content-Type", "must be text/csv")
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge
	case err != nil:
		return tenure.Errorf(tenure.EINVALID, "the request body could not be read")
	case importer.LooksBinary(body):
		return tenure.Invalid(tenure.FieldError{Field: "body", Problem: "is not a CSV file; export the spreadsheet as CSV (UTF-8)"})
	}
	if name == "" {
		// Without a name, the content names the file: posting it again is recognised.
		sum := sha256.Sum256(body)
		name = "upload-" + hex.EncodeToString(sum[:6])
	}
	file, err := importer.Parse(bytes.NewReader(body), name)
	if err != nil {
		return err
	}
	problems := file.Problems
	if problems == nil {
		problems = []importer.Problem{}
	}

	ctx := c.Request().Context()
	bulk := guard.Bulk{Source: guard.SourceImport, Operation: file.Name, Actor: principal(c).Actor()}
	if dryRun {
		var pol *policy.Policy
		if s.policy != nil {
			if pol, err = s.policy.ActivePolicy(ctx); err != nil && tenure.ErrorCode(err) != tenure.ENOTFOUND {
				return err
			}
		}
		planner := &importer.Planner{People: s.store, Events: s.store, Policy: pol, Now: s.now}
		plan, err := planner.Plan(ctx, file.Rows)
		if err != nil {
			return tenure.Unavailable("planning the import", err)
		}
		v, err := s.guard.PreviewEvents(ctx, bulk, file.Events())
		if err != nil {
			return tenure.Unavailable("the guard", err)
		}
		return respond(c, http.StatusOK, planResponse{
			File: file.Name, Rows: file.Total, Valid: len(file.Rows), Invalid: file.InvalidRows,
			Problems: problems, Plan: plan, Guard: verdictOf(v),
		})
	}
	if err := file.Err(); err != nil && !skipInvalid {
		e := err.(*tenure.Error)
		e.Message += " (fix them, or send skip_invalid=true to import the valid rows)"
		return e
	}

	events := file.Events()
	outcomes, v, err := s.applyGuarded(c, bulk, events)
	if err != nil {
		return err
	}
	resp := importResponse{File: file.Name, Rows: file.Total, Guard: verdictOf(v), Problems: problems, Results: make([]importResult, len(outcomes))}
	resp.Invalid = file.InvalidRows
	for i, o := range outcomes {
		var r batchResult
		s.fillResult(c, &r, o)
		row := file.Rows[i]
		resp.Results[i] = importResult{
			Line: row.Line, EventID: events[i].ID, EmployeeID: row.Event.Employee.ID, WorkflowID: r.WorkflowID,
			Status: r.Status, HoldID: r.HoldID, Error: r.Error,
		}
		resp.add(r.Status)
	}
	return respond(c, http.StatusOK, resp)
}

// queryBool reads an optional true/false query parameter.
func queryBool(c echo.Context, name string, p *intake.Problems) bool {
	v := c.QueryParam(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.Add(name, fmt.Sprintf("must be true or false, not %q", v))
	}
	return b
}
