package devserver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/schema/sqlite"
	"google.golang.org/protobuf/types/known/durationpb"
)

// retention is how long closed workflows stay visible: a week of dev history is
// enough to look back at, and keeps the file small.
const retention = 7 * 24 * time.Hour

// generation makes each Start's SQLite DSN unique. The SQLite plugin shares one
// connection per DSN for the life of the process and never closes it; releaseDB
// closes it for real, so a later Start must not be handed that closed connection.
var generation atomic.Int64

// sqliteConfig is the persistence config of the file at path, shared by the
// default store and visibility.
func sqliteConfig(path string) *config.SQL {
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: path,
		ConnectAttributes: map[string]string{
			"mode": "rwc",
			// Another process opening the file (a second `tenure dev` by mistake, a
			// sqlite3 shell) waits for the lock instead of failing the server's write.
			// The odd milliseconds only make the DSN unique; see generation.
			"busy_timeout": strconv.FormatInt(5000+generation.Add(1), 10),
			// A write-ahead log, synced at checkpoints rather than at every commit:
			// with the rollback journal and a full sync, each of the server's
			// commits waits for several fsyncs, and bulk work queues on them. A
			// killed process loses nothing this way (the log is in the file
			// system); a power cut can lose the last commits, which a dev server
			// may.
			"journal_mode": "wal",
			"synchronous":  "normal",
		},
	}
}

// prepareDB creates the schema in a new file (an existing one is opened as it is,
// so its workflows survive) and registers the namespace if it is missing. Both
// must happen before the server starts: it reads its namespaces at start-up.
func prepareDB(cfg *config.SQL, namespace string) error {
	_, err := os.Stat(cfg.DatabaseName)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := sqlite.SetupSchema(cfg); err != nil {
			// A half-made schema would fail every later Start; start over next time.
			releaseDB(cfg)
			_ = os.Remove(cfg.DatabaseName)
			return fmt.Errorf("devserver: create schema in %s: %w", cfg.DatabaseName, err)
		}
	case err != nil:
		return fmt.Errorf("devserver: open %s: %w", cfg.DatabaseName, err)
	}

	ns, err := sqlite.NewNamespaceConfig(clusterName, namespace, false, nil)
	if err != nil {
		return fmt.Errorf("devserver: namespace %q: %w", namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(retention)
	if err := sqlite.CreateNamespaces(cfg, ns); err != nil {
		return fmt.Errorf("devserver: register namespace %q: %w", namespace, err)
	}
	return nil
}

// releaseDB closes the connection the SQLite plugin keeps for cfg's DSN. The
// plugin's pool only counts references down and leaves the file open (so the
// server can reopen stores cheaply); without this, every Stop would leak an open
// file, and a stopped server would still hold its data dir. The pool hands out
// its shared handle to anyone asking with the same DSN, so ask, and close the
// *sqlx.DB inside. Its field is unexported: reflection is the only way in, and
// the pinned server version is what this was written against.
func releaseDB(cfg *config.SQL) {
	if cfg == nil {
		return
	}
	db, err := sql.NewSQLDB(sqlplugin.DbKindUnknown, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return
	}
	v := reflect.ValueOf(db)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return
	}
	f := v.Elem().FieldByName("db")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() || !f.CanAddr() {
		return
	}
	conn, ok := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(io.Closer)
	if !ok {
		return
	}
	_ = conn.Close()
}
