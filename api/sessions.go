package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
)

// sessionsRevoked is the body of DELETE /api/v1/sessions.
type sessionsRevoked struct {
	Email string `json:"email"`
	// Revoked is how many console sessions were still active and are now ended.
	Revoked int `json:"revoked"`
}

// revokeSessions signs a user out of the console everywhere, the Temporal UI's
// codec endpoint included, as the console's Sessions page does, through the
// same function, which records the revocation in the audit trail.
func (s *server) revokeSessions(c echo.Context) error {
	if s.sessions == nil {
		return tenure.Errorf(tenure.EUNAVAILABLE, "console sessions are not kept by this server")
	}
	email := c.QueryParam("email")
	n, err := tenure.RevokeUserSessions(c.Request().Context(), s.sessions, email, principal(c).Actor(), s.now())
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, sessionsRevoked{Email: email, Revoked: n})
}
