package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// addRoutes lists every route the server answers: this is the API's map.
func addRoutes(e *echo.Echo, s *server, mounts map[string]http.Handler) {
	mounted := map[string]bool{}
	for prefix, h := range mounts {
		path := strings.TrimSuffix(prefix, "/") + "/*"
		mounted[path] = true
		e.Any(path, echo.WrapHandler(h))
	}
	e.Use(s.logRequests, secureHeaders(mounted))

	e.GET("/healthz", s.healthz)

	v1 := e.Group("/api", s.requireAuth, limitBody)
	v1.POST("/v1/events", s.postEvent)
	v1.GET("/v1/employees", s.listEmployees)
	v1.GET("/v1/employees/:id", s.getEmployee)
	v1.POST("/v1/employees/:id/lock", s.lockEmployee)
	v1.POST("/v1/employees/:id/unlock", s.unlockEmployee)
	v1.GET("/v1/approvals", s.listApprovals)
	v1.POST("/v1/approvals/:id/approve", s.approve)
	v1.POST("/v1/approvals/:id/deny", s.deny)
	v1.GET("/v1/apps", s.listApps)
	v1.GET("/v1/audit", s.listAudit)
	v1.GET("/v1/openapi.json", s.openapi)
}
