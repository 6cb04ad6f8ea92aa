package main

import (
	"log/slog"
	"net/http"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/scimserver"
	"github.com/tenure-io/tenure/store"
)

// scimPrefix is where the inbound SCIM server is mounted on the API's port.
const scimPrefix = scimserver.Prefix + "/"

// scimHandler is the inbound SCIM server, for identity providers to push people
// into Tenure; it authenticates with the API's tokens (admin or hr role), counts
// failures on the API's limiter, writes locations under publicURL, and puts the
// users' events before the blast-radius guard g.
func scimHandler(db *store.DB, engine tenure.Engine, g *guard.Guard, auth tenure.Authenticator, limiter *authlimit.Limiter, publicURL string, log *slog.Logger) (http.Handler, error) {
	s, err := scimserver.New(scimserver.Config{Directory: db, Store: db, Engine: engine, Guard: g, Auth: auth, Logger: log,
		AuthLimiter: limiter, PublicURL: publicURL})
	if err != nil {
		return nil, err
	}
	return s.Handler(), nil
}
