package slack

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/tenure-io/tenure"
)

// Verify checks Slack's v0 signature of an interaction: HMAC-SHA256 of
// "v0:<timestamp>:<body>" with the signing secret, compared in constant time,
// and a timestamp within five minutes of now, in either direction (slack-go's
// verifier checks both). Anything else is an EUNAUTHORIZED error that says
// nothing about which part was wrong.
func (s *Slack) Verify(h http.Header, body []byte) error {
	v, err := slackapi.NewSecretsVerifier(h, s.cfg.SigningSecret)
	if err == nil {
		_, err = v.Write(body)
	}
	if err == nil {
		err = v.Ensure()
	}
	if err != nil {
		return tenure.Errorf(tenure.EUNAUTHORIZED, "the request is not signed by Slack")
	}
	return nil
}

// UserEmail is the email of a Slack user (users.info; needs users:read.email).
func (s *Slack) UserEmail(ctx context.Context, userID string) (string, error) {
	u, err := s.api.GetUserInfoContext(ctx, userID)
	if err != nil {
		return "", callError("users.info", err)
	}
	if u.Profile.Email == "" {
		return "", tenure.Errorf(tenure.ENOTFOUND, "Slack user %s has no email Tenure can see", userID)
	}
	return u.Profile.Email, nil
}

// OpenDenyModal asks the clicker why the access is denied, in a modal whose
// private_metadata is the approval ID. The trigger ID is valid for 3 seconds
// after the click, so this must run right after it.
func (s *Slack) OpenDenyModal(ctx context.Context, triggerID string, a tenure.Approval) error {
	if triggerID == "" {
		return tenure.Invalid(tenure.FieldError{Field: "trigger_id", Problem: "is required to open a modal"})
	}
	input := slackapi.NewPlainTextInputBlockElement(plain("Why is this access denied?"), DenyReasonAction)
	input.Multiline = true
	input.MaxLength = MaxReason
	view := slackapi.ModalViewRequest{
		Type:            slackapi.VTModal,
		Title:           plain("Deny access"),
		Submit:          plain("Deny"),
		Close:           plain("Cancel"),
		CallbackID:      DenyCallback,
		PrivateMetadata: a.ID,
		Blocks: slackapi.Blocks{BlockSet: []slackapi.Block{
			section(fmt.Sprintf("You are denying *%s* for `%s`. The reason is recorded in the audit trail.",
				esc(grantLabel(a)), esc(a.EmployeeID))),
			slackapi.NewInputBlock(DenyReasonBlock, plain("Reason"), nil, input),
		}},
	}
	if _, err := s.api.OpenViewContext(ctx, triggerID, view); err != nil {
		return callError("views.open", err)
	}
	return nil
}

// Respond replies to the clicker alone (ephemeral) through the interaction's
// response_url, leaving the original message as it is. It posts only under the
// response URL base (Slack's https://hooks.slack.com/), without following
// redirects: the URL comes in a request body, and a payload that pointed it
// elsewhere must not make Tenure post anywhere else. Any other URL is an
// EINVALID error, and nothing is sent.
func (s *Slack) Respond(ctx context.Context, responseURL, text string) error {
	u, err := s.responseURL(responseURL)
	if err != nil {
		return err
	}
	err = slackapi.PostWebhookCustomHTTPContext(ctx, u.String(), s.hookClient, &slackapi.WebhookMessage{
		Text: text, ResponseType: "ephemeral", ReplaceOriginal: false,
	})
	return callError("response_url", err)
}

// responseURL parses raw and checks that it lies under the response URL base:
// the same scheme and host (with its port), and a path under the base's once
// dot segments are resolved. The error names the host refused, never the
// whole URL, which works as a credential for five replies.
func (s *Slack) responseURL(raw string) (*url.URL, error) {
	refuse := func(problem string) error {
		return tenure.Invalid(tenure.FieldError{Field: "response_url", Problem: problem})
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return nil, refuse("must be a URL under " + s.cfg.ResponseURLBase)
	case !strings.EqualFold(u.Scheme, s.hooks.Scheme) || !strings.EqualFold(u.Host, s.hooks.Host):
		return nil, refuse(fmt.Sprintf("must be a URL under %s; Tenure does not post to %s://%s", s.cfg.ResponseURLBase, u.Scheme, u.Host))
	case u.User != nil:
		return nil, refuse("must not carry credentials")
	case !strings.HasPrefix(path.Clean("/"+u.Path)+"/", s.hooks.Path):
		return nil, refuse("must be a URL under " + s.cfg.ResponseURLBase)
	}
	return u, nil
}
