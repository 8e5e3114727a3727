package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// mailTo is a send from sender to recipient at t.
func mailTo(account, id, sender, recipient string, at time.Time) *pb.Event {
	return &pb.Event{EventId: id, AccountId: account, Type: pb.EventType_EVENT_TYPE_SEND,
		OccurredAt: timestamppb.New(at), Recipient: recipient, Sender: sender}
}

func TestBulkPolicyEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	on := true
	for _, id := range []string{"relay-split", "relay-one"} {
		resp, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: id, BulkPolicyEnabled: &on})
		if err != nil {
			t.Fatal(err)
		}
		if bp := resp.GetAccount().GetBulkPolicy(); !bp.GetEnabled() || bp.GetBaseLimit() != 40 {
			t.Fatalf("bulk policy after UpdateAccount: %v", bp)
		}
	}
	// 60 one-recipient messages in 60 calls, and one 60-recipient message.
	var one []*pb.Event
	for i := range 60 {
		rcpt := fmt.Sprintf("r%d@example.com", i)
		e.ingest(t, []*pb.Event{mailTo("relay-split", fmt.Sprintf("m%d", i), "news@shop.example", rcpt, t0)})
		one = append(one, mailTo("relay-one", fmt.Sprintf("m1-%d", i), "news@shop.example", rcpt, t0))
	}
	e.ingest(t, one)

	for _, id := range []string{"relay-split", "relay-one"} {
		check, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: id, Sender: "News@shop.example"})
		if err != nil {
			t.Fatal(err)
		}
		s := check.GetSender()
		if check.GetAllowed() || !s.GetBlocked() || s.GetReasonCode() != pb.ReasonCode_REASON_CODE_BULK_POLICY_VIOLATION {
			t.Fatalf("%s: CheckSend = allowed %v, sender %v; want the sender blocked for bulk sending", id, check.GetAllowed(), s)
		}
		if s.GetDistinctRecipients() != 41 || s.GetLimit() != 40 || len(check.GetReasons()) == 0 {
			t.Errorf("%s: got %d recipients, limit %d, reasons %q", id, s.GetDistinctRecipients(), s.GetLimit(), check.GetReasons())
		}
		if recs := strings.Join(check.GetRecommendations(), " "); !strings.Contains(recs, "UnblockSender") || !strings.Contains(recs, "CreateTicket") {
			t.Errorf("%s: recommendations %q do not say the way out", id, recs)
		}
		// Another sender of the same account, and the account itself, may send.
		if other, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: id, Sender: "billing@shop.example"}); err != nil || !other.GetAllowed() {
			t.Errorf("%s: another sender: allowed %v, err %v", id, other.GetAllowed(), err)
		}
		acct := e.account(t, id)
		if acct.GetPhase() != pb.Phase_PHASE_HEALTHY || len(acct.GetBulkPolicy().GetSenders()) != 1 || !acct.GetBulkPolicy().GetSenders()[0].GetBlocked() {
			t.Errorf("%s: account %s with senders %v", id, acct.GetPhase(), acct.GetBulkPolicy().GetSenders())
		}
		history, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: id})
		if err != nil {
			t.Fatal(err)
		}
		if tr := history.GetTransitions(); len(tr) != 1 || tr[0].GetSender() != "news@shop.example" || tr[0].GetReasonCode() != pb.ReasonCode_REASON_CODE_BULK_POLICY_VIOLATION {
			t.Errorf("%s: transitions %v, want the sender's block", id, tr)
		}
	}

	// A watch for suspensions is about accounts: the senders' blocks, the
	// first transitions kept, are not among them.
	e.ingest(t, []*pb.Event{send("acme-bad", "x1")})
	if _, err := e.accounts.SuspendAccount(ctx, &pb.SuspendAccountRequest{AccountId: "acme-bad", Category: pb.SuspensionCategory_SUSPENSION_CATEGORY_FRAUD, Note: "Phishing."}); err != nil {
		t.Fatal(err)
	}
	watchCtx, cancel := context.WithCancel(ctx)
	stream, err := e.accounts.WatchTransitions(watchCtx, &pb.WatchTransitionsRequest{Cursor: "0", Phase: pb.Phase_PHASE_SUSPENDED})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := stream.Recv(); err != nil || got.GetTransition().GetAccountId() != "acme-bad" || got.GetTransition().GetSender() != "" {
		t.Errorf("first suspension watched: %v, %v; want acme-bad's", got, err)
	}
	cancel()

	// The ways out: a ticket for the sender, approved; an admin's unblock.
	tk, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: "relay-split", Sender: "news@shop.example", Description: "Order receipts, not a newsletter."})
	if err != nil {
		t.Fatal(err)
	}
	if tk.GetTicket().GetSender() != "news@shop.example" {
		t.Errorf("ticket sender %q", tk.GetTicket().GetSender())
	}
	if _, err := e.accounts.UnblockSender(ctx, &pb.UnblockSenderRequest{AccountId: "relay-split", Sender: "news@shop.example", Note: "x"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("unblocking past an open ticket: got %v, want FAILED_PRECONDITION", err)
	}
	if _, err := e.tickets.ApproveTicket(ctx, &pb.ApproveTicketRequest{TicketId: tk.GetTicket().GetTicketId(), Note: "Receipts."}); err != nil {
		t.Fatal(err)
	}
	unblocked, err := e.accounts.UnblockSender(ctx, &pb.UnblockSenderRequest{AccountId: "relay-one", Sender: "news@shop.example", Note: "Reviewed the mail."})
	if err != nil {
		t.Fatal(err)
	}
	if unblocked.GetSender().GetBlocked() {
		t.Error("UnblockSender answered a sender still blocked")
	}
	for _, id := range []string{"relay-split", "relay-one"} {
		check, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: id, Sender: "news@shop.example"})
		if err != nil || !check.GetAllowed() || check.GetSender().GetDistinctRecipients() != 0 {
			t.Errorf("%s after the unblock: allowed %v, %d recipients counted, err %v", id, check.GetAllowed(), check.GetSender().GetDistinctRecipients(), err)
		}
		history, _ := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: id})
		if tr := history.GetTransitions(); len(tr) != 2 || tr[0].GetReasonCode() != pb.ReasonCode_REASON_CODE_SENDER_UNBLOCKED || tr[0].GetActor() == "" {
			t.Errorf("%s: transitions %v, want the unblock by someone on top", id, tr)
		}
	}

	_, err = e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "relay-one", Sender: "not an address"})
	assertFieldViolation(t, err, "sender")
	_, err = e.accounts.UnblockSender(ctx, &pb.UnblockSenderRequest{AccountId: "relay-one"})
	assertFieldViolation(t, err, "sender")
	_, err = e.accounts.UnblockSender(ctx, &pb.UnblockSenderRequest{AccountId: "relay-one", Sender: "news@shop.example"})
	assertFieldViolation(t, err, "note")
}

func TestQuotaEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", MaxSendsPerDay: ptr(uint64(100)),
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"max_sends_per_day"}}})
	if err != nil {
		t.Fatal(err)
	}
	hour := t0.Truncate(time.Hour)
	var batch []*pb.Event
	for i := range 100 {
		batch = append(batch, mailTo("acme", fmt.Sprintf("s%d", i), "news@acme.example", "r@example.com", hour))
	}
	e.ingest(t, batch)

	e.clock.Set(hour.Add(2 * time.Hour))
	_, err = e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme"})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("CheckSend over the daily quota: got %v, want RESOURCE_EXHAUSTED", err)
	}
	var retry *errdetails.RetryInfo
	var quota *errdetails.QuotaFailure
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			retry = d
		case *errdetails.QuotaFailure:
			quota = d
		}
	}
	// The sends leave the rolling 24 hours with their hour's bucket.
	if want := 22 * time.Hour; retry == nil || retry.GetRetryDelay().AsDuration() != want {
		t.Errorf("RetryInfo %v, want a delay of %s", retry, want)
	}
	if quota == nil || len(quota.GetViolations()) != 1 || quota.GetViolations()[0].GetSubject() != "account:acme" {
		t.Errorf("QuotaFailure %v, want one violation for account:acme", quota)
	}
	q := e.account(t, "acme").GetQuota()
	if q.GetMaxSendsPerDay() != 100 || q.GetSendsLast_24H() != 100 || q.GetResumesAt().AsTime() != hour.Add(24*time.Hour) {
		t.Errorf("GetAccount quota %v", q)
	}

	e.clock.Set(hour.Add(24 * time.Hour))
	if check, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme"}); err != nil || !check.GetAllowed() {
		t.Errorf("a day later: allowed %v, err %v", check.GetAllowed(), err)
	}

	// The rate per second.
	now := hour.Add(24*time.Hour + 100*time.Millisecond)
	e.clock.Set(now)
	if _, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", MaxSendsPerSecond: ptr(uint32(3))}); err != nil {
		t.Fatal(err)
	}
	e.ingest(t, []*pb.Event{mailTo("acme", "p1", "a@acme.example", "r@example.com", now), mailTo("acme", "p2", "a@acme.example", "r@example.com", now),
		mailTo("acme", "p3", "a@acme.example", "r@example.com", now)})
	_, err = e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme"})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("CheckSend over the rate: got %v, want RESOURCE_EXHAUSTED", err)
	}
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok && r.GetRetryDelay().AsDuration() != 900*time.Millisecond {
			t.Errorf("retry after %s, want the rest of the second", r.GetRetryDelay().AsDuration())
		}
	}
	// A suspended account is answered, not told to retry.
	if _, err := e.accounts.SuspendAccount(ctx, &pb.SuspendAccountRequest{AccountId: "acme", Category: pb.SuspensionCategory_SUSPENSION_CATEGORY_FRAUD, Note: "Phishing."}); err != nil {
		t.Fatal(err)
	}
	if check, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme"}); err != nil || check.GetAllowed() {
		t.Errorf("suspended over quota: allowed %v, err %v; want a refusal", check.GetAllowed(), err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestReputationEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var events []*pb.Event
	for i := range 500 {
		rcpt := fmt.Sprintf("u%d@gmail.com", i)
		if i%2 == 1 {
			rcpt = fmt.Sprintf("u%d@outlook.com", i)
		}
		events = append(events, mailTo("acme", fmt.Sprintf("s%d", i), "news@acme.example", rcpt, t0))
	}
	for i := range 50 {
		ev := mailTo("acme", fmt.Sprintf("o%d", i), "news@acme.example", fmt.Sprintf("u%d@gmail.com", 2*i), t0)
		ev.Type = pb.EventType_EVENT_TYPE_OPEN
		events = append(events, ev)
	}
	trap := mailTo("acme", "trap1", "news@acme.example", "old-user@trap.example", t0)
	trap.Type = pb.EventType_EVENT_TYPE_SPAM_TRAP_HIT
	listing := &pb.Event{EventId: "l1", AccountId: "acme", Type: pb.EventType_EVENT_TYPE_BLOCKLIST_LISTING, OccurredAt: timestamppb.New(t0),
		Listing: &pb.Listing{Blocklist: "zen.spamhaus.org", Listed: "192.0.2.10"}}
	events = append(events, trap, listing)
	c := complaint("acme", "c1")
	c.Recipient = "u1@outlook.com"
	events = append(events, c)
	if r := e.ingest(t, events); r.GetAccepted() != uint32(len(events)) {
		t.Fatalf("accepted %d of %d: %v", r.GetAccepted(), len(events), r.GetRejected())
	}

	a := e.account(t, "acme")
	rep := a.GetReputation()
	// 1 complaint in 500 sends (0.2 %): 20 of 30; one trap hit: 3.3 of 10;
	// one listing: 5 of 10; opens at 10 %: nothing. 100 - 28.3 = 72.
	if rep.GetScore() != 72 || len(rep.GetComponents()) != 7 {
		t.Errorf("score %d with %d components, want 72 and 7: %v", rep.GetScore(), len(rep.GetComponents()), rep.GetComponents())
	}
	for _, comp := range rep.GetComponents() {
		if comp.GetExplanation() == "" || comp.GetPenalty() > comp.GetWeight() {
			t.Errorf("component %v", comp)
		}
	}
	byName := map[string]*pb.ProviderStats{}
	for _, p := range a.GetProviders() {
		byName[p.GetProvider()] = p
	}
	if g, m := byName["gmail"], byName["microsoft"]; g.GetSends() != 250 || m.GetSends() != 250 || m.GetComplaints() != 1 || m.GetComplaintRate() != 0.004 {
		t.Errorf("providers: gmail %v, microsoft %v", g, m)
	}
	// The trap is suppressed for good.
	rc, err := e.suppress.CheckRecipients(ctx, &pb.CheckRecipientsRequest{AccountId: "acme", Recipients: []string{"old-user@trap.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := rc.GetResults()[0]; r.GetAllowed() || r.GetReason() != pb.SuppressionReason_SUPPRESSION_REASON_SPAM_TRAP {
		t.Errorf("trap address: %v, want suppressed as a spam trap", r)
	}

	// Daily history.
	for d := range 3 {
		if err := e.db.RecordReputation(ctx, t0.Add(time.Duration(d)*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(t0.Add(2 * 24 * time.Hour))
	h, err := e.accounts.GetReputationHistory(ctx, &pb.GetReputationHistoryRequest{AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if days := h.GetDays(); len(days) != 3 || days[0].GetDate() != "2026-11-24" || days[0].GetScore() != 72 {
		t.Errorf("history %v, want 3 days from 2026-11-24 at 72", days)
	}
	if h.GetCurrent().GetScore() == 0 {
		t.Error("history without the current score")
	}
	_, err = e.accounts.GetReputationHistory(ctx, &pb.GetReputationHistoryRequest{AccountId: "acme", Days: 91})
	assertFieldViolation(t, err, "days")

	bad := &pb.Event{EventId: "l2", AccountId: "acme", Type: pb.EventType_EVENT_TYPE_BLOCKLIST_LISTING, OccurredAt: timestamppb.New(t0)}
	r := e.ingest(t, []*pb.Event{bad})
	if len(r.GetRejected()) != 1 || r.GetRejected()[0].GetField() != "listing" {
		t.Errorf("a listing without where: rejected %v, want the listing field named", r.GetRejected())
	}
}

// A sender sees what the platform's volume does to its limits, not the
// volume itself: that is every account's sending.
func TestASenderDoesNotSeeThePlatformVolume(t *testing.T) {
	e := newEnvWith(t, testAuth(t))
	events := append(many(10, send, "other", "o"), many(5, send, "acme", "a")...)
	if _, err := e.events.IngestEvents(as("ops-alice"), &pb.IngestEventsRequest{Events: events}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		token string
		want  uint64
	}{{"platform-a", 0}, {"ops-alice", 15}, {"auditor", 15}} {
		resp, err := e.accounts.GetAccount(as(c.token), &pb.GetAccountRequest{AccountId: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		bp := resp.GetAccount().GetBulkPolicy()
		if got := bp.GetPlatformSends(); got != c.want {
			t.Errorf("%s sees platform sends %d, want %d", c.token, got, c.want)
		}
		if hidden := bp.GetVolumeFactor() == 0; hidden != (c.want == 0) {
			t.Errorf("%s sees volume factor %v", c.token, bp.GetVolumeFactor())
		}
	}
}
