package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/authlimit"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Fields  []tenure.FieldError `json:"fields,omitempty"`
}

// codeOf names the application code for a status that Echo itself produced (an
// unknown route, a wrong method, a body over the limit), so those errors read like
// the API's own.
func codeOf(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return tenure.EINVALID
	case http.StatusUnauthorized:
		return tenure.EUNAUTHORIZED
	case http.StatusForbidden:
		return tenure.EFORBIDDEN
	case http.StatusNotFound:
		return tenure.ENOTFOUND
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return tenure.ECONFLICT
	case http.StatusServiceUnavailable:
		return tenure.EUNAVAILABLE
	}
	return tenure.EINTERNAL
}

// errTooLarge is returned when a request body goes over maxBody.
var errTooLarge = echo.NewHTTPError(http.StatusRequestEntityTooLarge,
	fmt.Sprintf("the request body is larger than %d bytes", maxBody))

// handleError is Echo's HTTPErrorHandler: every error, whether a handler's or the
// router's, leaves as the same JSON body. Internal errors are logged, never shown.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		status int
		body   errorBody
		he     *echo.HTTPError
		te     *tenure.Error
	)
	switch {
	case errors.As(err, &te) && te.Code != tenure.EINTERNAL:
		status = tenure.HTTPStatus(te.Code)
		body.Error = errorDetail{Code: te.Code, Message: te.Message, Fields: te.Fields}
		if te.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", authlimit.RetryAfterHeader(te))
		}
	case errors.As(err, &he) && he.Code < 500:
		status = he.Code
		msg, ok := he.Message.(string)
		if !ok || msg == "" {
			msg = http.StatusText(status)
		}
		body.Error = errorDetail{Code: codeOf(status), Message: msg}
	default:
		status = http.StatusInternalServerError
		body.Error = errorDetail{Code: tenure.EINTERNAL, Message: "internal error"}
	}
	if status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed",
			slog.String("method", c.Request().Method),
			slog.String("route", c.Path()),
			slog.String("request_id", requestID(c)),
			slog.Int("status", status),
			slog.String("error", err.Error()))
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="tenure"`)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.log.WarnContext(c.Request().Context(), "writing an error response", slog.String("error", err.Error()))
	}
}
