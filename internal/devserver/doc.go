// Package devserver runs a real Temporal server and the Temporal UI inside the
// current process, for `tenure dev` and for integration tests.
//
// The server keeps its state in one SQLite file (DataDir/temporal.db), used for
// both the default store and visibility, so workflows survive a restart; or, with
// Options.PostgresURL (`tenure temporal --db`), in PostgreSQL, set up with the
// server's own schema tool and its embedded schemas. It is
// the only package that imports go.temporal.io/server and the UI server: they
// are large and slow to build, and keeping them here keeps every other test
// binary small.
//
// Typical use:
//
//	srv, err := devserver.Start(ctx, devserver.Options{DataDir: ".tenure", Port: 7233, UIPort: 8233})
//	if err != nil { ... }
//	defer srv.Stop()
//	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace()})
package devserver
