package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"go.temporal.io/sdk/client"
)

// temporalAuthHelp is what `tenure worker --help` and `tenure api --help` say
// about the one connection setting that has no flag.
const temporalAuthHelp = "TENURE_TEMPORAL_API_KEY, if set, is sent to Temporal as `authorization: Bearer KEY` (Temporal Cloud's\n" +
	"API keys), over TLS with the system's roots unless --temporal-tls-ca names a CA. It has no flag: a flag\n" +
	"would show the key in process listings."

// temporalAuth is how `tenure worker` and `tenure api` reach a Temporal
// frontend that wants TLS, a client certificate (mutual TLS) or an API key.
// Without any of them they dial in plain text, as against `tenure dev`'s server.
type temporalAuth struct {
	caFile     string // PEM file of the CA that signs the frontend's certificate
	certFile   string // PEM file of the client certificate, for mutual TLS
	keyFile    string // PEM file of its private key
	serverName string // the name to check the frontend's certificate for
	apiKey     string // sent as a bearer token; from the environment only
}

func temporalAuthFlags(fs *flag.FlagSet, getenv func(string) string, a *temporalAuth) {
	fs.StringVar(&a.caFile, "temporal-tls-ca", getenv("TENURE_TEMPORAL_TLS_CA"), "PEM `FILE` of the CA that signs Temporal's certificate; turns TLS on (default: the system's roots\nwhen TLS is on); env TENURE_TEMPORAL_TLS_CA")
	fs.StringVar(&a.certFile, "temporal-tls-cert", getenv("TENURE_TEMPORAL_TLS_CERT"), "PEM `FILE` of the client certificate for mutual TLS, with --temporal-tls-key; turns TLS on;\nenv TENURE_TEMPORAL_TLS_CERT")
	fs.StringVar(&a.keyFile, "temporal-tls-key", getenv("TENURE_TEMPORAL_TLS_KEY"), "PEM `FILE` of the client certificate's private key; env TENURE_TEMPORAL_TLS_KEY")
	fs.StringVar(&a.serverName, "temporal-tls-server-name", getenv("TENURE_TEMPORAL_TLS_SERVER_NAME"), "the `NAME` Temporal's certificate must be for (default: the host of --temporal-address);\nturns TLS on; env TENURE_TEMPORAL_TLS_SERVER_NAME")
	a.apiKey = getenv("TENURE_TEMPORAL_API_KEY")
}

// temporalConn is what the client needs from temporalAuth: nil TLS dials in
// plain text, unless an API key turns it on.
type temporalConn struct {
	tls         *tls.Config
	credentials client.Credentials
}

// load reads the files and checks the settings, so that a bad one stops the
// process at start, named, rather than at the first call to Temporal.
func (a temporalAuth) load() (temporalConn, error) {
	var conn temporalConn
	if a.certFile != "" || a.keyFile != "" || a.caFile != "" || a.serverName != "" {
		conn.tls = &tls.Config{ServerName: a.serverName, MinVersion: tls.VersionTLS12}
	}
	if a.caFile != "" {
		data, err := os.ReadFile(a.caFile)
		if err != nil {
			return conn, fmt.Errorf("TENURE_TEMPORAL_TLS_CA (--temporal-tls-ca): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return conn, fmt.Errorf("TENURE_TEMPORAL_TLS_CA (--temporal-tls-ca): %s holds no PEM certificate", a.caFile)
		}
		conn.tls.RootCAs = pool
	}
	switch {
	case a.certFile != "" && a.keyFile == "":
		return conn, errors.New("TENURE_TEMPORAL_TLS_CERT (--temporal-tls-cert) is set without TENURE_TEMPORAL_TLS_KEY (--temporal-tls-key): set both for mutual TLS, or neither")
	case a.keyFile != "" && a.certFile == "":
		return conn, errors.New("TENURE_TEMPORAL_TLS_KEY (--temporal-tls-key) is set without TENURE_TEMPORAL_TLS_CERT (--temporal-tls-cert): set both for mutual TLS, or neither")
	case a.certFile != "":
		if err := readable("TENURE_TEMPORAL_TLS_CERT (--temporal-tls-cert)", a.certFile); err != nil {
			return conn, err
		}
		if err := readable("TENURE_TEMPORAL_TLS_KEY (--temporal-tls-key)", a.keyFile); err != nil {
			return conn, err
		}
		pair, err := tls.LoadX509KeyPair(a.certFile, a.keyFile)
		if err != nil {
			return conn, fmt.Errorf("TENURE_TEMPORAL_TLS_CERT and TENURE_TEMPORAL_TLS_KEY (--temporal-tls-cert, --temporal-tls-key) are not a PEM certificate and its key: %w", err)
		}
		conn.tls.Certificates = []tls.Certificate{pair}
	}
	if a.apiKey != "" {
		// The SDK turns TLS on, with the system's roots, when conn.tls is nil.
		conn.credentials = client.NewAPIKeyStaticCredentials(a.apiKey)
	}
	return conn, nil
}

// secured says whether the connection uses TLS.
func (c temporalConn) secured() bool { return c.tls != nil || c.credentials != nil }

// readable fails, naming the setting, when path cannot be read.
func readable(setting, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", setting, err)
	}
	return f.Close()
}
