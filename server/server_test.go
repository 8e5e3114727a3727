package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/store"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

type env struct {
	srv      *Server
	events   pb.EventServiceClient
	accounts pb.AccountServiceClient
	suppress pb.SuppressionServiceClient
	bounces  pb.BounceServiceClient
	tickets  pb.TicketServiceClient
	audit    pb.AuditServiceClient
	notes    pb.NotificationServiceClient
	health   healthpb.HealthClient
	clock    *monitortest.Clock
	db       *store.DB
	conn     *grpc.ClientConn
}

// newEnv serves a real store in a temp dir over gRPC on a loopback port,
// without authentication.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with an authenticator.
func newEnvWith(t testing.TB, auth *Authenticator) *env {
	t.Helper()
	return newEnvRouted(t, auth, nil)
}

// newEnvRouted is newEnvWith with a route for notifications.
func newEnvRouted(t testing.TB, auth *Authenticator, route func(monitor.Notification) []monitor.Notification) *env {
	t.Helper()
	return newEnvOpts(t, func(o *store.Options) { o.Route = route }, func(o *Options) { o.Auth = auth })
}

// newEnvOpts is newEnv with options of the store and the server changed
// by the functions given.
func newEnvOpts(t testing.TB, storeOpts func(*store.Options), srvOpts func(*Options)) *env {
	t.Helper()
	return newEnvAt(t, t.TempDir(), storeOpts, srvOpts)
}

// newEnvAt is newEnvOpts with the store in dir.
func newEnvAt(t testing.TB, dir string, storeOpts func(*store.Options), srvOpts func(*Options)) *env {
	t.Helper()
	c := monitortest.New(t0)
	so := store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now}
	storeOpts(&so)
	db, err := store.Open(dir, so)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Clock: c.Now}
	srvOpts(&opts)
	srv := New(db, opts)
	gs := srv.GRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Drain()
		gs.Stop()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return &env{srv: srv, events: pb.NewEventServiceClient(conn), accounts: pb.NewAccountServiceClient(conn),
		suppress: pb.NewSuppressionServiceClient(conn), bounces: pb.NewBounceServiceClient(conn),
		tickets: pb.NewTicketServiceClient(conn), audit: pb.NewAuditServiceClient(conn), notes: pb.NewNotificationServiceClient(conn),
		health: healthpb.NewHealthClient(conn), clock: c, db: db, conn: conn}
}

func send(account, id string) *pb.Event {
	return &pb.Event{EventId: id, AccountId: account, Type: pb.EventType_EVENT_TYPE_SEND,
		OccurredAt: timestamppb.New(t0), Recipient: "jane@example.com", Sender: "news@acme.example"}
}

func hardBounce(account, id string) *pb.Event {
	e := send(account, id)
	e.Type = pb.EventType_EVENT_TYPE_BOUNCE
	e.Bounce = &pb.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 <jane@example.com>: user unknown"}
	return e
}

func complaint(account, id string) *pb.Event {
	e := send(account, id)
	e.Type = pb.EventType_EVENT_TYPE_COMPLAINT
	e.Complaint = &pb.Complaint{FeedbackType: "abuse", Source: "feedback-loop.example"}
	return e
}

func many(n int, build func(account, id string) *pb.Event, account, prefix string) []*pb.Event {
	out := make([]*pb.Event, n)
	for i := range out {
		out[i] = build(account, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func (e *env) ingest(t *testing.T, events []*pb.Event) *pb.IngestEventsResponse {
	t.Helper()
	resp, err := e.events.IngestEvents(context.Background(), &pb.IngestEventsRequest{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (e *env) account(t *testing.T, id string) *pb.Account {
	t.Helper()
	resp, err := e.accounts.GetAccount(context.Background(), &pb.GetAccountRequest{AccountId: id})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetAccount()
}

func TestFromIngestToPhase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.ingest(t, many(1000, send, "acme", "s"))
	if r := e.ingest(t, many(25, hardBounce, "acme", "b")); r.GetAccepted() != 25 {
		t.Fatalf("bounces accepted %d, want 25", r.GetAccepted())
	}
	a := e.account(t, "acme")
	if a.GetPhase() != pb.Phase_PHASE_WARNING {
		t.Fatalf("phase %s, want warning", a.GetPhase())
	}
	w := a.GetWindows()[0]
	if w.GetName() != "24h" || w.GetSends() != 1000 || w.GetHardBounces() != 25 || w.GetHardBounceRate() != 0.025 {
		t.Errorf("24h window %v, want 1000 sends, 25 hard bounces, rate 0.025", w)
	}
	if ci := w.GetHardBounceRateCi(); !(ci.GetLower() < 0.025 && 0.025 < ci.GetUpper()) {
		t.Errorf("interval %v does not hold the rate", ci)
	}
	if len(a.GetFindings()) == 0 || len(a.GetFindings()[0].GetRecommendations()) == 0 || a.GetPhaseReason() == "" {
		t.Errorf("warning without findings, recommendations or reason: %v", a)
	}
	cs, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme"})
	if err != nil || !cs.GetAllowed() || cs.GetPhase() != pb.Phase_PHASE_WARNING {
		t.Fatalf("CheckSend in warning = %v, %v; want allowed", cs, err)
	}

	e.ingest(t, many(3, complaint, "acme", "c"))
	cs, err = e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "acme"})
	if err != nil || cs.GetAllowed() || cs.GetPhase() != pb.Phase_PHASE_SUSPENDED || len(cs.GetReasons()) == 0 || len(cs.GetFindings()) == 0 {
		t.Fatalf("CheckSend when suspended = %v, %v; want not allowed with reasons and findings", cs, err)
	}
	tr, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, x := range tr.GetTransitions() {
		got = append(got, x.GetFrom().String()+">"+x.GetTo().String())
	}
	if strings.Join(got, ",") != "PHASE_WARNING>PHASE_SUSPENDED,PHASE_HEALTHY>PHASE_WARNING" {
		t.Errorf("transitions %v, want warning>suspended then healthy>warning", got)
	}
	cs, err = e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "newcomer"})
	if err != nil || !cs.GetAllowed() {
		t.Errorf("CheckSend for an unseen account = %v, %v; want allowed", cs, err)
	}
	list, err := e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{Phase: pb.Phase_PHASE_SUSPENDED})
	if err != nil || len(list.GetAccounts()) != 1 || list.GetAccounts()[0].GetAccountId() != "acme" {
		t.Errorf("ListAccounts(suspended) = %v, %v; want acme", list, err)
	}
	// The account carries the buckets its charts are drawn from, in a
	// list only when asked.
	if len(list.GetAccounts()[0].GetBuckets()) != 0 {
		t.Errorf("ListAccounts without include_buckets has buckets")
	}
	list, err = e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{Phase: pb.Phase_PHASE_SUSPENDED, IncludeBuckets: true})
	if err != nil {
		t.Fatal(err)
	}
	var sends, hard uint64
	for _, b := range list.GetAccounts()[0].GetBuckets() {
		sends, hard = sends+b.GetSends(), hard+b.GetHardBounces()
	}
	if w := list.GetAccounts()[0].GetWindows()[len(list.GetAccounts()[0].GetWindows())-1]; sends != w.GetSends() || hard != w.GetHardBounces() {
		t.Errorf("buckets add up to %d sends and %d hard bounces, want the longest window's %d and %d", sends, hard, w.GetSends(), w.GetHardBounces())
	}
	list, err = e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{IdPrefix: "new"})
	if err != nil || len(list.GetAccounts()) != 0 {
		t.Errorf("ListAccounts(id_prefix new) = %v, %v; want none (CheckSend creates no account)", list, err)
	}
	list, err = e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{IdPrefix: "ac"})
	if err != nil || len(list.GetAccounts()) != 1 {
		t.Errorf("ListAccounts(id_prefix ac) = %v, %v; want acme", list, err)
	}
	_, err = e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{IdPrefix: "bad\x00"})
	assertFieldViolation(t, err, "id_prefix")
}

func TestIngestRejectsBadEventsOneByOne(t *testing.T) {
	e := newEnv(t)
	bad := func(mutate func(*pb.Event)) *pb.Event {
		ev := hardBounce("acme", fmt.Sprintf("bad-%p", mutate))
		mutate(ev)
		return ev
	}
	events := []*pb.Event{
		send("acme", "ok-1"),
		bad(func(ev *pb.Event) { ev.EventId = "" }),
		bad(func(ev *pb.Event) { ev.Type = pb.EventType(77) }),
		bad(func(ev *pb.Event) { ev.OccurredAt = nil }),
		bad(func(ev *pb.Event) { ev.OccurredAt = timestamppb.New(t0.Add(48 * time.Hour)) }),
		bad(func(ev *pb.Event) { ev.OccurredAt = &timestamppb.Timestamp{Seconds: 1, Nanos: -5} }),
		bad(func(ev *pb.Event) { ev.Recipient = "not an address" }),
		bad(func(ev *pb.Event) { ev.Bounce = nil }),
		bad(func(ev *pb.Event) { ev.Bounce.SmtpCode = 199 }),
		bad(func(ev *pb.Event) { ev.Bounce.EnhancedStatus = "9.9.9" }),
		bad(func(ev *pb.Event) { ev.Bounce.Diagnostic = strings.Repeat("x", 5000) }),
		bad(func(ev *pb.Event) { ev.Bounce.Class = pb.BounceClass(-3) }),
		send("acme", "ok-2"),
	}
	wantFields := []string{"event_id", "type", "occurred_at", "occurred_at", "occurred_at", "recipient", "bounce",
		"bounce.smtp_code", "bounce.enhanced_status", "bounce.diagnostic", "bounce.class"}
	r := e.ingest(t, events)
	if r.GetAccepted() != 2 || r.GetDuplicates() != 0 || len(r.GetRejected()) != len(wantFields) {
		t.Fatalf("accepted %d, rejected %d; want 2 and %d", r.GetAccepted(), len(r.GetRejected()), len(wantFields))
	}
	for i, rej := range r.GetRejected() {
		if rej.GetIndex() != uint32(i+1) || rej.GetField() != wantFields[i] || rej.GetReason() == "" {
			t.Errorf("rejection %d = %v, want index %d field %s", i, rej, i+1, wantFields[i])
		}
	}
	if a := e.account(t, "acme"); a.GetWindows()[0].GetSends() != 2 {
		t.Errorf("sends %d, want the 2 valid ones", a.GetWindows()[0].GetSends())
	}
}

func TestOversizedBatchChangesNothing(t *testing.T) {
	e := newEnv(t)
	_, err := e.events.IngestEvents(context.Background(), &pb.IngestEventsRequest{Events: many(MaxBatchEvents+1, send, "acme", "s")})
	assertFieldViolation(t, err, "events")
	if _, err := e.accounts.GetAccount(context.Background(), &pb.GetAccountRequest{AccountId: "acme"}); status.Code(err) != codes.NotFound {
		t.Errorf("account after a refused batch: %v, want NOT_FOUND", err)
	}
}

func assertFieldViolation(t *testing.T, err error, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("status %v, want INVALID_ARGUMENT", err)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field && v.GetDescription() != "" {
					return
				}
			}
		}
	}
	t.Errorf("status %v has no BadRequest violation on %s", st.Details(), field)
}

func TestStreamAnswersEveryBatchInOrder(t *testing.T) {
	e := newEnv(t)
	stream, err := e.events.StreamEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const batches = 20
	go func() {
		for b := range batches {
			// The last batch repeats the first: all duplicates.
			evs := many(100, send, "acme", fmt.Sprintf("b%d", b%(batches-1)))
			if err := stream.Send(&pb.StreamEventsRequest{BatchId: fmt.Sprint(b), Events: evs}); err != nil {
				t.Error(err)
				return
			}
		}
		_ = stream.CloseSend()
	}()
	for b := range batches {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		want := &pb.StreamEventsResponse{BatchId: fmt.Sprint(b), Accepted: 100}
		if b == batches-1 {
			want = &pb.StreamEventsResponse{BatchId: fmt.Sprint(b), Duplicates: 100}
		}
		if resp.GetBatchId() != want.BatchId || resp.GetAccepted() != want.Accepted || resp.GetDuplicates() != want.Duplicates {
			t.Fatalf("response %v, want %v", resp, want)
		}
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last answer: %v, want EOF", err)
	}
	if got := e.account(t, "acme").GetWindows()[0].GetSends(); got != 100*(batches-1) {
		t.Errorf("sends %d, want %d", got, 100*(batches-1))
	}
}

func TestStreamRefusesAnOversizedBatch(t *testing.T) {
	e := newEnv(t)
	stream, err := e.events.StreamEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.StreamEventsRequest{BatchId: "ok", Events: many(10, send, "acme", "a")}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.StreamEventsRequest{BatchId: "big", Events: many(MaxBatchEvents+1, send, "acme", "b")}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetBatchId() != "ok" || resp.GetAccepted() != 10 {
		t.Fatalf("first answer %v, %v; want batch ok with 10 accepted", resp, err)
	}
	_, err = stream.Recv()
	assertFieldViolation(t, err, "events")
}

func TestDrainAnswersTheBatchesInFlight(t *testing.T) {
	e := newEnv(t)
	stream, err := e.events.StreamEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const batches, size = 30, 200
	for b := range batches {
		if err := stream.Send(&pb.StreamEventsRequest{BatchId: fmt.Sprint(b), Events: many(size, send, "acme", fmt.Sprintf("b%d", b))}); err != nil {
			t.Fatal(err)
		}
	}
	// Drain while batches are still arriving and committing: every batch the
	// stream began is answered, in order, then the stream ends UNAVAILABLE.
	e.srv.Drain()
	answered := 0
	for {
		resp, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("after Drain: %v, want UNAVAILABLE", err)
			}
			break
		}
		if resp.GetBatchId() != fmt.Sprint(answered) || resp.GetAccepted() != size {
			t.Fatalf("answer %v, want batch %d with %d accepted", resp, answered, size)
		}
		answered++
	}
	// Nothing was committed without its answer.
	if got := e.account(t, "acme").GetWindows()[0].GetSends(); got != uint64(answered*size) {
		t.Errorf("%d sends counted for %d answered batches of %d", got, answered, size)
	}
	t.Logf("%d of %d batches answered before the stream ended", answered, batches)
	h, err := e.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health after Drain = %v, %v; want NOT_SERVING", h, err)
	}
}

func TestSuspensionKeepsItsFindingsWhenTheWindowsDrain(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, many(1000, send, "acme", "s"))
	e.ingest(t, many(100, hardBounce, "acme", "b"))
	e.clock.Set(t0.Add(30 * 24 * time.Hour))
	cs, err := e.accounts.CheckSend(context.Background(), &pb.CheckSendRequest{AccountId: "acme"})
	if err != nil || cs.GetAllowed() || len(cs.GetReasons()) == 0 {
		t.Fatalf("CheckSend a month later = %v, %v; want still suspended with reasons", cs, err)
	}
	if len(cs.GetFindings()) == 0 || cs.GetFindings()[0].GetMetric() != pb.Metric_METRIC_HARD_BOUNCE_RATE || cs.GetFindings()[0].GetValue() != 0.1 {
		t.Errorf("findings %v, want the 10%% hard-bounce rate that caused the suspension", cs.GetFindings())
	}
}

func TestUpdateAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	warn := 0.01
	resp, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{
		AccountId:       "acme",
		DisplayName:     "Acme Corp",
		AdminEmails:     []string{"ops@acme.example", "ops@acme.example", "cto@acme.example"},
		PolicyOverrides: &pb.PolicyOverrides{HardBounceWarn: &warn, MinSends: map[string]uint64{"24h": 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := resp.GetAccount()
	if a.GetDisplayName() != "Acme Corp" || len(a.GetAdminEmails()) != 2 || a.GetPolicy().GetHardBounceRate().GetWarn() != 0.01 || a.GetWindows()[0].GetMinSends() != 100 {
		t.Errorf("updated account %v", a)
	}
	// A mask replaces only what it names.
	resp, err = e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{
		AccountId: "acme", DisplayName: "", UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	if err != nil || resp.GetAccount().GetDisplayName() != "" || len(resp.GetAccount().GetAdminEmails()) != 2 {
		t.Errorf("masked update = %v, %v; want the name cleared and the emails kept", resp, err)
	}

	// Naming policy_overrides without sending any clears them.
	resp, err = e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{
		AccountId: "acme", UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"policy_overrides"}},
	})
	if err != nil || resp.GetAccount().GetPolicy().GetHardBounceRate().GetWarn() != 0.02 || resp.GetAccount().GetPolicyOverrides().HardBounceWarn != nil {
		t.Fatalf("clearing the overrides = %v, %v; want the global warn threshold back", resp, err)
	}

	bad := 0.5
	_, err = e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", PolicyOverrides: &pb.PolicyOverrides{HardBounceWarn: &bad}})
	assertFieldViolation(t, err, "policy_overrides.hard_bounce_warn")
	_, err = e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", AdminEmails: []string{"nope"}})
	assertFieldViolation(t, err, "admin_emails[0]")
	_, err = e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"phase"}}})
	assertFieldViolation(t, err, "update_mask")
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: "nobody"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown account: %v, want NOT_FOUND", err)
	}
	_, err = e.accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: ""})
	assertFieldViolation(t, err, "account_id")
	_, err = e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{Phase: 99})
	assertFieldViolation(t, err, "phase")
	_, err = e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{PageSize: -1})
	assertFieldViolation(t, err, "page_size")
	_, err = e.accounts.ListAccounts(ctx, &pb.ListAccountsRequest{PageToken: "%%%"})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad page token: %v, want INVALID_ARGUMENT", err)
	}
	h, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v; want SERVING", h, err)
	}
}

func TestAdmissionPushesBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Take all the room there is, as a flood of batches would.
	if !e.srv.pending.TryAcquire(DefaultMaxPendingEvents) {
		t.Fatal("could not take the admission budget")
	}
	_, err := e.events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: many(10, send, "acme", "u")})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("unary ingest with no room: %v, want RESOURCE_EXHAUSTED", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("details %v, want a RetryInfo with a delay", st.Details())
	}

	// A stream waits for room instead, and is answered once there is some.
	stream, err := e.events.StreamEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.StreamEventsRequest{BatchId: "1", Events: many(10, send, "acme", "s")}); err != nil {
		t.Fatal(err)
	}
	answered := make(chan *pb.StreamEventsResponse, 1)
	go func() {
		resp, _ := stream.Recv()
		answered <- resp
	}()
	select {
	case resp := <-answered:
		t.Fatalf("answered %v while there was no room", resp)
	case <-time.After(200 * time.Millisecond):
	}
	e.srv.pending.Release(DefaultMaxPendingEvents)
	select {
	case resp := <-answered:
		if resp.GetAccepted() != 10 {
			t.Errorf("answer %v, want 10 accepted", resp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream not answered after room was made")
	}
}
