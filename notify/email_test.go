package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/internal/testnet"
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
	email.Addr = testnet.FreeAddr(t)
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
	tk, err := db.CreateTicket(context.Background(), "gamma", "", "Removed the bought list.", monitor.Checklist{}, monitor.Actor{Name: "platform-a", Role: "sender"})
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

// An email carries what users typed as text: an account id or a reason
// with a line break adds no header line (a Bcc, say), the subject decodes
// to what it was, and the HTML part shows markup rather than running it.
func TestAnEmailCarriesHostileValuesAsText(t *testing.T) {
	n := suspension()
	n.AccountID = hostile + "\r\nBcc: victim@example.com"
	n.Transition.Reason = "Admin's note: <script>alert(1)</script>\r\nBcc: victim@example.com"
	text, html, err := Bodies(n)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := message("dpmon@example.com", []string{"owner@acme.example"}, Subject(n), n.ID, text, html)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range msg.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To", "X-Dpmon-Delivery"}; !slices.Equal(keys, want) {
		t.Errorf("headers %v, want %v", keys, want)
	}
	if subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil || subject != Subject(n) {
		t.Errorf("subject %q (%v), want %q", subject, err, Subject(n))
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // undoes the quoted-printable encoding
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts[p.Header.Get("Content-Type")] = string(b)
	}
	if got := parts["text/plain; charset=utf-8"]; !strings.Contains(got, n.Transition.Reason) || !strings.Contains(got, "Account: "+n.AccountID) {
		t.Errorf("the text part lacks the reason or the account as typed:\n%s", got)
	}
	got := parts["text/html; charset=utf-8"]
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;!channel&gt; &lt;https://evil.example/login|Click here to restore sending&gt;"} {
		if !strings.Contains(got, want) {
			t.Errorf("the HTML part lacks %q:\n%s", want, got)
		}
	}
	for _, markup := range []string{"<script>", "<!channel>", "<https://"} {
		if strings.Contains(got, markup) {
			t.Errorf("the HTML part holds %q as markup:\n%s", markup, got)
		}
	}
}

// Addresses and ids are checked before they reach an email, but a line
// break in one must not reach its header either: it would start a header
// of its own.
func TestAHeaderValueCannotBreakItsLine(t *testing.T) {
	for _, tc := range []struct {
		from, to, id string
	}{
		{"dpmon@example.com\r\nBcc: victim@example.com", "owner@acme.example", "dpmon-x-9"},
		{"dpmon@example.com", "owner@acme.example\r\nBcc: victim@example.com", "dpmon-x-9"},
		{"dpmon@example.com", "owner@acme.example", "dpmon-x-9\nBcc: victim@example.com"},
	} {
		if _, err := message(tc.from, []string{tc.to}, "Hi", tc.id, "text", "<p>html</p>"); err == nil {
			t.Errorf("from %q to %q id %q: built, want an error", tc.from, tc.to, tc.id)
		}
	}
}
