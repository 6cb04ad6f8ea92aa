package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/importer"
)

// importBatch is how many events `tenure import` sends per request: half the
// API's limit, so one request stays well under its body limit and a progress
// step is short.
const importBatch = 500

// importRetries is how many times a batch the API could not take (a network
// error, a 5xx or a 429) is sent again, and how many more passes retry the
// events that failed on their own. Every event keeps its ID, so nothing runs twice.
const importRetries = 4

// importConfig is what `tenure import` is told.
type importConfig struct {
	file        string
	dryRun      bool
	skipInvalid bool
	apiTarget
	batch int
}

func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("import", "Imports HR events from a CSV file (docs/import.md): tenure import FILE.csv [flags].\n"+
		"Every row is validated first; while any is invalid nothing is sent, unless --skip-invalid.\n"+
		"Rows go to the API's POST /api/v1/events:batch; a row without an id gets one made of the\n"+
		"file's name and line, so importing the same file again runs nothing twice.", stderr)
	var cfg importConfig
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "send nothing; print the plan: hires, changes and terminations, and the access each grants or revokes")
	fs.BoolVar(&cfg.skipInvalid, "skip-invalid", false, "import the valid rows even when some are invalid")
	apiTargetFlags(fs, getenv, &cfg.apiTarget, "admin or hr")
	fs.IntVar(&cfg.batch, "batch", importBatch, "events per request (1 to 1000)")
	// The file may come before or after the flags: tenure import people.csv --dry-run.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(files) != 1:
		fs.Usage()
		return fmt.Errorf("import takes one CSV file, got %d: %w", len(files), errUsage)
	case cfg.batch < 1 || cfg.batch > 1000:
		return fmt.Errorf("--batch must be from 1 to 1000: %w", errUsage)
	}
	cfg.file = files[0]
	if err := cfg.resolve(); err != nil {
		return err
	}
	return importFile(ctx, cfg, stdout, stderr)
}

// importClient talks to the API for one import.
type importClient struct {
	cfg importConfig
	api *apiClient
}

func importFile(ctx context.Context, cfg importConfig, stdout, stderr io.Writer) error {
	data, err := os.ReadFile(cfg.file)
	if err != nil {
		return err
	}
	name := filepath.Base(cfg.file)
	if importer.LooksBinary(data) {
		return fmt.Errorf("%s is not a CSV file; export the spreadsheet as CSV (UTF-8)", name)
	}
	c := &importClient{cfg: cfg, api: &apiClient{target: cfg.apiTarget, http: &http.Client{Timeout: 5 * time.Minute}}}
	if cfg.dryRun {
		return c.dryRun(ctx, name, data, stdout)
	}
	file, err := importer.Parse(bytes.NewReader(data), name)
	if err != nil {
		return describeError(name, err)
	}
	for _, p := range file.Problems {
		fmt.Fprintf(stderr, "%s: %s\n", name, p)
	}
	if len(file.Problems) > 0 && !cfg.skipInvalid {
		return fmt.Errorf("%s: %d of %d rows are invalid; nothing was imported (fix them, or pass --skip-invalid to import the %d valid rows)",
			name, file.InvalidRows, file.Total, len(file.Rows))
	}
	return c.send(ctx, file, stdout, stderr)
}

// describeError spells out a file-level problem with every field it names.
func describeError(name string, err error) error {
	var te *tenure.Error
	if !errors.As(err, &te) || len(te.Fields) == 0 {
		return fmt.Errorf("%s: %w", name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", name, te.Message)
	for _, f := range te.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Problem)
	}
	return errors.New(b.String())
}

// wireEvent is an event as POST /api/v1/events:batch takes it.
type wireEvent struct {
	ID          string           `json:"id"`
	Type        tenure.EventType `json:"type"`
	EffectiveAt string           `json:"effective_at,omitempty"`
	Employee    tenure.Person    `json:"employee"`
}

// batchAnswer is the API's answer to a batch.
type batchAnswer struct {
	Results []struct {
		Index   int    `json:"index"`
		EventID string `json:"event_id"`
		Status  string `json:"status"`
		HoldID  string `json:"hold_id"`
		Error   *struct {
			Code    string              `json:"code"`
			Message string              `json:"message"`
			Fields  []tenure.FieldError `json:"fields"`
		} `json:"error"`
	} `json:"results"`
}

// importTally counts what became of the rows.
type importTally struct {
	accepted, duplicates, invalid, failed, held int
	// holds are the blast-radius guard's holds that keep rows, in order.
	holds []string
}

// send hands the valid rows to the API in batches, in file order, so that one
// person's rows arrive in the order written. Events that fail on their own are
// sent again at the end, up to importRetries more times.
func (c *importClient) send(ctx context.Context, file *importer.File, stdout, stderr io.Writer) error {
	start := time.Now()
	bar := newProgress(stderr, len(file.Rows))
	tally := importTally{invalid: file.InvalidRows}
	pending := file.Rows
	lastErr := map[int]string{} // line -> why it failed, for the rows still failing
	for pass := 0; len(pending) > 0 && pass <= importRetries; pass++ {
		if pass > 0 {
			if err := sleep(ctx, time.Duration(pass)*time.Second); err != nil {
				return err
			}
		}
		var retry []importer.Row
		for i := 0; i < len(pending); i += c.cfg.batch {
			rows := pending[i:min(i+c.cfg.batch, len(pending))]
			ans, err := c.postBatch(ctx, rows)
			if err != nil {
				bar.done()
				sent := tally.accepted + tally.duplicates + tally.held
				return fmt.Errorf("%s: %w\n%d rows were taken before this; run the same command again to send the rest (rows already taken are not run twice)", file.Name, err, sent)
			}
			for _, r := range ans.Results {
				row := rows[r.Index]
				switch r.Status {
				case importer.StatusAccepted:
					tally.accepted++
				case importer.StatusDuplicate:
					tally.duplicates++
				case importer.StatusHeld:
					// Taken, and kept by the guard until an admin decides.
					tally.held++
					if r.HoldID != "" && !slices.Contains(tally.holds, r.HoldID) {
						tally.holds = append(tally.holds, r.HoldID)
					}
				case importer.StatusError:
					// Temporal or the store was unavailable for this one: try it again.
					retry = append(retry, row)
					lastErr[row.Line] = r.Error.Message
					continue
				default:
					tally.failed++
					msg := r.Status
					if r.Error != nil {
						msg = r.Error.Message
						for _, f := range r.Error.Fields {
							msg += "; " + f.Field + ": " + f.Problem
						}
					}
					bar.println(fmt.Sprintf("%s: line %d: %s: %s", file.Name, row.Line, r.Status, msg))
				}
				delete(lastErr, row.Line)
				bar.add(1)
			}
		}
		pending = retry
	}
	for _, row := range pending {
		tally.failed++
		bar.println(fmt.Sprintf("%s: line %d: error: %s", file.Name, row.Line, lastErr[row.Line]))
		bar.add(1)
	}
	bar.done()
	elapsed := time.Since(start)
	taken := tally.accepted + tally.duplicates + tally.held
	rate := 0.0
	if elapsed > 0 {
		rate = float64(taken) / elapsed.Seconds()
	}
	skipped := ""
	if tally.invalid > 0 {
		skipped = " (skipped)"
	}
	fmt.Fprintf(stdout, "Imported %s: %d rows\n", file.Name, file.Total)
	fmt.Fprintf(stdout, "  accepted    %d\n  duplicates  %d\n  invalid     %d%s\n  failed      %d\n", tally.accepted, tally.duplicates, tally.invalid, skipped, tally.failed)
	if tally.held > 0 {
		fmt.Fprintf(stdout, "  held        %d, by the blast-radius guard in %s: taken, but nothing runs for them until an admin releases (or discards) the hold\n",
			tally.held, strings.Join(tally.holds, ", "))
	}
	fmt.Fprintf(stdout, "  elapsed     %s (%.0f events per second)\n", elapsed.Round(time.Millisecond), rate)
	if tally.failed > 0 {
		return fmt.Errorf("%d rows failed; fix them and run the same command again (rows already taken are not run twice)", tally.failed)
	}
	return nil
}

// postBatch sends one batch, again after a network error, a 5xx or a 429.
func (c *importClient) postBatch(ctx context.Context, rows []importer.Row) (batchAnswer, error) {
	events := make([]wireEvent, len(rows))
	for i, r := range rows {
		ev := r.Event
		events[i] = wireEvent{ID: ev.ID, Type: ev.Type, Employee: ev.Employee}
		if ev.EffectiveAt != nil {
			events[i].EffectiveAt = ev.EffectiveAt.UTC().Format(time.RFC3339Nano)
		}
	}
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		return batchAnswer{}, err
	}
	var lastErr error
	for attempt := range importRetries + 1 {
		if attempt > 0 {
			if err := sleep(ctx, time.Duration(1<<attempt)*250*time.Millisecond); err != nil {
				return batchAnswer{}, err
			}
		}
		var ans batchAnswer
		status, err := c.do(ctx, "/api/v1/events:batch", "application/json", body, &ans)
		switch {
		case err == nil && len(ans.Results) != len(rows):
			return batchAnswer{}, fmt.Errorf("the API answered %d results for %d events", len(ans.Results), len(rows))
		case err == nil:
			return ans, nil
		case status != 0 && status < 500 && status != http.StatusTooManyRequests:
			return batchAnswer{}, err
		}
		lastErr = err
	}
	return batchAnswer{}, lastErr
}

// do posts body and decodes the answer into out; any answer but a 2xx is an
// error carrying the API's message.
func (c *importClient) do(ctx context.Context, path, contentType string, body []byte, out any) (int, error) {
	return c.api.do(ctx, http.MethodPost, path, contentType, body, nil, out)
}

// planAnswer is the API's answer to a dry run.
type planAnswer struct {
	File     string             `json:"file"`
	Rows     int                `json:"rows"`
	Valid    int                `json:"valid"`
	Invalid  int                `json:"invalid"`
	Problems []importer.Problem `json:"problems"`
	Plan     importer.Plan      `json:"plan"`
	Guard    struct {
		Held   bool   `json:"held"`
		Reason string `json:"reason"`
	} `json:"guard"`
}

// dryRun asks the API for the plan, which needs the people Tenure knows and the
// policy, and prints it.
func (c *importClient) dryRun(ctx context.Context, name string, data []byte, stdout io.Writer) error {
	q := url.Values{"dry_run": {"true"}, "filename": {name}}
	var ans planAnswer
	if _, err := c.do(ctx, "/api/v1/imports?"+q.Encode(), "text/csv", data, &ans); err != nil {
		return describeError(name, err)
	}
	printPlan(stdout, ans)
	if ans.Invalid > 0 && !c.cfg.skipInvalid {
		return fmt.Errorf("%s: %d of %d rows are invalid; an import would apply nothing (fix them, or pass --skip-invalid)", name, ans.Invalid, ans.Rows)
	}
	return nil
}

func printPlan(w io.Writer, ans planAnswer) {
	fmt.Fprintf(w, "Plan for %s: %d rows, %d valid, %d invalid. Nothing has been applied.\n", ans.File, ans.Rows, ans.Valid, ans.Invalid)
	for _, g := range []struct {
		title string
		steps []importer.Step
	}{{"Hires", ans.Plan.Hires}, {"Changes", ans.Plan.Changes}, {"Terminations", ans.Plan.Terminations}} {
		fmt.Fprintf(w, "\n%s (%d)\n", g.title, len(g.steps))
		for _, s := range g.steps {
			who := s.EmployeeID
			if s.Name != "" {
				who += " " + s.Name
			}
			fmt.Fprintf(w, "  line %d  %s: %s\n", s.Line, who, s.Kind)
			if s.Note != "" {
				fmt.Fprintf(w, "      %s\n", s.Note)
			}
			if len(s.Grants) > 0 {
				fmt.Fprintf(w, "      + %s\n", describeGrants(s.Grants))
			}
			if len(s.Revokes) > 0 {
				fmt.Fprintf(w, "      - %s\n", describeGrants(s.Revokes))
			}
		}
	}
	if ans.Guard.Held {
		fmt.Fprintf(w, "\nThe blast-radius guard would hold part of this file now: %s\n", ans.Guard.Reason)
	}
	if len(ans.Problems) > 0 {
		fmt.Fprintf(w, "\nProblems (%d)\n", len(ans.Problems))
		for _, p := range ans.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
}

func describeGrants(gs []tenure.Grant) string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = importer.Describe(g)
	}
	return strings.Join(out, ", ")
}

// progress shows how far an import has got on stderr: one line redrawn in place
// on a terminal, and a plain line every tenth of the way otherwise, so that logs
// stay readable.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	n     int
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) add(n int) {
	p.n += n
	switch {
	case p.tty:
		p.draw()
	case p.total > 0 && (p.n == p.total || p.n*10/p.total != (p.n-n)*10/p.total):
		fmt.Fprintf(p.w, "import: %d/%d rows sent (%.0f%%)\n", p.n, p.total, 100*float64(p.n)/float64(p.total))
	}
}

func (p *progress) draw() {
	const width = 30
	filled := width
	if p.total > 0 {
		filled = width * p.n / p.total
	}
	rate := float64(p.n) / max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d rows  %.0f/s ", strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.n, p.total, rate)
}

// println prints a line above the bar.
func (p *progress) println(s string) {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, s)
	if p.tty {
		p.draw()
	}
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
		p.tty = false
	}
}
