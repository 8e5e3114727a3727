package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/internal/testpki"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/store"
)

func suspension() monitor.Notification {
	return monitor.Notification{
		ID: "dpmon-test-1", Kind: monitor.KindSuspended, AccountID: "acme", Recipients: []string{"owner@acme.example"},
		Transition: monitor.Transition{
			AccountID: "acme", At: t0, From: monitor.PhaseWarning, To: monitor.PhaseSuspended,
			Reason: "Sending is suspended. Your hard-bounce rate over the last 24h is 9.00% of 1000 sends.",
			Findings: []monitor.Finding{{Metric: monitor.MetricHardBounceRate, Window: "24h", Rate: monitor.Rate{Value: 0.09},
				Threshold: 0.08, Severity: monitor.SeverityCritical, Sends: 1000}},
			Recommendations: []string{"Remove every address that hard-bounced from your lists & never mail it again."},
		},
	}
}

// An email to the account's admins goes through STARTTLS and
// authentication to a real SMTP server, with a clear subject, what was
// measured, what happens next and what to do, as text and as HTML.
func TestEmailThroughMailpit(t *testing.T) {
	pki := testpki.New(t, "unused")
	mp := startMailpit(t, pki.CertFile, pki.KeyFile, "dpmon:s3cret")
	email := Email{Addr: mp.smtp, From: "dpmon@example.com", Username: "dpmon", Password: "s3cret",
		StartTLS: true, TLS: &tls.Config{RootCAs: pki.Pool, ServerName: "127.0.0.1"}}
	if retry, err := email.Deliver(context.Background(), suspension()); err != nil {
		t.Fatalf("deliver: retry %v, %v", retry, err)
	}
	msgs := mp.messages(t)
	if len(msgs) != 1 {
		t.Fatalf("Mailpit got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "[dpmon] Sending suspended for acme" || len(m.To) != 1 || m.To[0].Address != "owner@acme.example" {
		t.Errorf("subject %q to %v", m.Subject, m.To)
	}
	for _, want := range []string{"Your hard-bounce rate over the last 24h is 9.00%", "What was measured:", "hard-bounce rate over 24h: 9.000% of 1000 sends (threshold 8.000%)",
		"What happens next: Sending is stopped.", "- Remove every address that hard-bounced from your lists & never mail it again.", "Reference: dpmon-test-1"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{"<h3>What to do</h3>", "never mail it again", "lists &amp; never"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
		}
	}

	// A wrong password is refused for good (535): not worth retrying.
	email.Password = "wrong"
	if retry, err := email.Deliver(context.Background(), suspension()); err == nil || retry {
		t.Errorf("a wrong password: retry %v, %v; want a failure not worth retrying", retry, err)
	}
	// A server that is not there is worth retrying.
	email.Addr = freeAddr(t)
	if retry, err := email.Deliver(context.Background(), suspension()); err == nil || !retry {
		t.Errorf("no server: retry %v, %v; want a failure worth retrying", retry, err)
	}
}

// The digest lists the accounts in warning or suspended and the tickets
// waiting, read from a real store, and reaches the operators by email.
func TestDigestThroughMailpit(t *testing.T) {
	pki := testpki.New(t, "unused")
	mp := startMailpit(t, pki.CertFile, pki.KeyFile, "dpmon:s3cret")
	c := monitortest.New(t0)
	db, err := store.Open(t.TempDir(), store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	warn(t, db, "beta")
	warn(t, db, "acme")
	suspend(t, db, "gamma")
	tk, err := db.CreateTicket(context.Background(), "gamma", "", "Removed the bought list.", monitor.Checklist{}, store.Actor{Name: "platform-a", Role: "sender"})
	if err != nil {
		t.Fatal(err)
	}
	email := Email{Addr: mp.smtp, From: "dpmon@example.com", To: []string{"ops@example.com"}, Username: "dpmon", Password: "s3cret",
		StartTLS: true, TLS: &tls.Config{RootCAs: pki.Pool, ServerName: "127.0.0.1"}}
	if err := Digest(context.Background(), db, email, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	msgs := mp.messages(t)
	if len(msgs) != 1 || msgs[0].Subject != "[dpmon] Digest: 2 warned, 1 suspended, 1 tickets waiting" {
		t.Fatalf("messages: %+v", msgs)
	}
	for _, want := range []string{"- gamma since 2026-11-24T10:00:00Z: Sending is suspended.", "- acme since", "(not acknowledged)", "- " + tk.ID + " for gamma"} {
		if !strings.Contains(msgs[0].Text, want) {
			t.Errorf("digest lacks %q:\n%s", want, msgs[0].Text)
		}
	}
}

// suspend drives account to suspended: 10 % hard bounces.
func suspend(t *testing.T, db *store.DB, account string) {
	t.Helper()
	warn(t, db, account)
	var evs []monitor.Event
	for i := range 100 {
		evs = append(evs, monitor.Event{ID: fmt.Sprint("x", i), AccountID: account, Type: monitor.EventBounce, OccurredAt: t0,
			Recipient: "r@example.com", Bounce: &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}})
	}
	if _, err := db.Ingest(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}
