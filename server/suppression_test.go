package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// toRecipient builds an event of typ for one recipient of acme.
func toRecipient(id string, typ pb.EventType, recipient string, b *pb.Bounce) *pb.Event {
	return &pb.Event{EventId: id, AccountId: "acme", Type: typ, OccurredAt: timestamppb.New(t0), Recipient: recipient, Bounce: b}
}

const (
	bounceType = pb.EventType_EVENT_TYPE_BOUNCE
	active     = pb.RecipientStatus_RECIPIENT_STATUS_ACTIVE
	blocked    = pb.RecipientStatus_RECIPIENT_STATUS_TEMPORARILY_BLOCKED
	suppressed = pb.RecipientStatus_RECIPIENT_STATUS_SUPPRESSED
)

func TestFromIngestedBouncesToCheckRecipients(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	gmailUnknown := &pb.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos."}
	resp := e.ingest(t, []*pb.Event{
		toRecipient("b1", bounceType, "Jane@GMail.com", gmailUnknown),
		toRecipient("b2", bounceType, "full@example.org", &pb.Bounce{SmtpCode: 452, EnhancedStatus: "4.2.2", Diagnostic: "452 4.2.2 Mailbox full"}),
		// The text names a blocklist: it refuses the sender, not the address.
		toRecipient("b3", bounceType, "fine@example.org", &pb.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org"}),
		toRecipient("c1", pb.EventType_EVENT_TYPE_COMPLAINT, "angry@example.org", nil),
		toRecipient("u1", pb.EventType_EVENT_TYPE_UNSUBSCRIBE, "bye@example.org", nil),
	})
	if resp.GetAccepted() != 5 {
		t.Fatalf("accepted %d of 5: %v", resp.GetAccepted(), resp.GetRejected())
	}
	asked := []string{"jane@gmail.com", "Jane@gmail.COM", "full@example.org", "fine@example.org", "angry@example.org", "bye@example.org", "new@example.org"}
	want := []struct {
		allowed bool
		status  pb.RecipientStatus
		reason  pb.SuppressionReason
	}{
		{true, active, 0}, // the local part's case counts
		{false, suppressed, pb.SuppressionReason_SUPPRESSION_REASON_HARD_BOUNCE},
		{false, blocked, pb.SuppressionReason_SUPPRESSION_REASON_SOFT_BOUNCE},
		{true, active, 0},
		{false, suppressed, pb.SuppressionReason_SUPPRESSION_REASON_COMPLAINT},
		{false, suppressed, pb.SuppressionReason_SUPPRESSION_REASON_UNSUBSCRIBED},
		{true, active, 0},
	}
	check, err := e.suppress.CheckRecipients(ctx, &pb.CheckRecipientsRequest{AccountId: "acme", Recipients: asked})
	if err != nil {
		t.Fatal(err)
	}
	if len(check.GetResults()) != len(asked) {
		t.Fatalf("got %d results, want %d", len(check.GetResults()), len(asked))
	}
	for i, r := range check.GetResults() {
		w := want[i]
		if r.GetRecipient() != asked[i] || r.GetAllowed() != w.allowed || r.GetStatus() != w.status || r.GetReason() != w.reason {
			t.Errorf("%s: got %v %v/%v (for %q), want %v %v/%v", asked[i], r.GetAllowed(), r.GetStatus(), r.GetReason(), r.GetRecipient(), w.allowed, w.status, w.reason)
		}
	}
	if until := check.GetResults()[2].GetUntil().AsTime(); !until.Equal(t0.Add(72 * time.Hour)) {
		t.Errorf("soft-bounce block until %v, want %v", until, t0.Add(72*time.Hour))
	}
	if acc := e.account(t, "acme"); acc.GetWindows()[0].GetBlocks() != 1 || acc.GetWindows()[0].GetHardBounces() != 1 {
		t.Errorf("account windows: got %d blocks and %d hard bounces, want 1 and 1", acc.GetWindows()[0].GetBlocks(), acc.GetWindows()[0].GetHardBounces())
	}

	// CheckSend answers for the same recipients in the same way.
	send, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme", Recipients: asked})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range send.GetRecipients() {
		if r.GetAllowed() != want[i].allowed {
			t.Errorf("CheckSend %s: got allowed %v, want %v", asked[i], r.GetAllowed(), want[i].allowed)
		}
	}

	// The history keeps the event and the server's full reply.
	got, err := e.suppress.GetRecipient(ctx, &pb.GetRecipientRequest{AccountId: "acme", Recipient: "Jane@gmail.com"})
	if err != nil {
		t.Fatal(err)
	}
	h := got.GetHistory()
	if len(h) != 1 || h[0].GetEventId() != "b1" || h[0].GetBounce().GetDiagnostic() != gmailUnknown.GetDiagnostic() ||
		h[0].GetKind() != pb.RecipientChangeKind_RECIPIENT_CHANGE_KIND_HARD_BOUNCE || h[0].GetDescription() == "" ||
		h[0].GetBounceReason() != pb.BounceReason_BOUNCE_REASON_USER_UNKNOWN || !strings.HasPrefix(h[0].GetBounceRule(), "text:user-unknown") {
		t.Errorf("history: got %v, want the hard bounce b1 with its reply", h)
	}
}

func TestASuspendedAccountMayMailNoRecipient(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, many(1000, send, "acme", "s"))
	e.ingest(t, many(80, hardBounce, "acme", "b"))
	resp, err := e.accounts.CheckSend(context.Background(), &pb.CheckSendRequest{AccountId: "acme", Recipients: []string{"new@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAllowed() || resp.GetRecipients()[0].GetAllowed() || resp.GetRecipients()[0].GetStatus() != active {
		t.Errorf("got %v, want the account and its active recipient not allowed", resp)
	}
}

func TestManualSuppressionOverGRPC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	add, err := e.suppress.AddSuppression(ctx, &pb.AddSuppressionRequest{AccountId: "acme", Recipient: "joe@Example.org", Note: "asked by phone"})
	if err != nil {
		t.Fatal(err)
	}
	if r := add.GetRecipient(); r.GetStatus() != suppressed || r.GetReason() != pb.SuppressionReason_SUPPRESSION_REASON_MANUAL || r.GetRecipient() != "joe@example.org" {
		t.Fatalf("got %v, want joe@example.org suppressed by hand", r)
	}
	_, err = e.suppress.AddSuppression(ctx, &pb.AddSuppressionRequest{AccountId: "acme", Recipient: "joe@example.org", Note: "again"})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("adding twice: got %v, want ALREADY_EXISTS", err)
	}
	if _, err := e.suppress.DeleteSuppression(ctx, &pb.DeleteSuppressionRequest{AccountId: "acme", Recipient: "joe@example.org", Note: "confirmed by the owner"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.suppress.DeleteSuppression(ctx, &pb.DeleteSuppressionRequest{AccountId: "acme", Recipient: "joe@example.org", Note: "again"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("deleting twice: got %v, want FAILED_PRECONDITION", err)
	}
	got, err := e.suppress.GetRecipient(ctx, &pb.GetRecipientRequest{AccountId: "acme", Recipient: "joe@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	h := got.GetHistory()
	if len(h) != 2 || h[1].GetNote() != "confirmed by the owner" || h[1].GetActor() != "unauthenticated caller at 127.0.0.1" {
		t.Errorf("history: got %v, want the add and the delete with who and why", h)
	}
}

func TestSuppressionRequestErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tooMany := make([]string, MaxRecipients+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("r%d@example.org", i)
	}
	for _, tc := range []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"malformed recipient", func() error {
			_, err := e.suppress.CheckRecipients(ctx, &pb.CheckRecipientsRequest{AccountId: "acme", Recipients: []string{"ok@example.org", "not an address"}})
			return err
		}, codes.InvalidArgument, "recipients[1]"},
		{"too many recipients", func() error {
			_, err := e.suppress.CheckRecipients(ctx, &pb.CheckRecipientsRequest{AccountId: "acme", Recipients: tooMany})
			return err
		}, codes.InvalidArgument, "recipients"},
		{"malformed recipient in CheckSend", func() error {
			_, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme", Recipients: []string{"@example.org"}})
			return err
		}, codes.InvalidArgument, "recipients[0]"},
		{"no account", func() error {
			_, err := e.suppress.CheckRecipients(ctx, &pb.CheckRecipientsRequest{Recipients: []string{"ok@example.org"}})
			return err
		}, codes.InvalidArgument, "account_id"},
		{"manual change without a note", func() error {
			_, err := e.suppress.AddSuppression(ctx, &pb.AddSuppressionRequest{AccountId: "acme", Recipient: "joe@example.org"})
			return err
		}, codes.InvalidArgument, "note"},
		{"list by the active status", func() error {
			_, err := e.suppress.ListSuppressions(ctx, &pb.ListSuppressionsRequest{AccountId: "acme", Status: active})
			return err
		}, codes.InvalidArgument, "status"},
		{"bad page token", func() error {
			_, err := e.suppress.ListSuppressions(ctx, &pb.ListSuppressionsRequest{AccountId: "acme", PageToken: "%%%"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"unknown recipient", func() error {
			_, err := e.suppress.GetRecipient(ctx, &pb.GetRecipientRequest{AccountId: "acme", Recipient: "nobody@example.org"})
			return err
		}, codes.NotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
			if tc.field != "" {
				assertFieldViolation(t, err, tc.field)
			}
		})
	}
}

func TestListAndExportSuppressions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var evs []*pb.Event
	for i := range 2500 {
		evs = append(evs, toRecipient(fmt.Sprint("u", i), pb.EventType_EVENT_TYPE_UNSUBSCRIBE, fmt.Sprintf("r%04d@example.org", i), nil))
	}
	e.ingest(t, evs)
	listed, pages, token := 0, 0, ""
	for {
		resp, err := e.suppress.ListSuppressions(ctx, &pb.ListSuppressionsRequest{AccountId: "acme", PageSize: 1000, PageToken: token,
			Reason: pb.SuppressionReason_SUPPRESSION_REASON_UNSUBSCRIBED})
		if err != nil {
			t.Fatal(err)
		}
		listed += len(resp.GetRecipients())
		pages++
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if listed != 2500 || pages != 3 {
		t.Errorf("list: got %d in %d pages, want 2500 in 3", listed, pages)
	}
	stream, err := e.suppress.ExportSuppressions(ctx, &pb.ExportSuppressionsRequest{AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	exported, last := 0, ""
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range msg.GetRecipients() {
			if r.GetRecipient() <= last {
				t.Fatalf("export out of order: %s after %s", r.GetRecipient(), last)
			}
			last = r.GetRecipient()
			exported++
		}
	}
	if exported != 2500 {
		t.Errorf("export: got %d, want 2500", exported)
	}
}

func TestImportSuppressions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.suppress.ImportSuppressions(ctx, &pb.ImportSuppressionsRequest{AccountId: "acme",
		Suppressions: []*pb.ImportedSuppression{{Recipient: "a@example.com", Reason: pb.SuppressionReason_SUPPRESSION_REASON_MANUAL}}}); status.Code(err) != codes.NotFound {
		t.Errorf("an import into an account dpmon does not know: %v, want NOT_FOUND", err)
	}
	e.ingest(t, []*pb.Event{send("acme", "s-1")})
	rows := []*pb.ImportedSuppression{
		{Recipient: "a@example.com", Reason: pb.SuppressionReason_SUPPRESSION_REASON_HARD_BOUNCE, Since: timestamppb.New(t0.Add(-time.Hour))},
		{Recipient: "not an address", Reason: pb.SuppressionReason_SUPPRESSION_REASON_COMPLAINT},
		{Recipient: "b@example.com", Reason: pb.SuppressionReason_SUPPRESSION_REASON_SOFT_BOUNCE},
		{Recipient: "c@Example.COM", Reason: pb.SuppressionReason_SUPPRESSION_REASON_UNSUBSCRIBED},
		{Recipient: "c@example.com", Reason: pb.SuppressionReason_SUPPRESSION_REASON_UNSUBSCRIBED},
	}
	resp, err := e.suppress.ImportSuppressions(ctx, &pb.ImportSuppressionsRequest{AccountId: "acme", Suppressions: rows, Source: "list.csv"})
	if err != nil || resp.GetAdded() != 2 || resp.GetAlready() != 1 || len(resp.GetRejected()) != 2 ||
		resp.GetRejected()[0].GetField() != "suppressions[1].recipient" || resp.GetRejected()[1].GetField() != "suppressions[2].reason" {
		t.Fatalf("import: %v, %v; want 2 added, 1 already (the same address twice), rows 1 and 2 rejected", resp, err)
	}
	resp, err = e.suppress.ImportSuppressions(ctx, &pb.ImportSuppressionsRequest{AccountId: "acme", Suppressions: rows})
	if err != nil || resp.GetAdded() != 0 || resp.GetAlready() != 3 {
		t.Errorf("the same rows again: %v, %v; want nothing added", resp, err)
	}
	got, err := e.suppress.GetRecipient(ctx, &pb.GetRecipientRequest{AccountId: "acme", Recipient: "a@example.com"})
	if err != nil || got.GetRecipient().GetReason() != pb.SuppressionReason_SUPPRESSION_REASON_HARD_BOUNCE || !got.GetRecipient().GetSince().AsTime().Equal(t0.Add(-time.Hour)) {
		t.Errorf("an imported address: %v, %v", got, err)
	}
	_, err = e.suppress.ImportSuppressions(ctx, &pb.ImportSuppressionsRequest{AccountId: "acme", Suppressions: make([]*pb.ImportedSuppression, maxImportRows+1)})
	assertFieldViolation(t, err, "suppressions")
}
