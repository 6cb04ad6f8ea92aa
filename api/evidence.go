package api

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/evidence"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/internal/csvsafe"
)

// getEvidence answers a leaver's signed evidence. Who may have it, and about
// whom, is the builder's to decide (evidence.Builder.Signed).
func (s *server) getEvidence(c echo.Context) error {
	env, err := s.evidence.Signed(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, env)
}

// accessReview lists who has what, from the verified state, as CSV or JSON. It
// streams: lines are written as the store pages through them, so a large
// organisation is never held in memory.
func (s *server) accessReview(c echo.Context) error {
	ctx := c.Request().Context()
	var p intake.Problems
	format := c.QueryParam("format")
	switch format {
	case "":
		format = "json"
	case "json", "csv":
	default:
		p.Add("format", "must be csv or json")
	}
	app := c.QueryParam("app")
	if app != "" {
		apps, err := s.store.ListApps(ctx)
		if err != nil {
			return tenure.Unavailable("the store", err)
		}
		if !slices.ContainsFunc(apps, func(a tenure.App) bool { return a.Name == app }) {
			p.Addf("app", "there is no app %q", app)
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	review := evidence.Review{Store: s.store}
	if s.policy != nil {
		pol, err := s.policy.ActivePolicy(ctx)
		switch {
		case err == nil:
			review.Rules = pol.Evaluate
		case tenure.ErrorCode(err) != tenure.ENOTFOUND:
			return err
		}
	}
	var w reviewWriter = &jsonReview{app: app, at: s.now().UTC()}
	if format == "csv" {
		w = &csvReview{at: s.now().UTC()}
	}
	res := c.Response()
	started := false
	err := review.Each(ctx, app, func(l evidence.ReviewLine) error {
		if !started {
			started = true
			w.start(res)
		}
		return w.line(l)
	})
	if err != nil && !started {
		// Nothing is out yet: answer with the error as any route does.
		return tenure.Unavailable("the store", err)
	}
	if !started {
		w.start(res)
	}
	if err != nil {
		// The lines so far are out; end the file saying it is not whole.
		s.log.ErrorContext(ctx, "the access review export was cut short", "error", err)
	}
	return w.end(err)
}

// reviewWriter writes the access review in one format: start sends the
// headers, line one line, end closes the file, saying whether it is whole.
type reviewWriter interface {
	start(res *echo.Response)
	line(l evidence.ReviewLine) error
	end(err error) error
}

type csvReview struct {
	at time.Time
	w  *csv.Writer
}

func (r *csvReview) start(res *echo.Response) {
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="tenure-access-review-`+r.at.Format("20060102-150405")+`.csv"`)
	res.WriteHeader(http.StatusOK)
	r.w = csv.NewWriter(res)
	r.w.Write(evidence.ReviewColumns)
}

// line writes one line; every cell goes through csvsafe, so a name or an
// entitlement that begins with =, +, - or @ cannot run as a spreadsheet formula.
func (r *csvReview) line(l evidence.ReviewLine) error {
	return r.w.Write(csvsafe.Row(l.Cells()))
}

func (r *csvReview) end(err error) error {
	if err != nil {
		r.w.Write([]string{"export interrupted: the store is unavailable"})
	}
	r.w.Flush()
	return r.w.Error()
}

// jsonReview writes {"generated_at", "app", "lines": [...], "complete"}:
// complete is false when the export was cut short.
type jsonReview struct {
	app string
	at  time.Time
	out io.Writer
	n   int
}

func (r *jsonReview) start(res *echo.Response) {
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.WriteHeader(http.StatusOK)
	r.out = res
	head, _ := json.Marshal(struct {
		GeneratedAt time.Time `json:"generated_at"`
		App         string    `json:"app"`
	}{r.at, r.app})
	// The head without its closing brace, then the lines.
	r.out.Write(head[:len(head)-1])
	io.WriteString(r.out, `,"lines":[`)
}

func (r *jsonReview) line(l evidence.ReviewLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if r.n > 0 {
		io.WriteString(r.out, ",\n")
	}
	r.n++
	_, err = r.out.Write(b)
	return err
}

func (r *jsonReview) end(err error) error {
	tail := `],"complete":true}` + "\n"
	if err != nil {
		tail = `],"complete":false,"error":"export interrupted: the store is unavailable"}` + "\n"
	}
	_, werr := io.WriteString(r.out, tail)
	return werr
}
