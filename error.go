package tenure

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Application error codes. HTTPStatus maps them to HTTP statuses for the API and
// the console alike; activities map them to retryable or non-retryable Temporal
// errors.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
	// ETOOMANY refuses a caller who failed to authenticate too often; the
	// error's RetryAfter says when to try again.
	ETOOMANY = "too_many_requests"
)

// FieldError names one field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// Error is an error a user may see: a code, a message and, for invalid input,
// the fields at fault. Anything else is an internal error and is only logged.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	// Cause is what went wrong underneath, for the log only: users see Message.
	// It can name internal hosts and addresses, so it is never shown to them.
	Cause error
	// RetryAfter, for ETOOMANY, is how long the caller must wait.
	RetryAfter time.Duration
}

// Error is the whole story, for the log: the code, the message and the cause.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap is the cause, so that errors.Is still finds a context's cancellation.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error that lists the fields at fault.
func Invalid(fields ...FieldError) *Error {
	msg := "the request is invalid"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Problem
	} else if len(fields) > 1 {
		msg = fmt.Sprintf("%d fields are invalid", len(fields))
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// Unavailable reports that what (a dependency such as "the store" or
// "Temporal") failed with err. An error that carries a code of its own (a
// not-found, a conflict) keeps it; anything else becomes EUNAVAILABLE, so the
// caller knows to retry, with a clean message and err kept as the Cause for
// whoever logs it (the API's and the console's error writers do). It is nil
// for a nil err.
func Unavailable(what string, err error) error {
	if err == nil {
		return nil
	}
	if ErrorCode(err) != EINTERNAL {
		return err
	}
	return &Error{Code: EUNAVAILABLE, Message: what + " is unavailable; retry the request", Cause: err}
}

// ErrorCode returns the code of err, EINTERNAL when it carries none, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err; internals stay hidden.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	}
	return "internal error"
}

// HTTPStatus maps an application error code to its HTTP status. It is the only
// place that does so: the API and the console answer the same error the same way.
func HTTPStatus(code string) int {
	switch code {
	case EINVALID:
		return http.StatusBadRequest
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	case ENOTFOUND:
		return http.StatusNotFound
	case ECONFLICT:
		return http.StatusConflict
	case EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case ETOOMANY:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}
