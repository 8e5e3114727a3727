package notify

import (
	"context"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// DigestData is what the operators' digest lists.
type DigestData struct {
	At        time.Time
	Warning   []*monitor.Account
	Suspended []*monitor.Account
	Tickets   []*monitor.Ticket // open, waiting for an admin
}

// SendDigest emails the operators the accounts in warning or suspended
// and the tickets waiting. It returns whether a failure is worth
// retrying.
func (e Email) SendDigest(ctx context.Context, d DigestData) (bool, error) {
	var t, h strings.Builder
	if err := digestText.Execute(&t, d); err != nil {
		return false, err
	}
	if err := digestHTML.Execute(&h, d); err != nil {
		return false, err
	}
	subject := fmt.Sprintf("[dpmon] Digest: %d warned, %d suspended, %d tickets waiting", len(d.Warning), len(d.Suspended), len(d.Tickets))
	return e.Send(ctx, e.To, subject, "digest-"+d.At.UTC().Format("20060102T150405Z"), t.String(), h.String())
}

var digestFuncs = map[string]any{"day": func(t time.Time) string { return t.UTC().Format(time.RFC3339) }}

var digestText = texttemplate.Must(texttemplate.New("digest").Funcs(digestFuncs).Parse(`dpmon digest of {{day .At}}

Suspended ({{len .Suspended}}):
{{range .Suspended}}- {{.ID}} since {{day .State.Since}}: {{.State.Reason}}
{{else}}  none
{{end}}
In warning ({{len .Warning}}):
{{range .Warning}}- {{.ID}} since {{day .State.Since}}{{if .State.AckedAt.IsZero}} (not acknowledged){{end}}: {{.State.Reason}}
{{else}}  none
{{end}}
Tickets waiting ({{len .Tickets}}):
{{range .Tickets}}- {{.ID}} for {{.AccountID}}, opened {{day .CreatedAt}} by {{.CreatedBy}}; {{len .Approvals}} of {{.RequiredApprovals}} approvals
{{else}}  none
{{end}}`))

var digestHTML = htmltemplate.Must(htmltemplate.New("digest").Funcs(digestFuncs).Parse(`<!DOCTYPE html>
<html><body>
<h2>dpmon digest of {{day .At}}</h2>
<h3>Suspended ({{len .Suspended}})</h3><ul>{{range .Suspended}}<li><b>{{.ID}}</b> since {{day .State.Since}}: {{.State.Reason}}</li>{{else}}<li>none</li>{{end}}</ul>
<h3>In warning ({{len .Warning}})</h3><ul>{{range .Warning}}<li><b>{{.ID}}</b> since {{day .State.Since}}{{if .State.AckedAt.IsZero}} (not acknowledged){{end}}: {{.State.Reason}}</li>{{else}}<li>none</li>{{end}}</ul>
<h3>Tickets waiting ({{len .Tickets}})</h3><ul>{{range .Tickets}}<li><b>{{.ID}}</b> for {{.AccountID}}, opened {{day .CreatedAt}} by {{.CreatedBy}}; {{len .Approvals}} of {{.RequiredApprovals}} approvals</li>{{else}}<li>none</li>{{end}}</ul>
</body></html>
`))

// DigestStore is what the digest reads; the store is one.
type DigestStore interface {
	AccountsInPhase(ctx context.Context, p monitor.Phase) ([]*monitor.Account, error)
	OpenTickets(ctx context.Context) ([]*monitor.Ticket, error)
}

// Digest gathers the accounts in warning or suspended and the open
// tickets and emails them to the operators: the body of the digest job.
func Digest(ctx context.Context, src DigestStore, email Email, now time.Time) error {
	d := DigestData{At: now}
	var err error
	if d.Warning, err = src.AccountsInPhase(ctx, monitor.PhaseWarning); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if d.Suspended, err = src.AccountsInPhase(ctx, monitor.PhaseSuspended); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if d.Tickets, err = src.OpenTickets(ctx); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if _, err := email.SendDigest(ctx, d); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	return nil
}
