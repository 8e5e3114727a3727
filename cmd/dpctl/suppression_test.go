package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestRunSuppression(t *testing.T) {
	d := startDpmon(t, t0)
	t.Setenv("DPMON_ADDR", d.addr)
	d.ingest(t, []string{fmt.Sprintf(`{"event_id":"u1","account_id":"acme","type":"EVENT_TYPE_UNSUBSCRIBE","occurred_at":%q,"recipient":"Bye@Example.org"}`,
		t0.Format(time.RFC3339))})

	if _, _, err := runDpctl(t, "suppression", "add", "acme", "joe@example.org", "--note", "asked by phone"); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runDpctl(t, "suppression", "check", "acme", "Bye@example.ORG", "joe@example.org", "new@example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := "RECIPIENT        ALLOWED  STATUS      REASON        UNTIL\n" +
		"Bye@example.ORG  no       suppressed  unsubscribed  -\n" +
		"joe@example.org  no       suppressed  manual        -\n" +
		"new@example.org  yes      active      -             -\n"
	if stdout != want {
		t.Errorf("check: got:\n%s\nwant:\n%s", stdout, want)
	}

	stdout, _, err = runDpctl(t, "suppression", "list", "acme", "--reason", "manual", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list dpmonv1.ListSuppressionsResponse
	unmarshalOutput(t, stdout, &list)
	if len(list.GetRecipients()) != 1 || list.GetRecipients()[0].GetRecipient() != "joe@example.org" {
		t.Errorf("list --reason manual: got %v, want joe@example.org only", list.GetRecipients())
	}

	stdout, _, err = runDpctl(t, "suppression", "export", "--format", "jsonl", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"recipient":"Bye@example.org"`) {
		t.Errorf("export: got %q, want two JSON lines, Bye@example.org first", stdout)
	}
	stdout, _, err = runDpctl(t, "suppression", "export", "acme")
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); err != nil || len(lines) != 3 || lines[0] != "recipient,reason,since,note" || !strings.HasPrefix(lines[1], "Bye@example.org,") {
		t.Errorf("export as CSV: got %q, %v; want the header and two rows, Bye@example.org first", stdout, err)
	}

	if _, _, err := runDpctl(t, "suppression", "delete", "acme", "joe@example.org", "--note", "owner confirmed"); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = runDpctl(t, "suppression", "get", "acme", "joe@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "status        active") || !strings.Contains(stdout, ": asked by phone") || !strings.Contains(stdout, ": owner confirmed") {
		t.Errorf("get: got:\n%s\nwant active with both manual changes in the history", stdout)
	}

	stdout, _, err = runDpctl(t, "check-send", "acme", "bye@example.org", "Bye@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "bye@example.org  yes") || !strings.Contains(stdout, "Bye@example.org  no ") {
		t.Errorf("check-send with recipients: got:\n%s", stdout)
	}

	if _, _, err := runDpctl(t, "suppression", "add", "acme", "joe@example.org"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("add without a note: got %v, want InvalidArgument", err)
	}
	if _, _, err := runDpctl(t, "suppression", "list", "acme", "--reason", "nonsense"); err == nil || !strings.Contains(err.Error(), "unknown value") {
		t.Errorf("list with an unknown reason: got %v, want a usage error", err)
	}
}

func TestPrintRecipientHistory(t *testing.T) {
	resp := &dpmonv1.GetRecipientResponse{
		Recipient: &dpmonv1.Recipient{Recipient: "jane@gmail.com", Status: dpmonv1.RecipientStatus_RECIPIENT_STATUS_SUPPRESSED,
			Reason: dpmonv1.SuppressionReason_SUPPRESSION_REASON_HARD_BOUNCE},
		History: []*dpmonv1.RecipientChange{{
			Kind: dpmonv1.RecipientChangeKind_RECIPIENT_CHANGE_KIND_HARD_BOUNCE, EventId: "b1",
			Description:  "Hard bounce at a large mailbox provider: suppressed at once.",
			Bounce:       &dpmonv1.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 no such user", Class: dpmonv1.BounceClass_BOUNCE_CLASS_HARD},
			BounceReason: dpmonv1.BounceReason_BOUNCE_REASON_USER_UNKNOWN, BounceRule: `text:user-unknown "no such user"`,
		}},
	}
	var b strings.Builder
	if err := printRecipient(&b, resp); err != nil {
		t.Fatal(err)
	}
	want := "-  hard bounce  Hard bounce at a large mailbox provider: suppressed at once.\n" +
		"    event b1\n" +
		"    reply (code 550, status 5.1.1) 550 5.1.1 no such user\n" +
		"    classified hard, user unknown, by text:user-unknown \"no such user\"\n"
	if got := b.String(); !strings.HasSuffix(got, want) {
		t.Errorf("got:\n%s\nwant it to end with:\n%s", got, want)
	}
}
