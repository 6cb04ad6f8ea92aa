package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// HeaderIdempotencyKey names a request's idempotency key when the body has no id.
const HeaderIdempotencyKey = "Idempotency-Key"

// postEvent records an HR event and hands it to the person's workflow, once.
func (s *server) postEvent(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var p intake.Problems
	ev := intake.DecodeEvent(body, c.Request().Header.Get(HeaderIdempotencyKey), &p)
	if err := p.Err(); err != nil {
		return err
	}
	acc, err := s.intake.Accept(c.Request().Context(), ev)
	if err != nil {
		return tenure.Unavailable("accepting the event", err)
	}
	return respond(c, http.StatusAccepted, acc)
}
