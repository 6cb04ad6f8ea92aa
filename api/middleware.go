package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure/intake"
)

// HeaderRequestID carries a request's ID, echoed in the response and in the logs.
const HeaderRequestID = "X-Request-Id"

const requestIDKey = "tenure.request_id"

// callerRequestID is what the API accepts as a caller's own request ID; anything
// else is replaced, so logs cannot be forged through the header.
var callerRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// secureHeaders sets the headers that stop browsers from sniffing, framing or
// caching API responses. Mounted handlers are served as they are and set their own.
func secureHeaders(mounted map[string]bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if mounted[c.Path()] {
				return next(c)
			}
			h := c.Response().Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			h.Set("Cache-Control", "no-store")
			return next(c)
		}
	}
}

// recovered turns a panic in a handler into an internal error, so the caller gets
// the usual error body and the panic is logged with the request.
func recovered(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}()
		return next(c)
	}
}

// logRequests gives each request an ID and logs one line per request: method,
// route, path, status and duration, at info, or at debug for a probe that passed. It never logs headers (they carry the bearer
// token), query strings (they can carry names) or bodies (personal data).
func (s *server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(HeaderRequestID)
		if !callerRequestID.MatchString(id) {
			id = intake.NewID()
		}
		c.Set(requestIDKey, id)
		c.Response().Header().Set(HeaderRequestID, id)
		start := time.Now()
		err := recovered(next)(c)
		if err != nil {
			// Handle it here so the log line has the status the caller got.
			c.Error(err)
		}
		level := slog.LevelInfo
		if probes[c.Path()] && c.Response().Status < 400 {
			// An orchestrator probes every few seconds: a passing probe is noise.
			level = slog.LevelDebug
		}
		s.log.LogAttrs(c.Request().Context(), level, "request",
			slog.String("request_id", id),
			slog.String("method", c.Request().Method),
			slog.String("route", c.Path()),
			slog.String("path", c.Request().URL.Path),
			slog.Int("status", c.Response().Status),
			slog.Duration("duration", time.Since(start)),
			slog.String("principal", principal(c).Name),
		)
		return nil
	}
}

// probes are the routes that load balancers and orchestrators ask.
var probes = map[string]bool{"/healthz": true, "/livez": true, "/readyz": true}

// requestID is the ID logRequests gave the request.
func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// limitBody refuses request bodies over maxBody before a handler reads them.
func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > maxBody {
			return errTooLarge
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxBody)
		return next(c)
	}
}
