package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/rollout"
)

// yamlTypes are the media types a policy may be sent as.
var yamlTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}

// readPolicy reads a policy sent as YAML; limitBody has capped it at maxBody.
func readPolicy(c echo.Context) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || !slices.Contains(yamlTypes, mt) {
		return nil, tenure.Invalid(tenure.FieldError{Field: "Content-Type", Problem: "must be application/yaml: send the policy file as it is"})
	}
	body, err := io.ReadAll(c.Request().Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errTooLarge
	case err != nil:
		return nil, tenure.Errorf(tenure.EINVALID, "the request body could not be read")
	case len(strings.TrimSpace(string(body))) == 0:
		return nil, tenure.Invalid(tenure.FieldError{Field: "body", Problem: "is empty: send the policy file"})
	}
	return body, nil
}

// policies is the policy service, or a 503 when the server has none.
func (s *server) policies() (*rollout.Service, error) {
	if s.policy == nil {
		return nil, tenure.Errorf(tenure.EUNAVAILABLE, "this server does not manage the policy")
	}
	return s.policy, nil
}

// activePolicy is the body of GET /api/v1/policy.
type activePolicy struct {
	tenure.PolicyVersion
}

// getPolicy returns the version in force and its text.
func (s *server) getPolicy(c echo.Context) error {
	svc, err := s.policies()
	if err != nil {
		return err
	}
	v, err := svc.ActiveVersion(c.Request().Context())
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, activePolicy{v})
}

// planPolicy answers what deploying the policy in the body would change.
func (s *server) planPolicy(c echo.Context) error {
	svc, err := s.policies()
	if err != nil {
		return err
	}
	body, err := readPolicy(c)
	if err != nil {
		return err
	}
	plan, err := svc.Plan(c.Request().Context(), body, principal(c).Actor())
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, plan)
}

// putPolicy deploys the policy in the body: 202 once its rollout has started,
// or is held by the guard.
func (s *server) putPolicy(c echo.Context) error {
	svc, err := s.policies()
	if err != nil {
		return err
	}
	body, err := readPolicy(c)
	if err != nil {
		return err
	}
	d, err := svc.Deploy(c.Request().Context(), body, principal(c).Actor(), "api")
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/rollouts/"+d.RolloutID)
	return respond(c, http.StatusAccepted, d)
}

// getRollout returns a rollout and how far it has got.
func (s *server) getRollout(c echo.Context) error {
	svc, err := s.policies()
	if err != nil {
		return err
	}
	r, err := svc.Rollout(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, r)
}

// confirmRollout releases a rollout the guard held.
func (s *server) confirmRollout(c echo.Context) error {
	return s.decideRollout(c, (*rollout.Service).Confirm)
}

// cancelRollout stops a held or running rollout.
func (s *server) cancelRollout(c echo.Context) error {
	return s.decideRollout(c, (*rollout.Service).Cancel)
}

func (s *server) decideRollout(c echo.Context, decide func(*rollout.Service, context.Context, string, string) (tenure.Rollout, error)) error {
	svc, err := s.policies()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := decide(svc, ctx, c.Param("id"), principal(c).Actor()); err != nil {
		return err
	}
	r, err := svc.Rollout(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	return respond(c, http.StatusAccepted, r)
}
