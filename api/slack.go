package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/integrations/slack"
	"github.com/tenure-io/tenure/internal/authlimit"
)

// SlackApp is what the API needs from Slack to answer its interactions;
// integrations/slack's *Slack implements it.
type SlackApp interface {
	// Verify checks Slack's v0 signature and timestamp of a request; any error
	// means the request is not from Slack.
	Verify(h http.Header, body []byte) error
	// UserEmail is the email of a Slack user.
	UserEmail(ctx context.Context, userID string) (string, error)
	// OpenDenyModal asks the clicker for a reason to deny the approval.
	OpenDenyModal(ctx context.Context, triggerID string, a tenure.Approval) error
	// Respond replies to the clicker alone through an interaction's response_url.
	Respond(ctx context.Context, responseURL, text string) error
	// HoldDecided rewrites a guard hold's alert to show its decision;
	// slackUser is who decided it from the alert, "" when it was decided
	// elsewhere.
	HoldDecided(ctx context.Context, ref tenure.MessageRef, h tenure.Hold, slackUser string) error
}

const (
	// slackWorkTimeout bounds the work done for one interaction after the ack.
	slackWorkTimeout = 30 * time.Second
	// slackClaimTTL is how long a decision or retry sent from Slack blocks a second
	// one for the same approval, hold or alert from this process: long enough for
	// the first to be recorded, so a double click decides once.
	slackClaimTTL = 10 * time.Minute
)

// slackHandler answers POST /slack/interactions. Slack wants an answer within 3
// seconds, and Temporal may be slower, so it answers once the request is
// verified and parsed and does the work in tracked goroutines.
type slackHandler struct {
	app    SlackApp
	admins map[string]bool
	ctx    context.Context
	wg     *sync.WaitGroup

	mu     sync.Mutex
	claims map[string]time.Time
}

// newSlackHandler returns nil when Slack is not configured.
func newSlackHandler(cfg Config) *slackHandler {
	if cfg.Slack == nil {
		return nil
	}
	h := &slackHandler{app: cfg.Slack, admins: map[string]bool{}, ctx: cfg.Context, wg: cfg.Background,
		claims: map[string]time.Time{}}
	if h.ctx == nil {
		h.ctx = context.Background()
	}
	if h.wg == nil {
		h.wg = &sync.WaitGroup{}
	}
	for _, a := range cfg.SlackAdmins {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
			h.admins[a] = true
		}
	}
	return h
}

// goWork runs fn after the ack, with its own deadline, ended early when the server's
// context is.
func (h *slackHandler) goWork(fn func(ctx context.Context)) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), slackWorkTimeout)
		defer cancel()
		stop := context.AfterFunc(h.ctx, cancel)
		defer stop()
		fn(ctx)
	}()
}

// claim reports whether key (an approval or a retry) is free to act on, and takes
// it; release gives it back after a failure so the person can try again.
func (h *slackHandler) claim(key string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, at := range h.claims {
		if now.Sub(at) > slackClaimTTL {
			delete(h.claims, k)
		}
	}
	if _, taken := h.claims[key]; taken {
		return false
	}
	h.claims[key] = now
	return true
}

func (h *slackHandler) release(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.claims, key)
}

// slackPayload is the part of Slack's interaction payload Tenure reads
// (block_actions and view_submission).
type slackPayload struct {
	Type        string `json:"type"`
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
	Container struct {
		ChannelID string `json:"channel_id"`
		MessageTS string `json:"message_ts"`
	} `json:"container"`
	Actions []struct {
		ActionID string `json:"action_id"`
		BlockID  string `json:"block_id"`
		Value    string `json:"value"`
		ActionTS string `json:"action_ts"`
	} `json:"actions"`
	View struct {
		ID              string `json:"id"`
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
		State           struct {
			Values map[string]map[string]struct {
				Value string `json:"value"`
			} `json:"values"`
		} `json:"state"`
	} `json:"view"`
}

// slackInteraction is what one verified interaction asks for.
type slackInteraction struct {
	action      string // approve, deny, retry, hold_release, hold_discard, or deny_reason for the modal
	value       string // the approval ID, the retry value, or the hold ID
	userID      string
	triggerID   string
	responseURL string
	channel     string
	messageTS   string
	eventKey    string // unique per click or submission, for audit keys
	reason      string
}

// slackInteractions is POST /slack/interactions. Its authentication is Slack's
// signature, checked before anything else is read or done.
func (s *server) slackInteractions(c echo.Context) error {
	h := s.slack
	if h == nil {
		return tenure.Errorf(tenure.ENOTFOUND, "Slack is not configured on this server")
	}
	r := c.Request()
	keys := []string{authlimit.ClientKey(r),
		authlimit.CredentialKey("slack-signature", strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0="))}
	if err := s.mayTry(keys...); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return tenure.Errorf(tenure.EINVALID, "the request body could not be read")
	}
	if err := h.app.Verify(r.Header, body); err != nil {
		s.limiter.Fail(keys...)
		return tenure.Errorf(tenure.EUNAUTHORIZED, "the request is not signed by Slack")
	}
	if h.ctx.Err() != nil {
		// Shutting down: Slack tells the person it did not work, rather than
		// Tenure taking a click it will not act on.
		return tenure.Errorf(tenure.EUNAVAILABLE, "Tenure is shutting down; try again in a moment")
	}
	in, invalid, err := parseSlackInteraction(body)
	if err != nil {
		return err
	}
	if invalid != nil {
		// Slack shows these under the modal's field and keeps the modal open.
		return c.JSON(http.StatusOK, map[string]any{"response_action": "errors", "errors": invalid})
	}
	if in.action != "" {
		h.goWork(func(ctx context.Context) { s.handleSlack(ctx, in) })
	}
	return c.NoContent(http.StatusOK)
}

// parseSlackInteraction reads the form body's payload. It returns an empty
// action for interactions Tenure ignores (a link button, a closed modal), and
// modal errors for a submission Slack should show again.
func parseSlackInteraction(body []byte) (slackInteraction, map[string]string, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		return slackInteraction{}, nil, tenure.Invalid(tenure.FieldError{Field: "payload", Problem: "is required: a form field holding Slack's JSON"})
	}
	var p slackPayload
	if err := json.Unmarshal([]byte(form.Get("payload")), &p); err != nil {
		return slackInteraction{}, nil, tenure.Invalid(tenure.FieldError{Field: "payload", Problem: "is not valid JSON"})
	}
	if p.User.ID == "" {
		return slackInteraction{}, nil, tenure.Invalid(tenure.FieldError{Field: "payload.user.id", Problem: "is required"})
	}
	in := slackInteraction{userID: p.User.ID, triggerID: p.TriggerID, responseURL: p.ResponseURL,
		channel: p.Container.ChannelID, messageTS: p.Container.MessageTS}
	switch p.Type {
	case "block_actions":
		if len(p.Actions) == 0 {
			return slackInteraction{}, nil, tenure.Invalid(tenure.FieldError{Field: "payload.actions", Problem: "is empty"})
		}
		a := p.Actions[0]
		switch a.ActionID {
		case slack.ActionApprove, slack.ActionDeny, slack.ActionRetry, slack.ActionRelease, slack.ActionDiscard:
		default:
			return slackInteraction{}, nil, nil
		}
		if a.Value == "" {
			return slackInteraction{}, nil, tenure.Invalid(tenure.FieldError{Field: "payload.actions.value", Problem: "is required"})
		}
		in.action, in.value, in.eventKey = a.ActionID, a.Value, a.ActionTS
	case "view_submission":
		if p.View.CallbackID != slack.DenyCallback {
			return slackInteraction{}, nil, nil
		}
		if p.View.PrivateMetadata == "" {
			return slackInteraction{}, nil, tenure.Invalid(tenure.FieldError{Field: "payload.view.private_metadata", Problem: "is required: the approval ID"})
		}
		reason := strings.TrimSpace(p.View.State.Values[slack.DenyReasonBlock][slack.DenyReasonAction].Value)
		var p2 intake.Problems
		intake.CheckText("reason", reason, slack.MaxReason, true, &p2)
		if reason == "" || p2.Err() != nil {
			return slackInteraction{}, map[string]string{slack.DenyReasonBlock: fmt.Sprintf("Give a reason of up to %d characters.", slack.MaxReason)}, nil
		}
		in.action, in.value, in.reason, in.eventKey = slack.DenyCallback, p.View.PrivateMetadata, reason, p.View.ID
	}
	return in, nil, nil
}

// handleSlack does what a verified interaction asks, after the ack.
func (s *server) handleSlack(ctx context.Context, in slackInteraction) {
	switch in.action {
	case slack.ActionApprove, slack.ActionDeny, slack.DenyCallback:
		s.slackDecide(ctx, in)
	case slack.ActionRetry:
		s.slackRetry(ctx, in)
	case slack.ActionRelease, slack.ActionDiscard:
		s.slackDecideHold(ctx, in)
	}
}

// reply tells the clicker something, when the interaction gave a way to.
func (s *server) reply(ctx context.Context, in slackInteraction, text string) {
	if in.responseURL == "" {
		return
	}
	if err := s.slack.app.Respond(ctx, in.responseURL, text); err != nil {
		s.log.WarnContext(ctx, "slack: replying to an interaction", slog.String("slack_user", in.userID), slog.String("error", err.Error()))
	}
}

// slackPerson maps the clicker to their HR record through their Slack email.
func (s *server) slackPerson(ctx context.Context, in slackInteraction) (tenure.Employee, string, error) {
	email, err := s.slack.app.UserEmail(ctx, in.userID)
	if err != nil {
		return tenure.Employee{}, "", err
	}
	e, err := s.store.FindEmployeeByEmail(ctx, email)
	return e, email, err
}

func (s *server) slackDecide(ctx context.Context, in slackInteraction) {
	log := s.log.With(slog.String("slack_user", in.userID), slog.String("approval_id", in.value), slog.String("action", in.action))
	a, err := s.store.GetApproval(ctx, in.value)
	if err != nil {
		if tenure.ErrorCode(err) == tenure.ENOTFOUND {
			s.reply(ctx, in, "Tenure has no such approval any more.")
			return
		}
		log.ErrorContext(ctx, "slack: reading the approval", slog.String("error", err.Error()))
		s.reply(ctx, in, "Tenure could not read this request just now; please try again.")
		return
	}
	person, _, err := s.slackPerson(ctx, in)
	if err != nil && tenure.ErrorCode(err) != tenure.ENOTFOUND {
		log.ErrorContext(ctx, "slack: finding who clicked", slog.String("error", err.Error()))
		s.reply(ctx, in, "Tenure could not check who you are just now; please try again.")
		return
	}
	if err != nil || !a.MayDecide(person.ID) {
		s.slackRefused(ctx, in, "approval.refused", a.EmployeeID, a.App, a.WorkflowID,
			fmt.Sprintf("Slack user %s (HR %q) may not decide approval %s (approver %s, escalated to %q)",
				in.userID, person.ID, a.ID, a.ApproverID, a.EscalatedTo))
		s.reply(ctx, in, "This isn't yours to decide: only the named approver, or whoever it was escalated to, can approve or deny it.")
		return
	}
	if a.Status != tenure.ApprovalPending {
		s.reply(ctx, in, fmt.Sprintf("This request is already %s.", a.Status))
		return
	}
	if in.action == slack.ActionDeny {
		if err := s.slack.app.OpenDenyModal(ctx, in.triggerID, a); err != nil {
			log.WarnContext(ctx, "slack: opening the deny modal", slog.String("error", err.Error()))
			s.reply(ctx, in, "Tenure could not open the form to deny this; press Deny again.")
		}
		return
	}
	if !s.slack.claim("approval/"+a.ID, s.now()) {
		s.reply(ctx, in, "Your decision on this request is already on its way.")
		return
	}
	d := tenure.Decision{ApprovalID: a.ID, Approve: in.action == slack.ActionApprove, By: person.ID, Reason: in.reason}
	status, err := s.engine.Decide(ctx, a, d)
	switch tenure.ErrorCode(err) {
	case "":
	case tenure.ECONFLICT, tenure.ENOTFOUND, tenure.EFORBIDDEN:
		// The workflow refused it: say why, in its words.
		s.reply(ctx, in, "Tenure did not record this decision: "+tenure.ErrorMessage(err))
		return
	default:
		s.slack.release("approval/" + a.ID)
		log.ErrorContext(ctx, "slack: handing the decision to the workflow", slog.String("error", err.Error()))
		s.reply(ctx, in, "Tenure could not record your decision just now; please try again.")
		return
	}
	if status == tenure.ApprovalApproved {
		s.reply(ctx, in, "Approved. Tenure is granting the access.")
	}
}

func (s *server) slackRetry(ctx context.Context, in slackInteraction) {
	log := s.log.With(slog.String("slack_user", in.userID), slog.String("action", in.action))
	employeeID, app, ok := slack.ParseRetryValue(in.value)
	if !ok || !intake.ValidHRID(employeeID) {
		log.WarnContext(ctx, "slack: a Retry button with a value Tenure did not write")
		return
	}
	actor, ok := s.slackAdminOnly(ctx, in, log, func() {
		s.slackRefused(ctx, in, "retry.refused", employeeID, app, "",
			fmt.Sprintf("Slack user %s is not a Slack admin and may not retry %s for %s", in.userID, app, employeeID))
		s.reply(ctx, in, "Only the IT admins named in TENURE_SLACK_ADMINS can retry a failed step.")
	})
	if !ok {
		return
	}
	if _, err := s.store.GetEmployee(ctx, employeeID); err != nil {
		log.WarnContext(ctx, "slack: retry for an unknown person", slog.String("error", err.Error()))
		s.reply(ctx, in, fmt.Sprintf("Tenure cannot retry: it does not know %s.", employeeID))
		return
	}
	reqID := slackRequestID(in)
	if !s.slack.claim("retry/"+reqID, s.now()) {
		s.reply(ctx, in, "This retry is already on its way.")
		return
	}
	wf, err := s.engine.Retry(ctx, employeeID, app, reqID, actor)
	if err != nil {
		s.slack.release("retry/" + reqID)
		log.ErrorContext(ctx, "slack: retrying", slog.String("error", err.Error()))
		s.reply(ctx, in, fmt.Sprintf("Tenure could not retry %s just now: %s", app, tenure.ErrorMessage(err)))
		return
	}
	text := fmt.Sprintf("Retrying %s for %s.", app, employeeID)
	if u := s.engine.RunURL(wf); u != "" {
		text += " Follow it at " + u
	}
	s.reply(ctx, in, text)
}

// slackAdmin is the one rule for what only IT may do from Slack (Retry, and
// Release or Discard on a guard hold): the clicker's Slack email must be one
// of TENURE_SLACK_ADMINS. It returns who they are in the audit trail: their
// HR ID when Tenure knows them, else slack:<their Slack ID>. Anyone else is
// EFORBIDDEN; an error finding them is any other code.
func (s *server) slackAdmin(ctx context.Context, in slackInteraction) (string, error) {
	person, email, err := s.slackPerson(ctx, in)
	if err != nil && tenure.ErrorCode(err) != tenure.ENOTFOUND {
		return "", err
	}
	if email == "" || !s.slack.admins[strings.ToLower(email)] {
		return "", tenure.Errorf(tenure.EFORBIDDEN, "Slack user %s is not one of TENURE_SLACK_ADMINS", in.userID)
	}
	if person.ID != "" {
		return person.ID, nil
	}
	return "slack:" + in.userID, nil
}

// slackAdminOnly is slackAdmin for a click that only a Slack admin may make:
// it returns the admin, or answers the click itself and returns false, through
// refuse when the one who clicked is not an admin.
func (s *server) slackAdminOnly(ctx context.Context, in slackInteraction, log *slog.Logger, refuse func()) (string, bool) {
	actor, err := s.slackAdmin(ctx, in)
	switch tenure.ErrorCode(err) {
	case "":
		return actor, true
	case tenure.EFORBIDDEN:
		refuse()
	default:
		log.ErrorContext(ctx, "slack: finding who clicked", slog.String("error", err.Error()))
		s.reply(ctx, in, "Tenure could not check who you are just now; please try again.")
	}
	return "", false
}

// slackDecideHold releases or discards a guard hold from its alert, through
// the guard as POST /api/v1/holds/{id}/release (or discard) does, for a Slack
// admin; then it rewrites the alert to show the decision. A hold decided
// already is answered with its state, and changes nothing but the alert,
// which is rewritten to show it.
func (s *server) slackDecideHold(ctx context.Context, in slackInteraction) {
	release := in.action == slack.ActionRelease
	verb := "discard"
	if release {
		verb = "release"
	}
	log := s.log.With(slog.String("slack_user", in.userID), slog.String("hold_id", in.value), slog.String("action", in.action))
	h, err := s.guard.Hold(ctx, in.value)
	switch tenure.ErrorCode(err) {
	case "":
	case tenure.ENOTFOUND:
		s.reply(ctx, in, "Tenure has no such hold.")
		return
	default:
		log.ErrorContext(ctx, "slack: reading the hold", slog.String("error", err.Error()))
		s.reply(ctx, in, "Tenure could not read this hold just now; please try again.")
		return
	}
	actor, ok := s.slackAdminOnly(ctx, in, log, func() {
		s.slackRefused(ctx, in, "guard.refused", "", "", h.WorkflowID,
			fmt.Sprintf("Slack user %s is not a Slack admin and may not %s hold %s (%s %s)", in.userID, verb, h.ID, h.Source, h.Operation))
		s.reply(ctx, in, "Only the IT admins named in TENURE_SLACK_ADMINS can release or discard a hold.")
	})
	if !ok {
		return
	}
	if h.Status != tenure.HoldOpen {
		s.reply(ctx, in, fmt.Sprintf("This hold is already %s by %s; nothing changed.", h.Status, h.DecidedBy))
		s.slackHoldDecided(ctx, in, h.Hold, "")
		return
	}
	if !s.slack.claim("hold/"+h.ID, s.now()) {
		s.reply(ctx, in, "A decision on this hold is already on its way.")
		return
	}
	decide := s.guard.Discard
	if release {
		decide = s.guard.Release
	}
	after, err := decide(ctx, h.ID, actor, "")
	switch {
	case err == nil:
	case tenure.ErrorCode(err) == tenure.ECONFLICT:
		// Decided the other way a moment ago: say so, in the guard's words,
		// and show it on the alert.
		s.reply(ctx, in, "Tenure did not record this decision: "+tenure.ErrorMessage(err))
		if now, err := s.guard.Hold(ctx, h.ID); err == nil {
			s.slackHoldDecided(ctx, in, now.Hold, "")
		}
		return
	case after.ID == "":
		// Not decided: the store or the workflow engine is unavailable.
		s.slack.release("hold/" + h.ID)
		log.ErrorContext(ctx, "slack: deciding the hold", slog.String("error", err.Error()))
		s.reply(ctx, in, "Tenure could not record your decision just now; please try again.")
		return
	default:
		// Decided, but not all of it handed on: the guard says how to finish.
		log.ErrorContext(ctx, "slack: settling the hold", slog.String("error", err.Error()))
		s.reply(ctx, in, tenure.ErrorMessage(err)+" (in the console's Holds page, or with POST /api/v1/holds/"+h.ID+"/"+verb+").")
		s.slackHoldDecided(ctx, in, after, in.userID)
		return
	}
	if release {
		s.reply(ctx, in, fmt.Sprintf("Released hold %s: the held work goes on.", h.ID))
	} else {
		s.reply(ctx, in, fmt.Sprintf("Discarded hold %s: the held work never runs.", h.ID))
	}
	s.slackHoldDecided(ctx, in, after, in.userID)
}

// slackHoldDecided rewrites the alert the click came from to show the hold's
// decision; decidedBy is the Slack user who decided it there, or "".
func (s *server) slackHoldDecided(ctx context.Context, in slackInteraction, h tenure.Hold, decidedBy string) {
	if in.channel == "" || in.messageTS == "" {
		return
	}
	if err := s.slack.app.HoldDecided(ctx, tenure.MessageRef{Channel: in.channel, TS: in.messageTS}, h, decidedBy); err != nil {
		s.log.WarnContext(ctx, "slack: rewriting a hold's alert", slog.String("hold_id", h.ID), slog.String("error", err.Error()))
	}
}

// slackRequestID names a retry by the alert it came from (one alert is one
// person and app), so two clicks on one alert retry once.
func slackRequestID(in slackInteraction) string {
	id := "slack:" + in.channel + ":" + in.messageTS
	if in.channel == "" || in.messageTS == "" {
		id = "slack:" + in.userID + ":" + in.eventKey
	}
	if intake.ValidEventID(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "slack:" + hex.EncodeToString(sum[:16])
}

// slackRefused audits a click from someone who may not do what they asked.
func (s *server) slackRefused(ctx context.Context, in slackInteraction, action, employeeID, app, workflowID, detail string) {
	err := s.store.AppendAudit(ctx, tenure.AuditRecord{
		Key: "slack/" + action + "/" + in.value + "/" + in.userID + "/" + in.eventKey,
		At:  s.now().UTC(), Actor: "slack:" + in.userID, Action: action,
		EmployeeID: employeeID, App: app, WorkflowID: workflowID, Detail: detail,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "slack: auditing a refused click", slog.String("slack_user", in.userID), slog.String("error", err.Error()))
	}
	s.log.WarnContext(ctx, "slack: refused", slog.String("slack_user", in.userID), slog.String("action", action), slog.String("value", in.value))
}
