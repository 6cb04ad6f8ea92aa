package slack

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/tenure-io/tenure"
)

// Slack's limits on Block Kit text, kept well inside.
const (
	maxSectionText = 2900
	maxFieldText   = 1900
	maxHeaderText  = 150
)

// timeLayout is how times read in messages; Slack shows them as they are.
const timeLayout = "2006-01-02 15:04 UTC"

// esc makes HR-supplied text safe in mrkdwn: Slack reads <...> as links and
// mentions (<!channel>), so a name must never be able to ping a channel.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, clip(s, maxSectionText), false, false)
}

func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, clip(s, maxHeaderText), false, false)
}

func section(text string) *slackapi.SectionBlock {
	return slackapi.NewSectionBlock(mrkdwn(text), nil, nil)
}

// fieldsSection lays out label/value pairs two by two; Slack allows ten fields.
func fieldsSection(pairs ...string) *slackapi.SectionBlock {
	var fields []*slackapi.TextBlockObject
	for i := 0; i+1 < len(pairs) && len(fields) < 10; i += 2 {
		fields = append(fields, slackapi.NewTextBlockObject(slackapi.MarkdownType,
			clip("*"+pairs[i]+"*\n"+esc(orDash(pairs[i+1])), maxFieldText), false, false))
	}
	return slackapi.NewSectionBlock(nil, fields, nil)
}

func contextLine(text string) *slackapi.ContextBlock {
	return slackapi.NewContextBlock("", mrkdwn(text))
}

func linkButton(actionID, text, url string) *slackapi.ButtonBlockElement {
	b := slackapi.NewButtonBlockElement(actionID, "", plain(text))
	b.URL = url
	return b
}

// personLabel is "Ada Lovelace (ada@example.com)", or whatever of it is known.
func personLabel(p tenure.Person) string {
	name := p.DisplayName()
	switch {
	case name == "" && p.Email == "":
		return p.ID
	case name == "":
		return p.Email
	case p.Email == "":
		return name
	}
	return name + " (" + p.Email + ")"
}

// grantLabel is "aws / production-admin", or "aws" for the account alone.
func grantLabel(a tenure.Approval) string {
	if a.Entitlement == "" {
		return a.App
	}
	return a.App + " / " + a.Entitlement
}

func startDate(p tenure.Person) string {
	if p.StartDate == "" {
		return "not set"
	}
	return p.StartDate
}

// requestSummary shows who the access is for, what is asked and who asked.
func requestSummary(n tenure.ApprovalNotice) []slackapi.Block {
	a := n.Approval
	entitlement := a.Entitlement
	if entitlement == "" {
		entitlement = "an account"
	}
	return []slackapi.Block{
		fieldsSection(
			"Person", personLabel(n.Person),
			"Title", n.Person.Title,
			"Department", n.Person.Department,
			"Start date", startDate(n.Person),
			"App", a.App,
			"Entitlement", entitlement,
			"Policy rule", a.Rule,
			"Requested by", n.RequestedBy,
		),
		contextLine(fmt.Sprintf("Approval `%s` · requested %s · approver: %s",
			esc(a.ID), a.RequestedAt.UTC().Format(timeLayout), esc(string(a.Approver)))),
	}
}

// approvalButtons are Approve and Deny; the block ID and both values carry the
// approval ID, which is all the API needs to find it again.
func approvalButtons(a tenure.Approval) *slackapi.ActionBlock {
	approve := slackapi.NewButtonBlockElement(ActionApprove, a.ID, plain("Approve"))
	approve.Style = slackapi.StylePrimary
	deny := slackapi.NewButtonBlockElement(ActionDeny, a.ID, plain("Deny"))
	deny.Style = slackapi.StyleDanger
	return slackapi.NewActionBlock(ApprovalBlockPrefix+a.ID, approve, deny)
}

// requestBlocks is an approval request: a line saying why the reader is asked,
// the request, and the buttons.
func requestBlocks(intro string, n tenure.ApprovalNotice) []slackapi.Block {
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain("Access request: " + grantLabel(n.Approval))),
		section(intro),
	}
	blocks = append(blocks, requestSummary(n)...)
	return append(blocks, approvalButtons(n.Approval))
}

// decidedBlocks replace a request once it is decided: the same summary, the
// outcome, who decided and when, and no buttons.
func decidedBlocks(n tenure.ApprovalNotice) []slackapi.Block {
	a := n.Approval
	outcome := decisionLine(n)
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain("Access request: " + grantLabel(a))),
		section(outcome),
	}
	return append(blocks, requestSummary(n)...)
}

// decisionLine says what was decided, by whom and when.
func decisionLine(n tenure.ApprovalNotice) string {
	a := n.Approval
	when := "at an unrecorded time"
	if a.DecidedAt != nil {
		when = "on " + a.DecidedAt.UTC().Format(timeLayout)
	}
	by := deciderLabel(n)
	var line string
	switch a.Status {
	case tenure.ApprovalApproved:
		line = fmt.Sprintf(":white_check_mark: *Approved* by %s %s.", by, when)
	case tenure.ApprovalDenied:
		line = fmt.Sprintf(":no_entry: *Denied* by %s %s.", by, when)
	case tenure.ApprovalExpired:
		line = fmt.Sprintf(":hourglass: *Expired* with no decision %s; it counts as a denial.", when)
	default:
		line = fmt.Sprintf("*%s* %s.", esc(string(a.Status)), when)
	}
	if a.Reason != "" {
		line += "\n>" + strings.ReplaceAll(esc(clip(a.Reason, MaxReason)), "\n", "\n>")
	}
	return line
}

// deciderLabel names who decided: the HR record when the notice carries it,
// otherwise the ID the decision was made under (an API principal, say).
func deciderLabel(n tenure.ApprovalNotice) string {
	by := n.Approval.DecidedBy
	if by == "" {
		return "someone unrecorded"
	}
	if n.Approver.ID == by && n.Approver.DisplayName() != "" {
		return esc(n.Approver.DisplayName()) + " (`" + esc(by) + "`)"
	}
	return "`" + esc(by) + "`"
}

// requestText is the notification text shown where blocks are not (push
// notifications, screen readers).
func requestText(n tenure.ApprovalNotice) string {
	return fmt.Sprintf("%s needs %s: approve or deny", n.Person.DisplayName(), grantLabel(n.Approval))
}

// accountLines lists accounts one per line: app, account, entitlements, status.
func accountLines(accounts []tenure.Account, withTime bool) string {
	if len(accounts) == 0 {
		return "_none_"
	}
	var b strings.Builder
	for _, acct := range accounts {
		fmt.Fprintf(&b, "• *%s*", esc(acct.App))
		if acct.AccountID != "" {
			fmt.Fprintf(&b, " account `%s`", esc(acct.AccountID))
		}
		if len(acct.Entitlements) > 0 {
			fmt.Fprintf(&b, " (%s)", esc(strings.Join(acct.Entitlements, ", ")))
		}
		fmt.Fprintf(&b, ": %s", esc(string(acct.Status)))
		if withTime && acct.VerifiedAt != nil && !acct.VerifiedAt.IsZero() {
			fmt.Fprintf(&b, ", verified %s", acct.VerifiedAt.UTC().Format(timeLayout))
		}
		if acct.Error != "" {
			fmt.Fprintf(&b, " — %s", esc(clip(acct.Error, 300)))
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// RetryValue is the value of a Retry button: the employee's HR ID and the app.
func RetryValue(employeeID, app string) string { return employeeID + "|" + app }

// ParseRetryValue splits a Retry button's value; ok is false when it is not one.
func ParseRetryValue(v string) (employeeID, app string, ok bool) {
	employeeID, app, ok = strings.Cut(v, "|")
	return employeeID, app, ok && employeeID != "" && app != ""
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }
