package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// maxBody is the largest request body the API reads.
const maxBody = 1 << 20

// readBody reads the request body, which limitBody has capped at maxBody bytes,
// refusing one that says it is not JSON.
func readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return nil, tenure.Invalid(tenure.FieldError{Field: "Content-Type", Problem: "must be application/json"})
		}
	}
	// limitBody has capped the body; reading it here finds out whether it was cut.
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errTooLarge
	case err != nil:
		return nil, tenure.Errorf(tenure.EINVALID, "the request body could not be read")
	}
	return body, nil
}

// decodeBody decodes the request's JSON object into fields; an empty body is allowed
// when optional is set.
func decodeBody(c echo.Context, fields map[string]any, optional bool, p *intake.Problems) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if !intake.DecodeObject(body, "", fields, p) && !optional {
		p.Add("body", "is empty; send a JSON object")
	}
	return nil
}

// queryInt reads an optional integer query parameter within [lo, hi].
func queryInt(c echo.Context, name string, def, lo, hi int, p *intake.Problems) int {
	s := c.QueryParam(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.Addf(name, "must be a whole number from %d to %d", lo, hi)
		return def
	}
	return n
}

// queryTime reads an optional RFC 3339 time query parameter.
func queryTime(c echo.Context, name string, p *intake.Problems) time.Time {
	s := c.QueryParam(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		p.Add(name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		return time.Time{}
	}
	return t
}

// respond writes v as the JSON response: the one place responses are encoded.
func respond(c echo.Context, status int, v any) error {
	return c.JSON(status, v)
}
