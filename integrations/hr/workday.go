package hr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// workdayColumns maps the report's column aliases, folded by normKey, to Tenure's
// record. A RaaS report names its columns as its author chose; these are the
// names Workday's delivered fields get by default and the usual aliases.
var workdayColumns = map[string]string{
	"employeeid":              "id",
	"workerid":                "id",
	"firstname":               "given_name",
	"legalfirstname":          "given_name",
	"preferredfirstname":      "given_name",
	"lastname":                "family_name",
	"legallastname":           "family_name",
	"preferredlastname":       "family_name",
	"emailaddress":            "email",
	"workemail":               "email",
	"primaryworkemail":        "email",
	"email":                   "email",
	"department":              "department",
	"supervisoryorganization": "department",
	"businesstitle":           "title",
	"jobtitle":                "title",
	"location":                "location",
	"worklocation":            "location",
	"workertype":              "employment_type",
	"employeetype":            "employment_type",
	"managerid":               "manager_id",
	"manageremployeeid":       "manager_id",
	"hiredate":                "start_date",
	"endemploymentdate":       "end_date",
	"contractenddate":         "end_date",
	"terminationdate":         "termination_date",
	"activestatus":            "active",
	"active":                  "active",
	"lastupdated":             "last_updated",
	"lastmodified":            "last_updated",
}

// WorkdayWorker is one row of a Workday RaaS report, mapped onto Tenure's record.
type WorkdayWorker struct {
	Person tenure.Person
	// Active is false when the report's active status says the worker has left.
	Active bool
	// TerminationDate is the worker's last day, when the report has one.
	TerminationDate string
	// LastUpdated is when Workday last changed the worker, when the report says.
	LastUpdated *time.Time
	// fields lists the record fields the report carries, so a column the report
	// does not have never clears what another source set.
	fields []string
}

// Terminated reports whether the row says the worker leaves or has left.
func (w WorkdayWorker) Terminated() bool { return !w.Active || w.TerminationDate != "" }

// WorkdayRow is one row of the report: the worker, or why the row was refused.
type WorkdayRow struct {
	Worker WorkdayWorker
	Err    error
}

// ParseWorkdayReport parses a RaaS report in JSON, {"Report_Entry": [{...}]}. The
// error is for a body that is not such a report; a row that cannot be mapped is
// refused on its own, with its problems.
func ParseWorkdayReport(body []byte) ([]WorkdayRow, error) {
	var report struct {
		Entries *[]map[string]json.RawMessage `json:"Report_Entry"`
	}
	if err := json.Unmarshal(body, &report); err != nil || report.Entries == nil {
		return nil, tenure.Invalid(tenure.FieldError{Field: "Report_Entry", Problem: "is missing: the report must be fetched with format=json"})
	}
	rows := make([]WorkdayRow, len(*report.Entries))
	for i, entry := range *report.Entries {
		w, err := workdayRow(entry)
		rows[i] = WorkdayRow{Worker: w, Err: err}
	}
	return rows, nil
}

func workdayRow(entry map[string]json.RawMessage) (WorkdayWorker, error) {
	var (
		p intake.Problems
		w = WorkdayWorker{Active: true}
	)
	for _, col := range slices.Sorted(maps.Keys(entry)) {
		field, ok := workdayColumns[normKey(col)]
		if !ok {
			continue
		}
		v, ok := scalar(entry[col])
		if !ok {
			p.Add(col, "must be a string, a number or a boolean")
			continue
		}
		switch field {
		case "id":
			w.Person.ID = v
		case "active":
			switch strings.ToLower(v) {
			case "0", "false", "no", "inactive", "terminated":
				w.Active = false
			}
		case "termination_date":
			d, ok := hrDate(v)
			if !ok {
				p.Add(col, "must be a date as YYYY-MM-DD")
			}
			w.TerminationDate = d
		case "last_updated":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				p.Add(col, "must be an RFC 3339 time")
				continue
			}
			t = t.UTC()
			w.LastUpdated = &t
		case "start_date", "end_date":
			d, ok := hrDate(v)
			if !ok {
				p.Add(col, "must be a date as YYYY-MM-DD")
				continue
			}
			setField(&w.Person, field, d)
			w.fields = append(w.fields, field)
		default:
			setField(&w.Person, field, v)
			w.fields = append(w.fields, field)
		}
	}
	if w.Person.ID == "" {
		p.Add("Employee_ID", "is required")
	}
	return w, p.Err()
}

// DiffWorkday compares the report's workers with what the read model knows
// (known, by HR ID) and returns the events that bring Tenure up to date, in the
// report's order:
//
//   - someone unknown and not leaving: a hire;
//   - someone terminated in Tenure and active in the report: a rehire;
//   - someone with a termination date, or inactive: a termination (at the end of
//     the last day, when there is one); nothing for someone Tenure never knew or
//     already terminated;
//   - someone whose record differs in a column the report carries: an update.
//
// Someone missing from the report is left alone: a report's filter is not a
// termination. Event IDs depend only on the report and the read model, so a
// re-run before Tenure has applied them maps to the same IDs.
func DiffWorkday(workers []WorkdayWorker, known map[string]tenure.Employee) []tenure.Event {
	var out []tenure.Event
	for _, w := range workers {
		k, isKnown := known[w.Person.ID]
		var p tenure.Person
		if isKnown {
			p = clonePerson(k.Person)
		}
		p.ID = w.Person.ID
		for _, f := range w.fields {
			setField(&p, f, getField(w.Person, f))
		}
		ev := tenure.Event{Employee: p}
		if w.LastUpdated != nil {
			at := *w.LastUpdated
			ev.EffectiveAt = &at
		}
		id := "workday-" + p.ID + "-"
		switch {
		case w.Terminated():
			if !isKnown || k.Status == tenure.PersonTerminated {
				continue
			}
			ev.Type = tenure.EventTerminate
			if w.TerminationDate != "" {
				ev.ID = id + "terminate-" + w.TerminationDate
				ev.EffectiveAt = dayAfter(w.TerminationDate)
			} else {
				ev.ID = id + "terminate-inactive-" + shortHash(p.StartDate, k.CreatedAt)
			}
		case !isKnown:
			ev.Type = tenure.EventHire
			ev.ID = id + "hire-" + shortHash(p)
		case k.Status == tenure.PersonTerminated:
			ev.Type = tenure.EventRehire
			ev.ID = id + "rehire-" + shortHash(p, k.Person)
		case !samePerson(p, k.Person):
			ev.Type = tenure.EventUpdate
			// The pair (what Tenure has, what Workday says), and Workday's own
			// change time where the report has one, so a later change back and
			// forth is a new event.
			ev.ID = id + "update-" + shortHash(k.Person, p, w.LastUpdated)
		default:
			continue
		}
		out = append(out, ev)
	}
	return out
}

// samePerson compares two records field by field, attributes included.
func samePerson(a, b tenure.Person) bool {
	if len(a.Attributes) == 0 && len(b.Attributes) == 0 {
		a.Attributes, b.Attributes = nil, nil
	}
	return shortHash(a) == shortHash(b)
}

// maxReport bounds the report a sync reads into memory.
const maxReport = 64 << 20

// WorkdayClient fetches a RaaS report over HTTPS with basic auth (an integration
// system user). The password is only ever put in the Authorization header.
type WorkdayClient struct {
	url      string
	username string
	password string
	http     *http.Client
}

// NewWorkdayClient returns a client for the report at reportURL. caFile, when
// set, names PEM certificates to trust besides the system's (a private CA or a
// test server); TLS verification is never turned off.
func NewWorkdayClient(reportURL, username, password, caFile string) (*WorkdayClient, error) {
	u, err := url.Parse(reportURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, tenure.Invalid(tenure.FieldError{Field: "TENURE_WORKDAY_URL", Problem: "must be an https:// URL of a RaaS report"})
	}
	if u.User != nil {
		return nil, tenure.Invalid(tenure.FieldError{Field: "TENURE_WORKDAY_URL", Problem: "must not carry credentials; set TENURE_WORKDAY_USERNAME and TENURE_WORKDAY_PASSWORD"})
	}
	if username == "" || password == "" {
		return nil, tenure.Invalid(tenure.FieldError{Field: "TENURE_WORKDAY_USERNAME", Problem: "and TENURE_WORKDAY_PASSWORD are required with TENURE_WORKDAY_URL"})
	}
	q := u.Query()
	if q.Get("format") == "" {
		q.Set("format", "json")
		u.RawQuery = q.Encode()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("TENURE_WORKDAY_CA_FILE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, tenure.Invalid(tenure.FieldError{Field: "TENURE_WORKDAY_CA_FILE", Problem: "holds no PEM certificate"})
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &WorkdayClient{url: u.String(), username: username, password: password,
		http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}, nil
}

// URL is the report's URL, as fetched.
func (c *WorkdayClient) URL() string { return c.url }

// ErrWorkdayAuth is returned when Workday refuses the credentials: retrying will
// not help until someone fixes them.
var ErrWorkdayAuth = errors.New("workday refused the credentials")

// Fetch downloads the report.
func (c *WorkdayClient) Fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.username, c.password)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the Workday report: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReport+1))
	if err != nil {
		return nil, fmt.Errorf("reading the Workday report: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w (%s) for user %s", ErrWorkdayAuth, resp.Status, c.username)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetching the Workday report: %s", resp.Status)
	case len(body) > maxReport:
		return nil, fmt.Errorf("the Workday report is larger than %d bytes", maxReport)
	}
	return body, nil
}
