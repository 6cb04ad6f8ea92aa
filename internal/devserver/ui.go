package devserver

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/tenure-io/tenure"
)

// uiConfig is what Tenure sets on the Temporal UI; the rest keeps its defaults.
type uiConfig struct {
	host          string
	port          int
	temporalAddr  string
	namespace     string
	codecEndpoint string
}

// uiServer is a running Temporal UI.
type uiServer struct {
	srv  *uiserver.Server
	done chan struct{}
}

// startUI serves the Temporal UI and returns once its port accepts connections.
// The caller has checked the port: the UI server exits the process when it cannot
// bind.
func startUI(ctx context.Context, c uiConfig) (ui *uiServer, err error) {
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: c.temporalAddr,
		Host:                c.host,
		Port:                c.port,
		EnableUI:            true,
		DefaultNamespace:    c.namespace,
		// The browser has no internet in many dev setups, and nothing to upgrade.
		DisableNewsFetch:   true,
		NotifyOnNewVersion: false,
		HideLogs:           true,
		// Plain HTTP on loopback: a Secure cookie would never be sent back, and
		// every write action in the UI would fail its CSRF check.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// The codec endpoint lets in users signed in to Tenure's console: the
		// browser must send that session's cookie with its requests.
		Codec: uiconfig.Codec{Endpoint: c.codecEndpoint, IncludeCredentials: c.codecEndpoint != ""},
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("devserver: temporal UI: %v", r)
		}
	}()
	srv := uiserver.NewServer(uioptions.WithConfigProvider(cfg))
	ui = &uiServer{srv: srv, done: make(chan struct{})}
	go func() {
		defer close(ui.done)
		_ = srv.Start()
	}()

	addr := net.JoinHostPort(dialHost(c.host), strconv.Itoa(c.port))
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return ui, nil
		}
		select {
		case <-ui.done:
			return nil, tenure.Errorf(tenure.EUNAVAILABLE, "temporal UI on port %d stopped at start-up", c.port)
		case <-ctx.Done():
			_ = ui.stop()
			return nil, tenure.Errorf(tenure.EUNAVAILABLE, "temporal UI on port %d did not start: %v", c.port, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop closes the UI's listener and waits for its server to return, so the port
// is free when stop does.
func (u *uiServer) stop() error {
	u.srv.Stop()
	<-u.done
	return nil
}
