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

	// Route middleware rather than group middleware: Echo gives a group with
	// middleware a catch-all route, which would turn a wrong method's 405 into a 404.
	v1 := e.Group("/api/v1")
	auth := []echo.MiddlewareFunc{s.requireAuth, limitBody}
	v1.POST("/events", s.postEvent, auth...)
	v1.GET("/employees", s.listEmployees, auth...)
	v1.GET("/employees/:id", s.getEmployee, auth...)
	v1.POST("/employees/:id/lock", s.lockEmployee, auth...)
	v1.POST("/employees/:id/unlock", s.unlockEmployee, auth...)
	v1.GET("/approvals", s.listApprovals, auth...)
	v1.POST("/approvals/:id/approve", s.approve, auth...)
	v1.POST("/approvals/:id/deny", s.deny, auth...)
	v1.GET("/apps", s.listApps, auth...)
	v1.GET("/audit", s.listAudit, auth...)
	v1.GET("/openapi.json", s.openapi, auth...)
}
