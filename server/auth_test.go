package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

func digest(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// testAuth knows a sender scoped to acme, beta and gamma, a viewer and an
// admin; each token is its name.
func testAuth(t testing.TB) *Authenticator {
	t.Helper()
	a, err := NewAuthenticator([]Credential{
		{Name: "platform-a", SHA256: digest("platform-a"), Role: RoleSender, Accounts: []string{"acme", "beta", "gamma"}},
		{Name: "auditor", SHA256: digest("auditor"), Role: RoleViewer},
		{Name: "ops-alice", SHA256: digest("ops-alice"), Role: RoleAdmin, CreateAccounts: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func as(token string) context.Context {
	if token == "" {
		return context.Background()
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// sceneTickets are the open tickets of the scene: acme's, which
// platform-a may use, and other's, which it may not.
type sceneTickets struct{ own, other string }

// authScene prepares, as ops-alice: acme suspended with an open ticket and
// a suppressed recipient, beta in warning, gamma suspended without a
// ticket, other (which platform-a may not use) suspended with an open
// ticket, and delta, healthy, which platform-a may not use either.
func authScene(t *testing.T, e *env) sceneTickets {
	t.Helper()
	ctx := context.Background()
	var evs []monitor.Event
	for _, acc := range []struct {
		id   string
		hard int
	}{{"acme", 100}, {"beta", 25}, {"gamma", 100}, {"other", 100}, {"delta", 0}} {
		for i := range 1000 {
			evs = append(evs, monitor.Event{ID: fmt.Sprint("s", i), AccountID: acc.id, Type: monitor.EventSend, OccurredAt: t0, Recipient: "r@example.com"})
		}
		for i := range acc.hard {
			evs = append(evs, monitor.Event{ID: fmt.Sprint("b", i), AccountID: acc.id, Type: monitor.EventBounce, OccurredAt: t0,
				Recipient: "r@example.com", Bounce: &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}})
		}
	}
	evs = append(evs, monitor.Event{ID: "u1", AccountID: "acme", Type: monitor.EventUnsubscribe, OccurredAt: t0, Recipient: "bye@example.org"})
	if _, err := e.db.Ingest(ctx, evs); err != nil {
		t.Fatal(err)
	}
	var tickets sceneTickets
	for _, tc := range []struct {
		account string
		id      *string
	}{{"acme", &tickets.own}, {"other", &tickets.other}} {
		tk, err := e.db.CreateTicket(ctx, tc.account, "", "Fixed.", monitor.Checklist{}, monitor.Actor{Name: "ops-alice", Role: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		*tc.id = tk.ID
	}
	return tickets
}

// TestWhoMayCallWhat runs every call as every kind of caller against the
// same scene and checks the exact status: OK where the role allows it,
// PERMISSION_DENIED where it does not or the account is another's,
// UNAUTHENTICATED without a known token.
func TestWhoMayCallWhat(t *testing.T) {
	const (
		ok     = codes.OK
		denied = codes.PermissionDenied
	)
	type want struct{ sender, viewer, admin codes.Code }
	var (
		anyone  = want{ok, ok, ok}
		readers = want{ok, ok, ok}
		writers = want{ok, denied, ok}
		admins  = want{denied, denied, ok}
		foreign = want{denied, ok, ok} // readers, on an account the sender may not use
	)
	send := func(account string) *pb.Event {
		return &pb.Event{EventId: "new", AccountId: account, Type: pb.EventType_EVENT_TYPE_SEND, OccurredAt: timestamppb.New(t0), Recipient: "r@example.com"}
	}
	calls := []struct {
		name string
		want want
		call func(ctx context.Context, e *env, tickets sceneTickets) error
	}{
		{"IngestEvents", writers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: []*pb.Event{send("acme")}})
			return err
		}},
		{"IngestEvents other", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: []*pb.Event{send("acme"), send("other")}})
			return err
		}},
		{"StreamEvents", writers, func(ctx context.Context, e *env, _ sceneTickets) error {
			stream, err := e.events.StreamEvents(ctx)
			if err != nil {
				return err
			}
			return sendAndRecv(stream, send("acme"))
		}},
		{"GetAccount", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: "acme"})
			return err
		}},
		{"GetAccount other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: "other"})
			return err
		}},
		{"ListAccounts", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{})
			return err
		}},
		{"ListAccountTransitions", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: "acme"})
			return err
		}},
		{"CheckSend", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme", Recipients: []string{"a@example.com"}})
			return err
		}},
		{"CheckSend other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "other"})
			return err
		}},
		{"UpdateAccount", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", DisplayName: "Acme"})
			return err
		}},
		{"AcknowledgeWarning", writers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.AcknowledgeWarning(ctx, &pb.AcknowledgeWarningRequest{AccountId: "beta", Note: "On it."})
			return err
		}},
		{"SuspendAccount", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.SuspendAccount(ctx, &pb.SuspendAccountRequest{AccountId: "delta", Category: pb.SuspensionCategory_SUSPENSION_CATEGORY_FRAUD, Note: "Phishing."})
			return err
		}},
		{"ClassifyBounce", anyone, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.bounces.ClassifyBounce(ctx, &pb.ClassifyBounceRequest{SmtpCode: 550, EnhancedStatus: "5.1.1"})
			return err
		}},
		{"CheckRecipients", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.CheckRecipients(ctx, &pb.CheckRecipientsRequest{AccountId: "acme", Recipients: []string{"a@example.com"}})
			return err
		}},
		{"CheckRecipients other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.CheckRecipients(ctx, &pb.CheckRecipientsRequest{AccountId: "other", Recipients: []string{"a@example.com"}})
			return err
		}},
		{"ListSuppressions", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.ListSuppressions(ctx, &pb.ListSuppressionsRequest{AccountId: "acme"})
			return err
		}},
		{"GetRecipient", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.GetRecipient(ctx, &pb.GetRecipientRequest{AccountId: "acme", Recipient: "bye@example.org"})
			return err
		}},
		{"ExportSuppressions other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			stream, err := e.suppress.ExportSuppressions(ctx, &pb.ExportSuppressionsRequest{AccountId: "other"})
			if err != nil {
				return err
			}
			for {
				if _, err := stream.Recv(); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
		}},
		{"AddSuppression", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.AddSuppression(ctx, &pb.AddSuppressionRequest{AccountId: "acme", Recipient: "x@example.org", Note: "Asked."})
			return err
		}},
		{"DeleteSuppression", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.DeleteSuppression(ctx, &pb.DeleteSuppressionRequest{AccountId: "acme", Recipient: "bye@example.org", Note: "Resubscribed."})
			return err
		}},
		{"CreateTicket", writers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: "gamma", Description: "Fixed."})
			return err
		}},
		{"GetTicket", readers, func(ctx context.Context, e *env, tk sceneTickets) error {
			_, err := e.tickets.GetTicket(ctx, &pb.GetTicketRequest{TicketId: tk.own})
			return err
		}},
		{"ListTickets", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.tickets.ListTickets(ctx, &pb.ListTicketsRequest{})
			return err
		}},
		{"ListTickets other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.tickets.ListTickets(ctx, &pb.ListTicketsRequest{AccountId: "other"})
			return err
		}},
		{"AddTicketComment", writers, func(ctx context.Context, e *env, tk sceneTickets) error {
			_, err := e.tickets.AddTicketComment(ctx, &pb.AddTicketCommentRequest{TicketId: tk.own, Text: "More detail."})
			return err
		}},
		{"ApproveTicket", admins, func(ctx context.Context, e *env, tk sceneTickets) error {
			_, err := e.tickets.ApproveTicket(ctx, &pb.ApproveTicketRequest{TicketId: tk.own})
			return err
		}},
		{"RejectTicket", admins, func(ctx context.Context, e *env, tk sceneTickets) error {
			_, err := e.tickets.RejectTicket(ctx, &pb.RejectTicketRequest{TicketId: tk.own, Reason: "Not yet."})
			return err
		}},
		{"StreamEvents other", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			stream, err := e.events.StreamEvents(ctx)
			if err != nil {
				return err
			}
			return sendAndRecv(stream, send("delta"))
		}},
		{"ListAccountTransitions other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: "other"})
			return err
		}},
		{"AcknowledgeWarning other", want{denied, denied, codes.FailedPrecondition}, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.AcknowledgeWarning(ctx, &pb.AcknowledgeWarningRequest{AccountId: "other", Note: "On it."})
			return err
		}},
		{"ListSuppressions other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.ListSuppressions(ctx, &pb.ListSuppressionsRequest{AccountId: "other"})
			return err
		}},
		{"GetRecipient other", want{denied, codes.NotFound, codes.NotFound}, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.GetRecipient(ctx, &pb.GetRecipientRequest{AccountId: "other", Recipient: "bye@example.org"})
			return err
		}},
		{"CreateTicket other", want{denied, denied, codes.AlreadyExists}, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: "other", Description: "Fixed."})
			return err
		}},
		// Another account's ticket is not found for a sender, so that ids
		// cannot be probed.
		{"GetTicket other", want{codes.NotFound, ok, ok}, func(ctx context.Context, e *env, tk sceneTickets) error {
			_, err := e.tickets.GetTicket(ctx, &pb.GetTicketRequest{TicketId: tk.other})
			return err
		}},
		{"AddTicketComment other", want{codes.NotFound, denied, ok}, func(ctx context.Context, e *env, tk sceneTickets) error {
			_, err := e.tickets.AddTicketComment(ctx, &pb.AddTicketCommentRequest{TicketId: tk.other, Text: "More detail."})
			return err
		}},
		{"WatchTransitions", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			return firstWatched(ctx, e, &pb.WatchTransitionsRequest{Cursor: "0"})
		}},
		{"WatchTransitions other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			return firstWatched(ctx, e, &pb.WatchTransitionsRequest{Cursor: "0", AccountId: "other"})
		}},
		{"ListNotifications", want{denied, ok, ok}, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.notes.ListNotifications(ctx, &pb.ListNotificationsRequest{})
			return err
		}},
		{"RetryNotification", want{denied, denied, codes.NotFound}, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.notes.RetryNotification(ctx, &pb.RetryNotificationRequest{NotificationId: "dpmon-0-1"})
			return err
		}},
		// No sender of acme is blocked: an admin gets as far as that.
		{"UnblockSender", want{denied, denied, codes.FailedPrecondition}, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.UnblockSender(ctx, &pb.UnblockSenderRequest{AccountId: "acme", Sender: "news@acme.example", Note: "Reviewed."})
			return err
		}},
		{"GetReputationHistory", readers, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.GetReputationHistory(ctx, &pb.GetReputationHistoryRequest{AccountId: "acme"})
			return err
		}},
		{"GetReputationHistory other", foreign, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.accounts.GetReputationHistory(ctx, &pb.GetReputationHistoryRequest{AccountId: "other"})
			return err
		}},
		{"ListAuditEvents", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.audit.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{})
			return err
		}},
		{"ImportSuppressions", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := e.suppress.ImportSuppressions(ctx, &pb.ImportSuppressionsRequest{AccountId: "acme",
				Suppressions: []*pb.ImportedSuppression{{Recipient: "x@example.com", Reason: pb.SuppressionReason_SUPPRESSION_REASON_MANUAL}}})
			return err
		}},
		{"Backup", admins, func(ctx context.Context, e *env, _ sceneTickets) error {
			_, err := readBackup(ctx, pb.NewBackupServiceClient(e.conn))
			return err
		}},
	}
	unauthenticated := newEnvWith(t, testAuth(t))
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			for _, token := range []string{"", "wrong"} {
				if err := c.call(as(token), unauthenticated, sceneTickets{"tkt-00000001", "tkt-00000002"}); status.Code(err) != codes.Unauthenticated {
					t.Errorf("token %q: got %v, want Unauthenticated", token, err)
				}
			}
			for _, who := range []struct {
				token string
				auth  bool
				want  codes.Code
			}{
				{"platform-a", true, c.want.sender}, {"auditor", true, c.want.viewer}, {"ops-alice", true, c.want.admin},
				{"", false, c.want.admin}, // a server without authentication: everyone is an admin
			} {
				var auth *Authenticator
				if who.auth {
					auth = testAuth(t)
				}
				e := newEnvWith(t, auth)
				tickets := authScene(t, e)
				if err := c.call(as(who.token), e, tickets); status.Code(err) != who.want {
					t.Errorf("%q (authenticated %v): got %v, want %v", who.token, who.auth, err, who.want)
				}
			}
		})
	}
}

// Every method of every dpmon service is in the access table: one left
// out would be refused to everyone, and one added without thought should
// fail here rather than in production.
func TestEveryMethodHasAnAccessRule(t *testing.T) {
	for _, sd := range []grpc.ServiceDesc{pb.EventService_ServiceDesc, pb.AccountService_ServiceDesc, pb.BounceService_ServiceDesc,
		pb.SuppressionService_ServiceDesc, pb.TicketService_ServiceDesc, pb.AuditService_ServiceDesc, pb.NotificationService_ServiceDesc} {
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, st := range sd.Streams {
			names = append(names, st.StreamName)
		}
		for _, name := range names {
			if _, ok := methodAccess["/"+sd.ServiceName+"/"+name]; !ok {
				t.Errorf("%s/%s has no access rule", sd.ServiceName, name)
			}
		}
	}
}

func TestTheAuditNamesTheCaller(t *testing.T) {
	e := newEnvWith(t, testAuth(t))
	tickets := authScene(t, e)
	if _, err := e.tickets.ApproveTicket(as("ops-alice"), &pb.ApproveTicketRequest{TicketId: tickets.own, Note: "Clean now."}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.audit.ListAuditEvents(as("ops-alice"), &pb.ListAuditEventsRequest{Actor: "ops-alice"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetEvents()
	if len(got) != 3 || got[0].GetAction() != "ApproveTicket" || got[0].GetRole() != "admin" ||
		got[0].GetBefore() != "suspended" || got[0].GetAfter() != "probation" || got[0].GetTicketId() != tickets.own {
		t.Fatalf("audit: %v", got)
	}
	// A sender's listing shows only its own accounts.
	list, err := e.accounts.ListAccounts(as("platform-a"), &pb.ListAccountsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range list.GetAccounts() {
		ids = append(ids, a.GetAccountId())
	}
	if strings.Join(ids, ",") != "acme,beta,gamma" {
		t.Errorf("platform-a lists %v, want its three accounts", ids)
	}
	// ... and only their tickets, with the scheme written in any case.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "bearer platform-a")
	tlist, err2 := e.tickets.ListTickets(ctx, &pb.ListTicketsRequest{})
	if err2 != nil {
		t.Fatal(err2)
	}
	if len(tlist.GetTickets()) != 1 || tlist.GetTickets()[0].GetAccountId() != "acme" {
		t.Errorf("platform-a's tickets: got %v, want acme's only", tlist.GetTickets())
	}
	// ... and only their transitions.
	wctx, cancel := context.WithCancel(as("platform-a"))
	defer cancel()
	watch, err := e.accounts.WatchTransitions(wctx, &pb.WatchTransitionsRequest{Cursor: "0"})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 { // acme's two, beta's and gamma's; other's lies between them
		resp, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if a := resp.GetTransition().GetAccountId(); a != "acme" && a != "beta" && a != "gamma" {
			t.Errorf("platform-a watches a transition of %s", a)
		}
	}
}

func TestNewAuthenticatorRefusesBadCredentials(t *testing.T) {
	for name, c := range map[string]Credential{
		"no name":           {SHA256: digest("x"), Role: RoleAdmin},
		"bad role":          {Name: "x", SHA256: digest("x"), Role: "root"},
		"short digest":      {Name: "x", SHA256: "abc", Role: RoleAdmin},
		"neither":           {Name: "x", Role: RoleAdmin},
		"both":              {Name: "x", SHA256: digest("x"), ClientCN: "x", Role: RoleAdmin},
		"scoped non-sender": {Name: "x", SHA256: digest("x"), Role: RoleViewer, Accounts: []string{"acme"}},
		"empty scope":       {Name: "x", SHA256: digest("x"), Role: RoleSender, Accounts: []string{}},
	} {
		if _, err := NewAuthenticator([]Credential{c}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, creds := range map[string][]Credential{
		"the same token twice": {{Name: "a", SHA256: digest("x"), Role: RoleAdmin}, {Name: "b", SHA256: digest("x"), Role: RoleViewer}},
		"the same CN twice":    {{Name: "a", ClientCN: "x", Role: RoleAdmin}, {Name: "b", ClientCN: "x", Role: RoleViewer}},
	} {
		if _, err := NewAuthenticator(creds); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// firstWatched opens a watch and waits for its first transition.
func firstWatched(ctx context.Context, e *env, req *pb.WatchTransitionsRequest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := e.accounts.WatchTransitions(ctx, req)
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

// sendAndRecv sends one batch and reads its answer. A server that ended
// the stream (refusing the caller) makes Send return io.EOF; the status
// is then what Recv returns.
func sendAndRecv(stream grpc.BidiStreamingClient[pb.StreamEventsRequest, pb.StreamEventsResponse], e *pb.Event) error {
	if err := stream.Send(&pb.StreamEventsRequest{BatchId: "1", Events: []*pb.Event{e}}); err != nil && err != io.EOF {
		return err
	}
	_, err := stream.Recv()
	return err
}

// TestAsChecksWhatAGRPCCallIsChecked calls handlers in process, as the web
// console does: the role is checked by As, the scope and the audit record
// by the handler, as over gRPC.
func TestAsChecksWhatAGRPCCallIsChecked(t *testing.T) {
	auth := testAuth(t)
	e := newEnvWith(t, auth)
	authScene(t, e)
	ctx := context.Background()
	identify := func(token string) Identity {
		id, err := auth.AuthenticateToken(token)
		if err != nil {
			t.Fatalf("AuthenticateToken(%s): %v", token, err)
		}
		return id
	}
	if _, err := auth.AuthenticateToken("nobody"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("AuthenticateToken(unknown) = %v, want UNAUTHENTICATED", err)
	}
	suspend := pb.AccountService_SuspendAccount_FullMethodName
	viewer, sender, admin := identify("auditor"), identify("platform-a"), identify("ops-alice")
	if _, err := e.srv.As(ctx, viewer, suspend); status.Code(err) != codes.PermissionDenied {
		t.Errorf("As(viewer, SuspendAccount) = %v, want PERMISSION_DENIED", err)
	}
	if viewer.May(suspend) || !admin.May(suspend) || !sender.May(pb.TicketService_CreateTicket_FullMethodName) {
		t.Errorf("May: viewer %v, admin %v, sender opening a ticket %v; want false, true, true",
			viewer.May(suspend), admin.May(suspend), sender.May(pb.TicketService_CreateTicket_FullMethodName))
	}
	get := pb.AccountService_GetAccount_FullMethodName
	sctx, err := e.srv.As(ctx, sender, get)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.GetAccount(sctx, &pb.GetAccountRequest{AccountId: "delta"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("sender's GetAccount(delta) in process = %v, want PERMISSION_DENIED", err)
	}
	actx, err := e.srv.As(ctx, admin, suspend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.SuspendAccount(actx, &pb.SuspendAccountRequest{AccountId: "delta", Category: pb.SuspensionCategory_SUSPENSION_CATEGORY_POLICY_VIOLATION, Note: "from the console"}); err != nil {
		t.Fatalf("admin's SuspendAccount in process: %v", err)
	}
	audit, err := e.audit.ListAuditEvents(as("ops-alice"), &pb.ListAuditEventsRequest{AccountId: "delta"})
	if err != nil || len(audit.GetEvents()) == 0 || audit.GetEvents()[0].GetActor() != "ops-alice" || audit.GetEvents()[0].GetAction() != "SuspendAccount" {
		t.Errorf("audit of the in-process suspension = %v, %v; want SuspendAccount by ops-alice first", audit, err)
	}
	if _, err := e.srv.As(ctx, admin, "/dpmon.v1.AccountService/Nothing"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("As(an unlisted method) = %v, want PERMISSION_DENIED", err)
	}
}
