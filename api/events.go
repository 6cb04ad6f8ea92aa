package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// HeaderIdempotencyKey names a request's idempotency key when the body has no id.
const HeaderIdempotencyKey = "Idempotency-Key"

// postEvent records an HR event and hands it to the person's workflow, once.
func (s *server) postEvent(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	ev, err := decodeEvent(body, c.Request().Header.Get(HeaderIdempotencyKey))
	if err != nil {
		return err
	}
	acc, err := s.intake.Accept(c.Request().Context(), ev)
	if err != nil {
		return s.unavailable(c, "accepting the event", err)
	}
	return respond(c, http.StatusAccepted, acc)
}
