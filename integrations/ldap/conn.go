package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/tenure-io/tenure/integrations"
)

// with runs fn on a bound connection and maps what fails to an
// *integrations.Error. A pooled connection may have been closed by the server
// while idle; when fn fails on one for that reason, with tries once more on a
// fresh connection. That repeat is safe because every write here is idempotent
// or its repeat is recognised (entryAlreadyExists on create, attributeOrValueExists
// on a group add, noSuchObject on delete).
func (c *Client) with(ctx context.Context, op string, fn func(*goldap.Conn) error) error {
	for attempt := 0; ; attempt++ {
		conn, pooled, err := c.get(ctx)
		if err != nil {
			return c.fail(ctx, op, err)
		}
		err = c.run(ctx, conn, fn)
		if err != nil && broken(conn, err) {
			conn.Close()
			if pooled && attempt == 0 && ctx.Err() == nil {
				continue
			}
			return c.fail(ctx, op, err)
		}
		c.put(conn)
		if err != nil {
			return c.fail(ctx, op, err)
		}
		return nil
	}
}

// hold runs fn on one connection without the retry of with: List has already
// handed entries to its caller when a later page fails, and starting again would
// hand them over twice.
func (c *Client) hold(ctx context.Context, op string, fn func(*goldap.Conn) error) error {
	conn, _, err := c.get(ctx)
	if err != nil {
		return c.fail(ctx, op, err)
	}
	err = c.run(ctx, conn, fn)
	if err != nil && broken(conn, err) {
		conn.Close()
		return c.fail(ctx, op, err)
	}
	c.put(conn)
	if err != nil {
		return c.fail(ctx, op, err)
	}
	return nil
}

// run bounds fn by the context: go-ldap's operations take no context, so the
// connection gets the time left as its request timeout and is closed if the
// context ends first, which fails the operation in flight.
func (c *Client) run(ctx context.Context, conn *goldap.Conn, fn func(*goldap.Conn) error) error {
	d := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	if d <= 0 || ctx.Err() != nil {
		return context.DeadlineExceeded
	}
	conn.SetTimeout(d)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err := fn(conn)
	if !stop() {
		return ctx.Err()
	}
	return err
}

// broken reports whether conn is no longer usable after err.
func broken(conn *goldap.Conn, err error) bool {
	return conn.IsClosing() || goldap.IsErrorWithCode(err, goldap.ErrorNetwork) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// get returns an idle bound connection, or dials and binds a new one.
func (c *Client) get(ctx context.Context) (conn *goldap.Conn, pooled bool, err error) {
	for {
		select {
		case conn := <-c.idle:
			if conn.IsClosing() {
				continue
			}
			return conn, true, nil
		default:
			conn, err := c.dial(ctx)
			return conn, false, err
		}
	}
}

// put keeps conn for the next call, or closes it when the pool is full.
func (c *Client) put(conn *goldap.Conn) {
	if conn.IsClosing() {
		return
	}
	select {
	case c.idle <- conn:
	default:
		conn.Close()
	}
}

// Close closes the idle connections. Calls after Close dial afresh.
func (c *Client) Close() error {
	for {
		select {
		case conn := <-c.idle:
			conn.Close()
		default:
			return nil
		}
	}
}

// bindError marks a failure to bind, so its message names the bind DN.
type bindError struct{ err error }

func (e *bindError) Error() string { return e.err.Error() }
func (e *bindError) Unwrap() error { return e.err }

// dialError marks a failure to connect or to start TLS.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dial connects (over TLS for ldaps://, upgrading with StartTLS when asked) and
// binds as bind_dn.
func (c *Client) dial(ctx context.Context) (*goldap.Conn, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	conn, err := goldap.DialURL(c.url, goldap.DialWithDialer(d), goldap.DialWithTLSConfig(c.tls.Clone()))
	if err != nil {
		return nil, &dialError{err}
	}
	err = c.run(ctx, conn, func(conn *goldap.Conn) error {
		if c.startTLS {
			if err := conn.StartTLS(c.tls.Clone()); err != nil {
				return &dialError{err}
			}
		}
		if err := conn.Bind(c.bindDN, c.password); err != nil {
			return &bindError{err}
		}
		return nil
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// fail maps err to an *integrations.Error whose Detail carries the directory's
// own words (result code name and diagnostic message), never the password.
func (c *Client) fail(ctx context.Context, op string, err error) error {
	var ie *integrations.Error
	if errors.As(err, &ie) {
		return ie
	}
	e := &integrations.Error{Kind: integrations.Transient, App: c.app, Op: op, Detail: err.Error()}
	var le *goldap.Error
	if errors.As(err, &le) {
		e.Kind = kindOfCode(le.ResultCode)
		e.Detail = describe(le)
	}
	var record tls.RecordHeaderError
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		e.Kind = integrations.Transient
		e.Detail = "no answer from " + c.url + " in time: " + e.Detail
	case untrusted(err):
		e.Kind = integrations.Permanent
		e.Detail = "the server's TLS certificate is not trusted (" + e.Detail + "); give its CA as ca_file"
	case errors.As(err, &record):
		e.Kind = integrations.Permanent
		e.Detail = "the server does not speak TLS on that port (" + e.Detail + "); use ldap:// with start_tls, or the LDAPS port"
	}
	var be *bindError
	var de *dialError
	switch {
	case errors.As(err, &be):
		e.Detail = "bind as " + c.bindDN + ": " + e.Detail
	case errors.As(err, &de):
		e.Detail = "connect to " + c.url + ": " + e.Detail
	}
	e.Detail = c.redact(e.Detail)
	return e
}

// redact removes the password from text, in case a server or library echoes it.
func (c *Client) redact(text string) string {
	if len(c.password) < 3 {
		return text
	}
	return strings.ReplaceAll(text, c.password, "[redacted]")
}

// untrusted reports whether err is a failed check of the server's certificate,
// which retrying will not fix.
func untrusted(err error) bool {
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// describe renders an LDAP error as the server's words: the result code's name
// and number and the diagnostic message, or the network failure.
func describe(le *goldap.Error) string {
	msg := ""
	if le.Err != nil {
		msg = strings.TrimSpace(le.Err.Error())
	}
	if le.ResultCode >= goldap.ErrorNetwork {
		// go-ldap's own codes: the message is the client-side failure.
		return msg
	}
	s := fmt.Sprintf("%s (LDAP result %d)", goldap.LDAPResultCodeMap[le.ResultCode], le.ResultCode)
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// kindOfCode classifies an LDAP result code (RFC 4511 section 4.1.9, and the
// client-side codes of RFC 3494 and go-ldap) by what should happen next.
func kindOfCode(code uint16) integrations.Kind {
	switch code {
	case goldap.LDAPResultNoSuchObject:
		return integrations.NotFound
	case goldap.LDAPResultEntryAlreadyExists:
		return integrations.Conflict
	case goldap.LDAPResultOperationsError, // a server-side fault, such as a full database
		goldap.LDAPResultTimeLimitExceeded,
		goldap.LDAPResultBusy,
		goldap.LDAPResultUnavailable,
		goldap.LDAPResultServerDown,
		goldap.LDAPResultTimeout,
		goldap.LDAPResultConnectError,
		goldap.ErrorNetwork:
		return integrations.Transient
	}
	// invalidCredentials, insufficientAccessRights, constraintViolation,
	// objectClassViolation, unwillingToPerform, invalid syntax and the rest need
	// a person to change the directory, the account or the policy.
	return integrations.Permanent
}
