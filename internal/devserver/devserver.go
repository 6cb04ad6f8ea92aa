package devserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/rpc/encryption"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"

	"github.com/tenure-io/tenure"
)

// Defaults applied to a zero Options.
const (
	DefaultHost      = "127.0.0.1"
	DefaultNamespace = "default"
)

// DBFile is the name of the SQLite file inside Options.DataDir.
const DBFile = "temporal.db"

// VisibilityFile is the SQLite file, beside DBFile, of the server's
// visibility: the workflow lists and their search attributes. A data dir
// made before it existed keeps its visibility in DBFile.
const VisibilityFile = "temporal-visibility.db"

// clusterName names the single cluster. It is stored in the SQLite file, so it must
// never change, or an existing data dir would no longer match.
const clusterName = "active"

// readyTimeout bounds how long Start waits for the frontend and the UI to answer
// when the caller's context has no deadline of its own.
const readyTimeout = 30 * time.Second

// Options configure an embedded server.
type Options struct {
	DataDir   string       // the SQLite file lives at DataDir/temporal.db; created if missing; unused with PostgresURL
	Host      string       // default "127.0.0.1"
	Port      int          // frontend gRPC port; 0 picks a free port
	UIPort    int          // Temporal UI HTTP port; 0 picks a free port; -1 disables the UI
	Namespace string       // default "default"; created if missing
	Logger    *slog.Logger // server logs go here at WARN and above; nil discards
	// CodecEndpoint, if set, is given to the UI as its codec endpoint, so IT can read
	// encrypted payloads in the browser.
	CodecEndpoint string

	// TLS, if set, makes the frontend serve gRPC over TLS with this server-side
	// configuration (its Certificates; ClientAuth and ClientCAs to require client
	// certificates, that is mutual TLS). The UI dials the frontend in plain text,
	// so TLS needs UIPort -1. The other services talk to each other in plain text
	// on loopback, as without TLS.
	TLS *tls.Config
	// ClientTLS is how the server's own clients dial a TLS frontend: its system
	// workers and Start's readiness check. It must trust TLS's certificate and,
	// when TLS requires client certificates, present one. Required with TLS.
	ClientTLS *tls.Config
	// Interceptors run on every frontend gRPC call, after the server's own, in
	// order: to check or observe what callers send, such as their credentials.
	Interceptors []grpc.UnaryServerInterceptor
	// PostgresURL, if set (postgres://user[:password]@host[:port]/name[?sslmode=...]),
	// keeps the server's state in PostgreSQL instead of SQLite: in the database
	// name and, for visibility, name_visibility. Both are created if missing, and
	// their schemas set up or updated on every start.
	PostgresURL string
}

// Server is a running embedded Temporal server and, unless disabled, its UI.
type Server struct {
	host      string // what clients dial: never an unspecified address
	port      int
	uiPort    int // 0 when the UI is disabled
	namespace string
	sqlCfgs   []*config.SQL // the SQLite files', released on Stop; none on PostgreSQL
	store     string        // where the state is, for people: a file, or a URL without its password

	temporal temporal.Server
	logger   *serverLogger
	ui       *uiServer

	stopOnce sync.Once
	stopErr  error
}

// Start starts the server (and UI unless disabled) and returns once a client can
// connect and the namespace is registered. A taken port is an ECONFLICT error naming
// the port, never a crash or os.Exit.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}

	// The ports the caller chose are checked first, before any state is touched: the
	// server would log Fatal and the UI would os.Exit on a port it cannot bind.
	if opts.Port != 0 {
		if err := probePort("temporal", opts.Host, opts.Port); err != nil {
			return nil, err
		}
	}
	if opts.UIPort > 0 {
		if err := probePort("temporal UI", opts.Host, opts.UIPort); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(opts.Host, 1+3+1) // frontend, history, matching, worker, UI
	if err != nil {
		return nil, err
	}
	frontendPort := opts.Port
	if frontendPort == 0 {
		frontendPort = ports[0]
	}
	uiPort := opts.UIPort
	if uiPort == 0 {
		uiPort = ports[4]
	}
	if uiPort < 0 {
		uiPort = 0
	}

	s := &Server{
		host:      dialHost(opts.Host),
		port:      frontendPort,
		uiPort:    uiPort,
		namespace: opts.Namespace,
		logger:    newServerLogger(opts.Logger),
	}
	logger := s.logger
	var persistence config.Persistence
	if opts.PostgresURL != "" {
		if persistence, err = s.openPostgres(opts.PostgresURL); err != nil {
			return nil, err
		}
	} else if persistence, err = s.openSQLite(opts.DataDir); err != nil {
		return nil, err
	}
	hosts := map[primitives.ServiceName]static.Hosts{
		primitives.FrontendService: static.SingleLocalHost(net.JoinHostPort(s.host, strconv.Itoa(frontendPort))),
		primitives.HistoryService:  static.SingleLocalHost(net.JoinHostPort(s.host, strconv.Itoa(ports[1]))),
		primitives.MatchingService: static.SingleLocalHost(net.JoinHostPort(s.host, strconv.Itoa(ports[2]))),
		primitives.WorkerService:   static.SingleLocalHost(net.JoinHostPort(s.host, strconv.Itoa(ports[3]))),
	}
	cfg := serverConfig(persistence, opts.Host, s.HostPort(), map[primitives.ServiceName]int{
		primitives.FrontendService: frontendPort,
		primitives.HistoryService:  ports[1],
		primitives.MatchingService: ports[2],
		primitives.WorkerService:   ports[3],
	})

	serverOpts := []temporal.ServerOption{
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithCustomMetricsHandler(metrics.NoopMetricsHandler),
		temporal.WithDynamicConfigClient(dynamicConfig()),
	}
	if opts.TLS != nil {
		// Only the frontend's listener and the clients that dial it: internode
		// configs left nil keep history and matching in plain text.
		serverOpts = append(serverOpts, temporal.WithTLSConfigFactory(&encryption.FixedTLSConfigProvider{
			FrontendServerConfig: opts.TLS,
			FrontendClientConfig: opts.ClientTLS,
		}))
	}
	if len(opts.Interceptors) > 0 {
		serverOpts = append(serverOpts, temporal.WithChainedFrontendGrpcInterceptors(opts.Interceptors...))
	}
	srv, err := guard(func() (temporal.Server, error) { return temporal.NewServer(serverOpts...) })
	if err != nil {
		s.releaseSQLite()
		return nil, fmt.Errorf("devserver: create temporal server: %w", err)
	}
	if _, err := guard(func() (struct{}, error) { return struct{}{}, srv.Start() }); err != nil {
		logger.stop()
		_, _ = guard(func() (struct{}, error) { return struct{}{}, srv.Stop() })
		s.releaseSQLite()
		return nil, fmt.Errorf("devserver: start temporal server: %w", err)
	}
	s.temporal = srv

	if err := waitNamespace(ctx, s.HostPort(), s.namespace, opts.ClientTLS); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if uiPort != 0 {
		ui, err := startUI(ctx, uiConfig{
			host:          opts.Host,
			port:          uiPort,
			temporalAddr:  s.HostPort(),
			namespace:     s.namespace,
			codecEndpoint: opts.CodecEndpoint,
		})
		if err != nil {
			_ = s.Stop()
			return nil, err
		}
		s.ui = ui
	}
	return s, nil
}

// openSQLite creates or opens the SQLite files in dir (DBFile, and
// VisibilityFile unless dir was made before it) and returns the persistence
// config that keeps everything in them.
func (s *Server) openSQLite(dir string) (config.Persistence, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return config.Persistence{}, fmt.Errorf("devserver: create data dir: %w", err)
	}
	dbPath, err := filepath.Abs(filepath.Join(dir, DBFile))
	if err != nil {
		return config.Persistence{}, fmt.Errorf("devserver: data dir: %w", err)
	}
	visPath := filepath.Join(filepath.Dir(dbPath), VisibilityFile)
	oldLayout := exists(dbPath) && !exists(visPath)
	cfg := sqliteConfig(dbPath)
	s.sqlCfgs = append(s.sqlCfgs, cfg)
	if err := prepareDB(cfg, s.namespace); err != nil {
		s.releaseSQLite()
		return config.Persistence{}, err
	}
	s.store = dbPath
	// One shard: SQLite has one writer, so more shards would only queue on it.
	if oldLayout {
		return persistenceConfig(cfg, cfg, 1), nil
	}
	// Visibility in a file of its own has a writer of its own: its updates
	// (a workflow's start, search attributes and close) do not queue behind
	// the workflows' own writes.
	vis := sqliteConfig(visPath)
	s.sqlCfgs = append(s.sqlCfgs, vis)
	if err := prepareDB(vis, s.namespace); err != nil {
		s.releaseSQLite()
		return config.Persistence{}, err
	}
	return persistenceConfig(cfg, vis, 1), nil
}

// exists reports whether path names an existing file.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// releaseSQLite closes the SQLite files the server opened.
func (s *Server) releaseSQLite() {
	for _, cfg := range s.sqlCfgs {
		releaseDB(cfg)
	}
}

// openPostgres prepares the PostgreSQL databases that rawURL names and returns
// the persistence config that uses them.
func (s *Server) openPostgres(rawURL string) (config.Persistence, error) {
	cfg, err := postgresConfig(rawURL)
	if err != nil {
		return config.Persistence{}, err
	}
	vis := visibilityConfig(cfg)
	if err := preparePostgres(cfg, vis, s.namespace, s.logger); err != nil {
		return config.Persistence{}, err
	}
	s.store = redactedURL(cfg) + " (visibility in " + vis.DatabaseName + ")"
	return persistenceConfig(cfg, vis, postgresShards), nil
}

// persistenceConfig keeps the server's state in store and its visibility in
// visibility, which may be the same database (one data store, then).
func persistenceConfig(store, visibility *config.SQL, shards int32) config.Persistence {
	const storeName, visibilityName = "default", "visibility"
	p := config.Persistence{
		DefaultStore:     storeName,
		VisibilityStore:  visibilityName,
		NumHistoryShards: shards,
		DataStores:       map[string]config.DataStore{storeName: {SQL: store}},
	}
	if visibility == store {
		p.VisibilityStore = storeName
	} else {
		p.DataStores[visibilityName] = config.DataStore{SQL: visibility}
	}
	return p
}

// HostPort is the frontend's address for client.Dial, such as "127.0.0.1:7233".
func (s *Server) HostPort() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Namespace is the namespace that Start registered.
func (s *Server) Namespace() string { return s.namespace }

// Store says where the server keeps its state: the SQLite file's path, or the
// PostgreSQL URL without its password and the visibility database's name.
func (s *Server) Store() string { return s.store }

// UIURL is the Temporal UI's base URL, such as "http://127.0.0.1:8233", or "" when
// the UI is disabled.
func (s *Server) UIURL() string {
	if s.uiPort == 0 {
		return ""
	}
	return "http://" + net.JoinHostPort(s.host, strconv.Itoa(s.uiPort))
}

// RunURL returns the UI page of a workflow's latest run, or "" when the UI is
// disabled. The ID is escaped as one path segment: Tenure's IDs contain slashes.
func (s *Server) RunURL(workflowID string) string {
	if s.uiPort == 0 {
		return ""
	}
	return s.UIURL() + "/namespaces/" + url.PathEscape(s.namespace) + "/workflows/" + url.PathEscape(workflowID)
}

// Stop stops the UI and the server and closes the SQLite file, so the ports and the
// file can be used again, by a new Start in this process or by another process. It
// is safe to call twice.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.ui != nil {
			errs = append(errs, s.ui.stop())
		}
		if s.temporal != nil {
			s.logger.stop()
			_, err := guard(func() (struct{}, error) { return struct{}{}, s.temporal.Stop() })
			errs = append(errs, err)
		}
		s.releaseSQLite()
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

func (o Options) withDefaults() (Options, error) {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Host == "localhost" {
		o.Host = DefaultHost
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	var bad []tenure.FieldError
	if o.DataDir == "" && o.PostgresURL == "" {
		bad = append(bad, tenure.FieldError{Field: "data_dir", Problem: "is required"})
	}
	if net.ParseIP(o.Host) == nil {
		bad = append(bad, tenure.FieldError{Field: "host", Problem: "must be an IP address"})
	}
	if o.Port < 0 || o.Port > 65535 {
		bad = append(bad, tenure.FieldError{Field: "port", Problem: "must be between 0 and 65535"})
	}
	if o.UIPort < -1 || o.UIPort > 65535 {
		bad = append(bad, tenure.FieldError{Field: "ui_port", Problem: "must be between -1 and 65535"})
	}
	if o.Port != 0 && o.Port == o.UIPort {
		bad = append(bad, tenure.FieldError{Field: "ui_port", Problem: "must differ from port"})
	}
	if o.TLS != nil && o.UIPort != -1 {
		bad = append(bad, tenure.FieldError{Field: "ui_port", Problem: "must be -1 with tls: the UI dials the frontend in plain text"})
	}
	if o.TLS != nil && o.ClientTLS == nil {
		bad = append(bad, tenure.FieldError{Field: "client_tls", Problem: "is required with tls: the server's own workers dial its frontend"})
	}
	if o.TLS == nil && o.ClientTLS != nil {
		bad = append(bad, tenure.FieldError{Field: "client_tls", Problem: "needs tls: the frontend serves plain text without it"})
	}
	if len(bad) > 0 {
		return o, tenure.Invalid(bad...)
	}
	return o, nil
}

// serverConfig is the static configuration of a single-node server.
// Membership is static (see WithStaticHosts), so no ringpop ports are needed.
func serverConfig(persistence config.Persistence, bindHost, frontendAddr string, grpcPorts map[primitives.ServiceName]int) *config.Config {
	services := make(map[string]config.Service, len(grpcPorts))
	for name, port := range grpcPorts {
		ip := dialHost(bindHost)
		if name == primitives.FrontendService {
			ip = bindHost // only the frontend is meant to be reachable from outside
		}
		services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: ip}}
	}
	return &config.Config{
		Persistence: persistence,
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontendAddr},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		PublicClient: config.PublicClient{HostPort: frontendAddr},
	}
}

// dynamicConfig tunes the server for one node serving one developer or one test
// run: the default rate limits assume many frontends sharing a cluster and would
// throttle bulk onboarding and the UI long before SQLite is the bottleneck.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.FrontendRPS.Key():                                         100000,
		dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key():                  100000,
		dynamicconfig.FrontendMaxNamespaceBurstRatioPerInstance.Key():           2.0,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key():        1000,
		dynamicconfig.FrontendMaxConcurrentLongRunningRequestsPerInstance.Key(): 10000,
		// One partition per task queue: on a single node extra partitions only add
		// forwarding hops between matching partitions.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
		// Fewer round trips per workflow: the first workflow task comes back with the
		// start request, and activities are handed to the worker that scheduled them.
		dynamicconfig.EnableEagerWorkflowStart.Key():     true,
		dynamicconfig.EnableActivityEagerExecution.Key(): true,
		// Search attributes added at run time must be usable at once, not after a
		// cache refresh; on one node the extra read costs nothing.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// A stopping worker's open polls are cancelled, so no task is handed to a
		// worker that is going away: in dev and tests, workers restart all the time.
		dynamicconfig.EnableCancelWorkerPollsOnShutdown.Key(): true,
	}
}

// waitNamespace returns once the frontend answers for the namespace. Start has
// returned by then, but the frontend may still be loading its namespace cache.
// A TLS frontend is dialled with clientTLS.
func waitNamespace(ctx context.Context, hostPort, namespace string, clientTLS *tls.Config) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:          hostPort,
		Namespace:         namespace,
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		ConnectionOptions: client.ConnectionOptions{TLS: clientTLS},
	})
	if err != nil {
		return tenure.Errorf(tenure.EUNAVAILABLE, "temporal server at %s did not answer: %v", hostPort, err)
	}
	defer c.Close()
	for {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return tenure.Errorf(tenure.EUNAVAILABLE, "temporal namespace %q is not ready: %v", namespace, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// probePort fails with ECONFLICT when host:port cannot be bound. It is a check,
// not a reservation: the listener is closed at once so the server can bind it.
func probePort(what, host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return tenure.Errorf(tenure.ECONFLICT, "%s port %d is already in use", what, port)
	}
	return l.Close()
}

// freePorts asks the kernel for n distinct free ports. All listeners stay open
// until every port is known, so the same port is never handed out twice.
func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, tenure.Errorf(tenure.EUNAVAILABLE, "no free port on %s: %v", host, err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// dialHost is the address clients use: a server bound to all interfaces is still
// reached on loopback.
func dialHost(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			return "127.0.0.1"
		}
		return "::1"
	}
	return host
}

// guard runs f and turns a panic into an error. The server panics, instead of
// exiting, on what it would log as Fatal (see serverLogger), and a dev command or a
// test should get an error it can print.
func guard[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("temporal server panicked: %v", r)
		}
	}()
	return f()
}
