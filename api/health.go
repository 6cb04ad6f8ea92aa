package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// readyTimeout bounds a health check, so a hung dependency reads as not ready
// instead of hanging the prober.
const readyTimeout = 3 * time.Second

// healthz reports 200 once the store and the engine (Temporal and a worker) answer,
// and otherwise 503 naming the parts that are not ready.
func (s *server) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	var p intake.Problems
	for _, dep := range []struct {
		name  string
		ready func(context.Context) error
	}{
		{"store", s.store.Ping},
		{"engine", s.engine.Ready},
	} {
		if err := dep.ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", slog.String("part", dep.name), slog.String("error", err.Error()))
			p.Add(dep.name, "is not ready")
		}
	}
	if len(p.List()) > 0 {
		names := make([]string, len(p.List()))
		for i, f := range p.List() {
			names[i] = f.Field
		}
		return &tenure.Error{
			Code:    tenure.EUNAVAILABLE,
			Message: "not ready: " + strings.Join(names, ", "),
			Fields:  p.List(),
		}
	}
	return respond(c, http.StatusOK, map[string]string{"status": "ok"})
}

// livez answers 200 whenever the process serves HTTP at all. It checks nothing
// else: a liveness probe on it restarts a wedged process, never one whose store
// or Temporal is down, which a restart would not mend.
func (s *server) livez(c echo.Context) error {
	return respond(c, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers whether this process takes new requests: 200 while it serves,
// and 503 from the moment it begins to shut down (Config.Draining), so that a
// load balancer stops sending it requests while those in flight finish. It
// checks no dependency: with Temporal down, every replica would turn not ready
// at once, and the requests that need only the store would be refused with them.
func (s *server) readyz(c echo.Context) error {
	select {
	case <-s.draining:
		// Written here rather than returned: a stop is no failure, and
		// handleError would log every probe of it as one.
		return respond(c, http.StatusServiceUnavailable, errorBody{Error: errorDetail{Code: tenure.EUNAVAILABLE, Message: "shutting down"}})
	default:
	}
	return respond(c, http.StatusOK, map[string]string{"status": "ok"})
}

// appList is the body of GET /api/v1/apps.
type appList struct {
	Apps []tenure.App `json:"apps"`
}

func (s *server) listApps(c echo.Context) error {
	apps, err := s.store.ListApps(c.Request().Context())
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, appList{Apps: orEmpty(apps)})
}

// auditList is the body of GET /api/v1/audit.
type auditList struct {
	Records []tenure.AuditRecord `json:"records"`
}

func (s *server) listAudit(c echo.Context) error {
	var p intake.Problems
	f := tenure.AuditFilter{
		EmployeeID: c.QueryParam("employee_id"),
		Action:     c.QueryParam("action"),
		Since:      queryTime(c, "since", &p),
		Limit:      queryInt(c, "limit", defaultPage, 1, maxPage, &p),
		Offset:     queryInt(c, "offset", 0, 0, 1<<31-1, &p),
	}
	if f.EmployeeID != "" && !intake.ValidHRID(f.EmployeeID) {
		p.Add("employee_id", "must be 1 to 64 letters, digits or . _ -")
	}
	if len(f.Action) > intake.MaxText {
		p.Addf("action", "must be at most %d characters", intake.MaxText)
	}
	if err := p.Err(); err != nil {
		return err
	}
	records, err := s.store.ListAudit(c.Request().Context(), f)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, auditList{Records: orEmpty(records)})
}

//go:embed openapi.json
var openAPI []byte

// openapi serves the OpenAPI 3 description of this API.
func (s *server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPI)
}
