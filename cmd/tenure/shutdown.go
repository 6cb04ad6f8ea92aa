package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// defaultShutdownTimeout is how long a long-running command takes at most to
// stop: under Kubernetes' default grace period of 30 s, after which the kubelet
// kills the process.
const defaultShutdownTimeout = 25 * time.Second

// defaultShutdownDelay is how long `tenure api` keeps serving after /readyz
// turns 503: long enough for a load balancer probing every few seconds, or an
// endpoints controller, to stop sending it requests.
const defaultShutdownDelay = 5 * time.Second

// shutdownConfig says how a long-running command (api, worker, dev) stops on
// SIGTERM or Ctrl+C: it stops taking new work at once, lets the work in flight
// finish, and exits within timeout of the signal, whatever hangs.
type shutdownConfig struct {
	// timeout bounds the whole stop, from the signal to the exit.
	timeout time.Duration
	// delay is how long the HTTP server keeps serving after /readyz turns 503,
	// before it closes its listener; the worker serves no HTTP and has none.
	delay time.Duration
	// envErr is a malformed TENURE_SHUTDOWN_* variable, reported by check.
	envErr error
}

// shutdownFlags adds --shutdown-timeout and, for a command that serves HTTP,
// --shutdown-delay (defaulting to defaultDelay), each with its environment
// variable; a flag wins over its variable.
func shutdownFlags(fs *flag.FlagSet, getenv func(string) string, cfg *shutdownConfig, serves bool, defaultDelay time.Duration) {
	cfg.timeout = defaultShutdownTimeout
	cfg.envErr = envDuration(getenv, "TENURE_SHUTDOWN_TIMEOUT", &cfg.timeout)
	fs.Func("shutdown-timeout", fmt.Sprintf("the most a stop on SIGTERM or Ctrl+C takes, from the signal to the exit (default %s);\n"+
		"keep it under the orchestrator's grace period; env TENURE_SHUTDOWN_TIMEOUT", cfg.timeout), durationFlag(&cfg.timeout))
	if !serves {
		return
	}
	cfg.delay = defaultDelay
	cfg.envErr = errors.Join(cfg.envErr, envDuration(getenv, "TENURE_SHUTDOWN_DELAY", &cfg.delay))
	fs.Func("shutdown-delay", fmt.Sprintf("how long the server keeps serving after GET /readyz turns 503 on SIGTERM, so that a\n"+
		"load balancer stops sending requests before the listener closes (default %s); env TENURE_SHUTDOWN_DELAY", cfg.delay), durationFlag(&cfg.delay))
}

// envDuration sets d from the variable name when it is set.
func envDuration(getenv func(string) string, name string, d *time.Duration) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	if err := durationFlag(d)(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// durationFlag parses a flag's value into d.
func durationFlag(d *time.Duration) func(string) error {
	return func(s string) error {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 25s, got %q", s)
		}
		*d = v
		return nil
	}
}

// check refuses a bound that leaves no time to stop.
func (c shutdownConfig) check() error {
	switch {
	case c.envErr != nil:
		return c.envErr
	case c.timeout < time.Second:
		return fmt.Errorf("--shutdown-timeout (TENURE_SHUTDOWN_TIMEOUT) must be at least 1s, got %s", c.timeout)
	case c.delay < 0 || c.delay >= c.budget():
		return fmt.Errorf("--shutdown-delay (TENURE_SHUTDOWN_DELAY) must be at least 0 and under %s, four fifths of --shutdown-timeout %s, got %s",
			c.budget(), c.timeout, c.delay)
	}
	return nil
}

// budget is the time the work in flight gets to finish: requests, including
// the delay, and activities. The last fifth of the timeout is left for closing
// connections to Temporal and the database.
func (c shutdownConfig) budget() time.Duration {
	if c.timeout <= 0 {
		return defaultStopTimeout
	}
	return c.timeout - c.timeout/5
}

// bound is the whole stop's bound.
func (c shutdownConfig) bound() time.Duration {
	if c.timeout <= 0 {
		return defaultShutdownTimeout
	}
	return c.timeout
}

// run runs a long-running command's body and returns what it returns. Once ctx
// ends it waits at most the bound for the body to stop, then returns an error
// without it, so that the process exits in time even when a part hangs.
func (c shutdownConfig) run(ctx context.Context, body func() error) error {
	done := make(chan error, 1)
	go func() { done <- body() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(c.bound())
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("did not stop within %s (--shutdown-timeout): exiting with work unfinished", c.bound())
	}
}

// serveHTTP serves srv on ln until ctx ends, then stops as a load balancer
// needs. GET /readyz has answered 503 since ctx ended (api.Config.Draining).
// The server keeps serving for the delay, so that the balancer notices, with
// keep-alives off, so that its clients reconnect elsewhere; then it closes the
// listener and lets the requests in flight finish within the budget, and cuts
// off any left.
func serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener, sd shutdownConfig) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	deadline := time.Now().Add(sd.budget())
	srv.SetKeepAlivesEnabled(false)
	time.Sleep(sd.delay)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("requests still in flight %s after the signal were cut off", sd.budget())
	}
	return nil
}

// stopTogether runs every stop function at once and waits for them all, so
// that parts that each wait for their work in flight share one bound instead
// of adding theirs up.
func stopTogether(stops ...func()) {
	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Go(stop)
	}
	wg.Wait()
}
