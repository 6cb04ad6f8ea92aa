package api

import (
	"bytes"
	"encoding/json"
	"errors"

	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
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

// decodeObject decodes a JSON object member by member into fields (JSON name to a
// pointer), so that every unknown member and every member of the wrong type is
// reported, not only the first. path prefixes the names in problems ("employee.").
// It returns false when raw is absent or null.
func decodeObject(raw []byte, path string, fields map[string]any, p *intake.Problems) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return false
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(raw, syn.Offset)
			p.Addf(fieldName(path, "body"), "is not valid JSON: %s at line %d, column %d (byte %d)", syn.Error(), line, col, syn.Offset)
		} else {
			p.Add(fieldName(path, "body"), "must be a JSON object")
		}
		return true
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		target, ok := fields[name]
		if !ok {
			p.Add(path+name, "is not a known field")
			continue
		}
		if err := json.Unmarshal(members[name], target); err != nil {
			p.Add(path+name, "must be "+jsonKind(reflect.TypeOf(target).Elem()))
		}
	}
	return true
}

// decodeBody decodes the request's JSON object into fields; an empty body is allowed
// when optional is set.
func decodeBody(c echo.Context, fields map[string]any, optional bool, p *intake.Problems) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if !decodeObject(body, "", fields, p) && !optional {
		p.Add("body", "is empty; send a JSON object")
	}
	return nil
}

func fieldName(path, whole string) string {
	if path == "" {
		return whole
	}
	return strings.TrimSuffix(path, ".")
}

// position turns a byte offset into a 1-based line and column, for people who
// read their payload in an editor.
func position(b []byte, offset int64) (line, col int) {
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	before := b[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n') - 1
	return line, col
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
		return "a number"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
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
