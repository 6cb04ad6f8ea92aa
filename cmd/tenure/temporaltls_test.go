package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/internal/tlstest"
)

// TestTemporalTLS dials real embedded Temporal servers that serve TLS, one
// requiring client certificates and one taking API keys, the way `tenure
// worker` and `tenure api` do from their settings.
func TestTemporalTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts embedded Temporal servers")
	}
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "tenure test CA")
	// The certificate names no IP address, so TENURE_TEMPORAL_TLS_SERVER_NAME is
	// what makes it match a dial to 127.0.0.1.
	serverCert := ca.Server(t, "temporal.test")
	clientCert := ca.Client(t, "tenure")
	caFile := tlstest.WriteFile(t, dir, "ca.pem", ca.PEM)
	certFile := tlstest.WriteFile(t, dir, "client.pem", clientCert.CertPEM)
	keyFile := tlstest.WriteFile(t, dir, "client-key.pem", clientCert.KeyPEM)
	own := &tls.Config{RootCAs: ca.Pool(), ServerName: "temporal.test", Certificates: []tls.Certificate{ca.Client(t, "devserver").TLS}}

	mtls := startTLSServer(t, devserver.Options{TLS: &tls.Config{
		Certificates: []tls.Certificate{serverCert.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	}, ClientTLS: own})
	seen := &authorizations{}
	keyed := startTLSServer(t, devserver.Options{
		TLS:          &tls.Config{Certificates: []tls.Certificate{serverCert.TLS}},
		ClientTLS:    own,
		Interceptors: []grpc.UnaryServerInterceptor{seen.record},
	})

	const apiKey = "tk-test-0123456789abcdef"
	for _, tc := range []struct {
		name string
		srv  *devserver.Server
		env  map[string]string
		want string // "" connects; otherwise a part of the error
	}{
		{"mTLS with the CA, the client certificate and the server name", mtls, map[string]string{
			"TENURE_TEMPORAL_TLS_CA": caFile, "TENURE_TEMPORAL_TLS_CERT": certFile, "TENURE_TEMPORAL_TLS_KEY": keyFile,
			"TENURE_TEMPORAL_TLS_SERVER_NAME": "temporal.test"}, ""},
		{"mTLS without a client certificate", mtls, map[string]string{
			"TENURE_TEMPORAL_TLS_CA": caFile, "TENURE_TEMPORAL_TLS_SERVER_NAME": "temporal.test"}, "with no client certificate (for mutual TLS set TENURE_TEMPORAL_TLS_CERT"},
		{"mTLS without the CA", mtls, map[string]string{
			"TENURE_TEMPORAL_TLS_CERT": certFile, "TENURE_TEMPORAL_TLS_KEY": keyFile,
			"TENURE_TEMPORAL_TLS_SERVER_NAME": "temporal.test"}, "certificate signed by unknown authority"},
		{"mTLS without the server name", mtls, map[string]string{
			"TENURE_TEMPORAL_TLS_CA": caFile, "TENURE_TEMPORAL_TLS_CERT": certFile, "TENURE_TEMPORAL_TLS_KEY": keyFile},
			"127.0.0.1"},
		{"TLS in plain text", mtls, map[string]string{}, "in plain text (for a TLS frontend set TENURE_TEMPORAL_TLS_CA"},
		{"an API key with the CA", keyed, map[string]string{
			"TENURE_TEMPORAL_API_KEY": apiKey, "TENURE_TEMPORAL_TLS_CA": caFile, "TENURE_TEMPORAL_TLS_SERVER_NAME": "temporal.test"}, ""},
		// The key turns TLS on by itself, with the system's roots: they do not
		// know this CA, so the dial fails on the certificate, not in plain text.
		{"an API key alone", keyed, map[string]string{"TENURE_TEMPORAL_API_KEY": apiKey}, "authentication handshake failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parseServerConfig(t, tc.env)
			if err := cfg.check(); err != nil {
				t.Fatalf("check: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := dialTemporal(ctx, tc.srv.HostPort(), tc.srv.Namespace(), cfg.temporalConn, nil, observability{}, slog.New(slog.DiscardHandler))
			if tc.want != "" {
				if err == nil {
					c.Close()
					t.Fatalf("connected, want an error mentioning %q", tc.want)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %q does not mention %q", err, tc.want)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: tc.srv.Namespace()}); err != nil {
				t.Fatalf("DescribeNamespace: %v", err)
			}
		})
	}
	// The key reached the server as the SDK sends it, on the calls Tenure made.
	if got := seen.of("/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace"); got != "Bearer "+apiKey {
		t.Errorf("authorization on DescribeNamespace = %q, want %q", got, "Bearer "+apiKey)
	}
}

// TestTemporalTLSSettingsAreChecked: a bad setting stops `tenure worker` and
// `tenure api` at start, with an error naming it.
func TestTemporalTLSSettingsAreChecked(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "tenure test CA")
	pair := ca.Client(t, "tenure")
	caFile := tlstest.WriteFile(t, dir, "ca.pem", ca.PEM)
	certFile := tlstest.WriteFile(t, dir, "client.pem", pair.CertPEM)
	keyFile := tlstest.WriteFile(t, dir, "client-key.pem", pair.KeyPEM)
	notPEM := tlstest.WriteFile(t, dir, "not.pem", []byte("not a certificate\n"))
	otherKey := tlstest.WriteFile(t, dir, "other-key.pem", ca.Client(t, "other").KeyPEM)
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TENURE_TEMPORAL_TLS_CA": missing}, "TENURE_TEMPORAL_TLS_CA (--temporal-tls-ca): open " + missing},
		{map[string]string{"TENURE_TEMPORAL_TLS_CA": notPEM}, "TENURE_TEMPORAL_TLS_CA (--temporal-tls-ca): " + notPEM + " holds no PEM certificate"},
		{map[string]string{"TENURE_TEMPORAL_TLS_CERT": certFile}, "TENURE_TEMPORAL_TLS_CERT (--temporal-tls-cert) is set without TENURE_TEMPORAL_TLS_KEY"},
		{map[string]string{"TENURE_TEMPORAL_TLS_KEY": keyFile}, "TENURE_TEMPORAL_TLS_KEY (--temporal-tls-key) is set without TENURE_TEMPORAL_TLS_CERT"},
		{map[string]string{"TENURE_TEMPORAL_TLS_CERT": missing, "TENURE_TEMPORAL_TLS_KEY": keyFile}, "TENURE_TEMPORAL_TLS_CERT (--temporal-tls-cert): open " + missing},
		{map[string]string{"TENURE_TEMPORAL_TLS_CERT": certFile, "TENURE_TEMPORAL_TLS_KEY": missing}, "TENURE_TEMPORAL_TLS_KEY (--temporal-tls-key): open " + missing},
		{map[string]string{"TENURE_TEMPORAL_TLS_CERT": notPEM, "TENURE_TEMPORAL_TLS_KEY": keyFile}, "are not a PEM certificate and its key"},
		{map[string]string{"TENURE_TEMPORAL_TLS_CERT": certFile, "TENURE_TEMPORAL_TLS_KEY": otherKey}, "are not a PEM certificate and its key"},
		{map[string]string{"TENURE_TEMPORAL_TLS_CA": caFile, "TENURE_TEMPORAL_TLS_CERT": certFile, "TENURE_TEMPORAL_TLS_KEY": notPEM}, "are not a PEM certificate and its key"},
	} {
		for _, cmd := range []string{"worker", "api"} {
			env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "never-opened.db"), "TENURE_ADMIN_TOKEN": "0123456789abcdef0123"}
			for k, v := range tc.env {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := run(ctx, []string{cmd}, func(k string) string { return env[k] }, io.Discard, io.Discard)
			cancel()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("tenure %s with %v: %v, want an error containing %q", cmd, tc.env, err, tc.want)
			}
		}
	}
	// The flags say the same, and --help lists them.
	err := run(context.Background(), []string{"worker", "--temporal-tls-ca", missing},
		func(k string) string { return map[string]string{"DATABASE_URL": "sqlite:x"}[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--temporal-tls-ca") {
		t.Errorf("tenure worker --temporal-tls-ca %s: %v, want an error naming it", missing, err)
	}
	for _, cmd := range []string{"worker", "api"} {
		var help bytes.Buffer
		run(context.Background(), []string{cmd, "--help"}, func(string) string { return "" }, io.Discard, &help)
		for _, want := range []string{"-temporal-tls-ca", "-temporal-tls-cert", "-temporal-tls-key", "-temporal-tls-server-name", "TENURE_TEMPORAL_API_KEY"} {
			if !strings.Contains(help.String(), want) {
				t.Errorf("tenure %s --help does not mention %s", cmd, want)
			}
		}
	}
}

// parseServerConfig reads `tenure worker`'s settings from env.
func parseServerConfig(t *testing.T, env map[string]string) *serverConfig {
	t.Helper()
	env["DATABASE_URL"] = "sqlite:unused"
	var cfg serverConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	serverFlags(fs, func(k string) string { return env[k] }, &cfg)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// startTLSServer starts an embedded server with opts' TLS settings.
func startTLSServer(t *testing.T, opts devserver.Options) *devserver.Server {
	t.Helper()
	opts.DataDir, opts.UIPort = t.TempDir(), -1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// authorizations keeps the last authorization metadata each frontend method got.
type authorizations struct {
	mu       sync.Mutex
	byMethod map[string]string
}

func (a *authorizations) record(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		a.mu.Lock()
		if a.byMethod == nil {
			a.byMethod = map[string]string{}
		}
		a.byMethod[info.FullMethod] = strings.Join(v, ", ")
		a.mu.Unlock()
	}
	return next(ctx, req)
}

func (a *authorizations) of(method string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byMethod[method]
}

// TestOnLoopback: a frontend on this host is reached without gzip, any other
// with the SDK's default.
func TestOnLoopback(t *testing.T) {
	for hostPort, want := range map[string]bool{
		"127.0.0.1:7233":                  true,
		"[::1]:7233":                      true,
		"localhost:7233":                  true,
		"127.0.0.2:7233":                  true,
		"localhost":                       true,
		"10.0.0.5:7233":                   false,
		"temporal.example.com:7233":       false,
		"temporal-frontend.temporal:7233": false,
		"localhost.attacker.example:7233": false,
	} {
		if got := onLoopback(hostPort); got != want {
			t.Errorf("onLoopback(%q) = %t, want %t", hostPort, got, want)
		}
	}
}
