package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/store"
)

// watchOpen opens a watch and waits for its header, so that the call is
// known to hold its slot.
func watchOpen(t *testing.T, ctx context.Context, e *env) (grpc.ServerStreamingClient[pb.WatchTransitionsResponse], error) {
	t.Helper()
	stream, err := e.accounts.WatchTransitions(ctx, &pb.WatchTransitionsRequest{})
	if err != nil {
		return nil, err
	}
	if _, err := stream.Header(); err != nil {
		return nil, err
	}
	return stream, nil
}

// One peer may have at most max_streams_per_peer calls in progress; the
// next is refused from its headers with a retry hint, and a slot frees as
// soon as a call ends.
func TestCallsPerPeerAreCapped(t *testing.T) {
	var refused counter
	e := newEnvOpts(t, func(*store.Options) {}, func(o *Options) {
		o.Limits, o.Refused = Limits{MaxStreamsPerPeer: 2}, refused.add
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, cancelFirst := context.WithCancel(ctx)
	if _, err := watchOpen(t, first, e); err != nil {
		t.Fatal(err)
	}
	if _, err := watchOpen(t, ctx, e); err != nil {
		t.Fatal(err)
	}
	_, err := e.accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: "acme"})
	if _, ok := retryDelay(err); status.Code(err) != codes.ResourceExhausted || !ok {
		t.Fatalf("a third call: got %v, want RESOURCE_EXHAUSTED with a RetryInfo", err)
	}
	cancelFirst()
	if !eventually(func() bool {
		_, err := e.accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: "acme"})
		return status.Code(err) == codes.NotFound
	}) {
		t.Error("a call after one ended is still refused")
	}
	if got := refused.all(); len(got) == 0 || got[0] != RefusedPeerStreams {
		t.Errorf("refusals counted: %v, want peer_streams", got)
	}
}

// Event streams are bounded server-wide: each may hold a batch in the
// reading that the decoding budget cannot see.
func TestEventStreamsAreCapped(t *testing.T) {
	e := newEnvOpts(t, func(*store.Options) {}, func(o *Options) { o.Limits = Limits{MaxEventStreams: 1} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, cancelFirst := context.WithCancel(ctx)
	open, err := e.events.StreamEvents(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := sendAndRecv(open, send("acme", "1")); err != nil {
		t.Fatal(err)
	}
	second, err := e.events.StreamEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sendAndRecv(second, send("acme", "2")); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second event stream: got %v, want RESOURCE_EXHAUSTED", err)
	}
	// Unary batches are not event streams.
	e.ingest(t, []*pb.Event{send("acme", "3")})
	cancelFirst()
	if !eventually(func() bool {
		s, err := e.events.StreamEvents(ctx)
		return err == nil && sendAndRecv(s, send("acme", "4")) == nil
	}) {
		t.Error("an event stream after the first ended is still refused")
	}
}

// Health checks, which need no credentials, are bounded apart: watches
// (which last) and checks each have their own slots, so that watches
// cannot lock probes out, and one address may hold two of each.
func TestHealthCallsAreCapped(t *testing.T) {
	e := newEnvOpts(t, func(*store.Options) {}, func(o *Options) {
		o.Auth, o.Limits = testAuth(t), Limits{MaxUnauthenticatedCalls: 1}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := e.health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	second, err := e.health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second health watch: got %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("a health check beside the watch: %v", err)
	}
	// Authenticated calls have their own limits.
	if _, err := e.accounts.ListAccounts(as("auditor"), &pb.ListAccountsRequest{}); err != nil {
		t.Errorf("an authenticated call beside it: %v", err)
	}
}

// A call whose request does not arrive in time is cut off, and gives back
// what it held: here two health checks that send their headers and
// nothing more take an address's two slots until they are cut off.
func TestAStalledRequestIsCutOff(t *testing.T) {
	e := newEnv(t)
	e.srv.admit.healthTimeout = 300 * time.Millisecond
	ctx := context.Background()
	for range 2 {
		stalled, err := e.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/grpc.health.v1.Health/Check")
		if err != nil {
			t.Fatal(err)
		}
		// The headers go out with the stream; no request follows.
		defer stalled.CloseSend()
	}
	check := func() error {
		_, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if !eventually(func() bool { return status.Code(check()) == codes.ResourceExhausted }) {
		t.Fatal("the stalled health checks do not hold the address's slots")
	}
	if !eventually(func() bool { return check() == nil }) {
		t.Fatal("the address's health checks are still refused after the stalled ones were cut off")
	}
}

// Reflection describes the API to anyone with a credential, and to nobody
// without one when there is a token file.
func TestReflectionNeedsACredential(t *testing.T) {
	e := newEnvWith(t, testAuth(t))
	list := func(ctx context.Context) error {
		stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
		if err != nil {
			return err
		}
		// A stream the server ended at once fails Send with io.EOF; its
		// status comes with Recv, as grpc documents.
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		_, err = stream.Recv()
		return err
	}
	if err := list(context.Background()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("reflection without a token: got %v, want UNAUTHENTICATED", err)
	}
	if err := list(as("platform-a")); err != nil {
		t.Errorf("reflection with a sender's token: %v", err)
	}
}

// An address whose calls keep being refused for their credentials is cut
// off: grpc keeps each such call until its deadline, so their number must
// be bounded.
func TestRepeatedRefusalsBanTheAddress(t *testing.T) {
	var banned []string
	var mu sync.Mutex
	e := newEnvOpts(t, func(*store.Options) {}, func(o *Options) {
		o.Auth, o.Limits = testAuth(t), Limits{MaxRefusalsPerPeer: 3}
		o.Ban = func(host string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			banned = append(banned, fmt.Sprint(host, " for ", d))
		}
	})
	for range 7 {
		if _, err := e.accounts.GetAccount(as("no-such-token"), &pb.GetAccountRequest{AccountId: "acme"}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("a bad token: got %v, want UNAUTHENTICATED", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"127.0.0.1 for 1m0s", "127.0.0.1 for 1m0s"}; !slices.Equal(banned, want) {
		t.Errorf("bans: %v, want %v (one per 3 refusals)", banned, want)
	}
}

// LimitListener closes at once a connection from a peer that already has
// its share open, and takes the peer's next one when one closes.
func TestConnectionsPerPeerAreCapped(t *testing.T) {
	refused := make(chan struct{}, 10)
	_, accepted, dial := limitedListener(t, 2, func() { refused <- struct{}{} }, time.Now)
	first, _ := dial(), dial()
	server1, server2 := <-accepted, <-accepted
	third := dial()
	<-refused
	if _, err := third.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the third connection: read %v, want EOF (closed by the server)", err)
	}
	first.Close()
	server1.Close()
	dial()
	select {
	case <-accepted:
	case <-refused:
		t.Fatal("a connection after one closed was refused")
	}
	server2.Close()
}

// While the store opens the port answers: health NOT_SERVING and every
// call UNAVAILABLE with a retry hint; once Ready, both serve.
func TestAStartingServerAnswersUnavailable(t *testing.T) {
	srv := Starting(Options{})
	gs := srv.GRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	health, events := healthpb.NewHealthClient(conn), pb.NewEventServiceClient(conn)
	if h, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while starting: %v, %v; want NOT_SERVING", h, err)
	}
	_, err = events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: []*pb.Event{send("acme", "1")}})
	if _, ok := retryDelay(err); status.Code(err) != codes.Unavailable || !ok {
		t.Fatalf("a call while starting: got %v, want UNAVAILABLE with a RetryInfo", err)
	}

	db := openStore(t)
	srv.Ready(db)
	defer srv.Drain()
	if h, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health once ready: %v, %v; want SERVING", h, err)
	}
	if _, err := events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: []*pb.Event{send("acme", "1")}}); err != nil {
		t.Fatalf("a call once ready: %v", err)
	}
}

// Every UNAVAILABLE says when to come back, so that clients do not retry
// in a loop: here, a server shutting down.
func TestUnavailableCarriesARetryHint(t *testing.T) {
	e := newEnv(t)
	stream, err := e.events.StreamEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := sendAndRecv(stream, send("acme", "1")); err != nil {
		t.Fatal(err)
	}
	e.srv.Drain()
	_, err = stream.Recv()
	if _, ok := retryDelay(err); status.Code(err) != codes.Unavailable || !ok {
		t.Fatalf("a stream ended by the shutdown: got %v, want UNAVAILABLE with a RetryInfo", err)
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = e.events.IngestEvents(context.Background(), &pb.IngestEventsRequest{Events: []*pb.Event{send("acme", "2")}})
	if _, ok := retryDelay(err); status.Code(err) != codes.Unavailable || !ok {
		t.Fatalf("a batch once the store closed: got %v, want UNAVAILABLE with a RetryInfo", err)
	}
}

// eventually polls cond until it holds, for what an ended call takes to
// give its slot back (its context ends a moment after the client's).
func eventually(cond func() bool) bool {
	for range 200 {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// openStore opens a store in a temp dir, closed when the test ends.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// The per-peer limits count an IPv6 subscriber's whole /64 as one
// address, and IPv4 addresses one by one.
func TestHostOf(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:4411":              "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:4411": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:80":   "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:4411":     "192.0.2.7",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostOf(a); got != want {
			t.Errorf("hostOf(%s) = %s, want %s", addr, got, want)
		}
	}
}

// A banned address's connections are closed and its new ones refused
// until the ban runs out; other addresses are untouched.
func TestABanClosesAndRefuses(t *testing.T) {
	clock := monitortest.New(time.Now())
	lis, accepted, dial := limitedListener(t, 10, nil, clock.Now)
	open := dial()
	<-accepted
	lis.Ban("127.0.0.1", time.Minute)
	if _, err := open.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("an open connection of a banned address: read %v, want EOF", err)
	}
	if _, err := dial().Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a new connection of a banned address: read %v, want EOF", err)
	}
	clock.Set(clock.Now().Add(time.Minute))
	dial()
	<-accepted // taken again once the ban ran out
}

// limitedListener serves a Listener on loopback (10 connections, perPeer
// from one address, bans judged by now): the connections it accepts arrive
// on accepted, and dial opens one more to it.
func limitedListener(t *testing.T, perPeer int, refused func(), now func() time.Time) (lis *Listener, accepted chan net.Conn, dial func() net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis = LimitListener(raw, 10, perPeer, refused)
	lis.now = now
	t.Cleanup(func() { lis.Close() })
	accepted = make(chan net.Conn, 10)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return lis, accepted, func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}
