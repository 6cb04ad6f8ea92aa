package api

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
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

	// With the console mounted at "/", Echo would hand it any /api/ request that
	// no route takes, a wrong method included: answer those as the API does.
	e.Any("/api/*", apiFallback(e))

	// Probes: no token, no data. /healthz checks the dependencies, for people and
	// monitoring; an orchestrator's liveness and readiness probes use /livez
	// and /readyz, which do not, so an outage of Temporal neither restarts the
	// API nor takes every replica out of the load balancer.
	e.GET("/healthz", s.healthz)
	if s.metrics != nil {
		// Prometheus scrapes with the metrics token, or an admin's or auditor's.
		e.GET("/metrics", echo.WrapHandler(s.metrics), s.metricsAuth)
	}
	e.GET("/livez", s.livez)
	e.GET("/readyz", s.readyz)
	// Not under bearer auth: Slack cannot send a token. Its authentication is
	// Slack's signature, which the handler checks before anything else.
	e.POST("/slack/interactions", s.slackInteractions, limitBody)
	// Not under bearer auth either: an HR system signs each delivery instead
	// (Tenure-Signature), and the handler verifies it before reading the events.
	e.POST("/webhooks/hr/:source", s.postHRWebhook, limitBody)

	// Route middleware rather than group middleware: Echo gives a group with
	// middleware a catch-all route, which would turn a wrong method's 405 into a 404.
	v1 := e.Group("/api/v1")
	// auth authenticates the caller and lets in only the roles listed.
	auth := func(roles ...string) []echo.MiddlewareFunc {
		return []echo.MiddlewareFunc{s.requireAuth, allow(roles...), limitBody}
	}
	everyone := tenure.Roles
	v1.POST("/events", s.postEvent, auth(tenure.RoleAdmin, tenure.RoleHR)...)
	v1.POST("/events\\:batch", s.postEventBatch, s.authLimit(maxBatchBody, tenure.RoleAdmin, tenure.RoleHR)...) // \: is a literal colon to Echo
	v1.POST("/imports", s.postImport, s.authLimit(maxImportBody, tenure.RoleAdmin, tenure.RoleHR)...)
	// A manager sees only their own reports; the handlers narrow what they read.
	v1.GET("/employees", s.listEmployees, auth(everyone...)...)
	v1.GET("/employees/:id", s.getEmployee, auth(everyone...)...)
	v1.POST("/employees/:id/lock", s.lockEmployee, auth(tenure.RoleAdmin)...)
	v1.POST("/employees/:id/unlock", s.unlockEmployee, auth(tenure.RoleAdmin)...)
	v1.POST("/employees/:id/apps/:app/retry", s.retryApp, auth(tenure.RoleAdmin)...)
	// Signed evidence of a leaver; a manager has it for their own reports only,
	// as they read them.
	v1.GET("/employees/:id/evidence", s.getEvidence, auth(tenure.RoleAdmin, tenure.RoleManager, tenure.RoleAuditor)...)
	// A manager sees and decides only the approvals that are theirs to decide.
	v1.GET("/approvals", s.listApprovals, auth(tenure.RoleAdmin, tenure.RoleManager, tenure.RoleAuditor)...)
	v1.POST("/approvals/:id/approve", s.approve, auth(tenure.RoleAdmin, tenure.RoleManager)...)
	v1.POST("/approvals/:id/deny", s.deny, auth(tenure.RoleAdmin, tenure.RoleManager)...)
	// What the blast-radius guard holds; only an admin decides, and it is audited.
	v1.GET("/holds", s.listHolds, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.GET("/holds/:id", s.getHold, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.POST("/holds/:id/release", s.releaseHold, auth(tenure.RoleAdmin)...)
	v1.POST("/holds/:id/discard", s.discardHold, auth(tenure.RoleAdmin)...)
	v1.GET("/apps", s.listApps, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.GET("/audit", s.listAudit, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.GET("/access-review", s.accessReview, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.GET("/openapi.json", s.openapi, auth(everyone...)...)
	// Tokens grant roles, so only an admin may see or change them.
	v1.POST("/tokens", s.createToken, auth(tenure.RoleAdmin)...)
	v1.GET("/tokens", s.listTokens, auth(tenure.RoleAdmin)...)
	v1.DELETE("/tokens/:id", s.revokeToken, auth(tenure.RoleAdmin)...)
	// Ending someone's console sessions is IT's answer to a stolen laptop: admin only.
	v1.DELETE("/sessions", s.revokeSessions, auth(tenure.RoleAdmin)...)
	// Subscriptions hold where Tenure sends people data: only an admin manages them.
	v1.POST("/subscriptions", s.createSubscription, auth(tenure.RoleAdmin)...)
	v1.GET("/subscriptions", s.listSubscriptions, auth(tenure.RoleAdmin)...)
	v1.DELETE("/subscriptions/:id", s.deleteSubscription, auth(tenure.RoleAdmin)...)
	v1.GET("/outbound-events", s.listOutboundEvents, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.POST("/outbound-events/:id/redeliver", s.redeliver, auth(tenure.RoleAdmin)...)
	v1.GET("/deliveries", s.listDeliveries, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	addReconcileRoutes(v1, s, auth)
	// The policy: auditors read and plan it; only an admin deploys one, or
	// decides a rollout.
	v1.GET("/policy", s.getPolicy, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.PUT("/policy", s.putPolicy, auth(tenure.RoleAdmin)...)
	v1.POST("/policy/plan", s.planPolicy, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.GET("/rollouts/:id", s.getRollout, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.POST("/rollouts/:id/confirm", s.confirmRollout, auth(tenure.RoleAdmin)...)
	v1.POST("/rollouts/:id/cancel", s.cancelRollout, auth(tenure.RoleAdmin)...)
}

// apiFallback answers an /api/ request that no route took: 405 with an Allow
// header when the path exists under other methods, else 404.
func apiFallback(e *echo.Echo) echo.HandlerFunc {
	return func(c echo.Context) error {
		var allow []string
		for _, r := range e.Routes() {
			if r.Path != "/api/*" && strings.HasPrefix(r.Path, "/api/") && pathMatches(r.Path, c.Request().URL.Path) &&
				!slices.Contains(allow, r.Method) {
				allow = append(allow, r.Method)
			}
		}
		if len(allow) == 0 || slices.Contains(allow, echo.RouteNotFound) {
			return echo.ErrNotFound
		}
		sort.Strings(allow)
		c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
		return echo.ErrMethodNotAllowed
	}
}

// pathMatches reports whether an Echo route pattern (with :param segments)
// matches a request path.
func pathMatches(pattern, path string) bool {
	ps := strings.Split(strings.ReplaceAll(pattern, `\`, ""), "/")
	qs := strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i, p := range ps {
		if strings.HasPrefix(p, ":") {
			if qs[i] == "" {
				return false
			}
			continue
		}
		if p != qs[i] {
			return false
		}
	}
	return true
}
