package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenure-io/tenure/integrations"
)

// code returns err's SQLSTATE, or "" when err is nil or not from the server.
func code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// fail is the one place that decides what a failed statement means, by its
// SQLSTATE class: the connection or the server's resources failing is
// Transient; authentication, privileges and everything else a person must fix
// is Permanent, with the server's own message.
func (c *Conn) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller gave up (an activity was cancelled or timed out): say so
		// plainly rather than dressing it up as the server's fault.
		return fmt.Errorf("%s: %s: %w", c.app, op, err)
	}
	e := &integrations.Error{App: c.app, Op: op}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		e.Kind = Classify(pgErr.Code)
		e.Detail = c.redact(serverMessage(pgErr))
		return e
	}
	// No SQLSTATE: the connection could not be made or broke (refused, reset,
	// timed out, TLS, DNS). All of those may pass.
	e.Kind = integrations.Transient
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || pgconn.Timeout(err) {
		e.Detail = "timed out: " + c.redact(err.Error())
	} else {
		e.Detail = "connection failed: " + c.redact(err.Error())
	}
	return e
}

// Classify maps a SQLSTATE to the integrations.Error kind that decides whether
// Tenure retries.
func Classify(sqlstate string) integrations.Kind {
	switch sqlstate {
	case "42704": // undefined_object
		return integrations.NotFound
	case "42710": // duplicate_object
		return integrations.Conflict
	case "57P01", "57P02", "57P03", "57014": // admin/crash shutdown, cannot connect now, query canceled
		return integrations.Transient
	}
	switch class := sqlstate[:min(2, len(sqlstate))]; class {
	case "08", // connection exception
		"53", // insufficient resources (too many connections, out of memory, disk full)
		"40", // transaction rollback (serialization failure, deadlock)
		"58": // system error (I/O)
		return integrations.Transient
	}
	// 28 (invalid authorization), 42501 (insufficient privilege), 2BP01
	// (dependent objects) and every other class: a person must act.
	return integrations.Permanent
}

func serverMessage(e *pgconn.PgError) string {
	msg := e.Message
	if e.Detail != "" {
		msg += ": " + strings.Join(strings.Fields(e.Detail), " ")
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg + " (SQLSTATE " + e.Code + ")"
}

// redact removes the DSN's password from text that came from the driver or
// the server.
func (c *Conn) redact(s string) string { return redact(s, c.password) }

func redact(s, password string) string {
	if password == "" {
		return s
	}
	return strings.ReplaceAll(s, password, "[redacted]")
}
