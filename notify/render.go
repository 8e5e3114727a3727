package notify

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/dpmon/dpmon/monitor"
)

// Subject is a notification's one-line summary, for email subjects and
// chat messages.
func Subject(n monitor.Notification) string {
	a := n.AccountID
	switch n.Kind {
	case monitor.KindWarningRaised:
		return fmt.Sprintf("[dpmon] Warning for %s: act now to avoid a suspension", a)
	case monitor.KindWarningCleared:
		return fmt.Sprintf("[dpmon] Warning cleared for %s", a)
	case monitor.KindSuspended:
		return fmt.Sprintf("[dpmon] Sending suspended for %s", a)
	case monitor.KindSuspendedAgain:
		return fmt.Sprintf("[dpmon] Sending suspended again for %s during probation", a)
	case monitor.KindReinstated:
		return fmt.Sprintf("[dpmon] %s reinstated into probation", a)
	case monitor.KindProbationPassed:
		return fmt.Sprintf("[dpmon] %s passed probation", a)
	case monitor.KindTicketOpened:
		return fmt.Sprintf("[dpmon] Reinstatement ticket %s opened for %s", n.TicketID, a)
	case monitor.KindSenderBlocked:
		return fmt.Sprintf("[dpmon] Sender %s of %s blocked for bulk sending", n.Transition.Sender, a)
	case monitor.KindSenderUnblocked:
		return fmt.Sprintf("[dpmon] Sender %s of %s unblocked", n.Transition.Sender, a)
	case monitor.KindReputationLow:
		return fmt.Sprintf("[dpmon] Reputation of %s below the alert level", a)
	case monitor.KindReputationRecovered:
		return fmt.Sprintf("[dpmon] Reputation of %s recovered", a)
	}
	return fmt.Sprintf("[dpmon] %s: %s", a, n.Kind)
}

// next says what happens now, by kind, in words for the account's owner.
func next(k monitor.NotificationKind) string {
	switch k {
	case monitor.KindWarningRaised:
		return "Sending continues. Acknowledge the warning with what you are changing; if the rates reach the suspend thresholds, or the warning goes unanswered, sending is suspended."
	case monitor.KindSuspended, monitor.KindSuspendedAgain:
		return "Sending is stopped. Fix the causes, then open a reinstatement ticket that says what you changed; an administrator reviews it."
	case monitor.KindReinstated:
		return "Sending resumes under probation: until it ends, reaching any warn threshold suspends sending at once."
	case monitor.KindTicketOpened:
		return "An administrator reviews the ticket and approves or rejects it."
	case monitor.KindSenderBlocked:
		return "The account's other senders go on; this one may not send until an administrator unblocks it, on request in a ticket naming it."
	case monitor.KindReputationLow:
		return "Sending continues. The factors that cost most are named above: fix them before the rates reach the warn thresholds."
	}
	return "Nothing more is needed."
}

// Bodies renders a notification as plain text and HTML: what happened,
// what was measured, what happens next and what to do.
func Bodies(n monitor.Notification) (text, html string, err error) {
	v := bodyView{Subject: Subject(n), N: n, Next: next(n.Kind)}
	for _, f := range n.Transition.Findings {
		v.Measured = append(v.Measured, fmt.Sprintf("%s over %s: %.3f%% of %d sends (threshold %.3f%%)",
			f.Metric, f.Window, f.Rate.Value*100, f.Sends, f.Threshold*100))
	}
	var t, h strings.Builder
	if err := textBody.Execute(&t, v); err != nil {
		return "", "", err
	}
	if err := htmlBody.Execute(&h, v); err != nil {
		return "", "", err
	}
	return t.String(), h.String(), nil
}

type bodyView struct {
	Subject  string
	N        monitor.Notification
	Measured []string
	Next     string
}

var textBody = texttemplate.Must(texttemplate.New("text").Parse(`{{.Subject}}

{{.N.Transition.Reason}}
{{if .Measured}}
What was measured:
{{range .Measured}}- {{.}}
{{end}}{{end}}
What happens next: {{.Next}}
{{if .N.Transition.Recommendations}}
What to do:
{{range .N.Transition.Recommendations}}- {{.}}
{{end}}{{end}}
Account: {{.N.AccountID}}
Reference: {{.N.ID}}
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><body>
<h2>{{.Subject}}</h2>
<p>{{.N.Transition.Reason}}</p>
{{if .Measured}}<h3>What was measured</h3><ul>{{range .Measured}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h3>What happens next</h3><p>{{.Next}}</p>
{{if .N.Transition.Recommendations}}<h3>What to do</h3><ul>{{range .N.Transition.Recommendations}}<li>{{.}}</li>{{end}}</ul>{{end}}
<p style="color:#666">Account {{.N.AccountID}} · reference {{.N.ID}}</p>
</body></html>
`))
