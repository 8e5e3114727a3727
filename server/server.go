// Package server adapts the monitor and the store to gRPC: it validates and
// converts requests, calls the store, converts the results back and maps
// errors onto status codes in one place.
package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// Request limits.
const (
	// MaxBatchEvents is the most events one request may carry.
	MaxBatchEvents = 10000
	// maxHeaderBytes bounds a call's headers, which grpc reads before the
	// tap can look at the credentials in them; a bearer token and the
	// usual metadata take a few hundred bytes.
	maxHeaderBytes = 16 << 10
	// DefaultPageSize and MaxPageSize bound list responses.
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// streamInflight is how many batches of one stream may await their
	// commit at once; more waits, which pushes back on the client.
	streamInflight = 8
	// DefaultMaxPendingEvents bounds the events held in memory on their way
	// to the disk, over all calls.
	DefaultMaxPendingEvents = 500_000
	// admissionWait is how long a unary batch waits for room before it is
	// told to come back later.
	admissionWait = time.Second
)

// Options configure a Server.
type Options struct {
	// Clock is the server's time; time.Now when nil.
	Clock  func() time.Time
	Logger *slog.Logger
	// MaxConcurrentStreams bounds the streams of one connection.
	MaxConcurrentStreams uint32
	// MaxPendingEvents bounds the events received but not yet committed;
	// at least MaxBatchEvents. Streams wait for room (their clients feel
	// the push back); unary calls that find none get RESOURCE_EXHAUSTED.
	MaxPendingEvents int64
	// Auth authenticates callers; nil serves everyone as an admin, for a
	// server that listens on loopback only.
	Auth *Authenticator
	// CountEvents, when set, is told how many events of each type a batch
	// had accepted, as duplicates and rejected (result "accepted",
	// "duplicate", "rejected"), for metrics.
	CountEvents func(t monitor.EventType, result string, n int)
	// Unary and Stream interceptors run before all others on every call
	// that passes the tap, so that they see the calls refused by the
	// interceptors and handlers too (e.g. metrics); the tap's own
	// refusals are told to Refused.
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
	// Retry is how a notification retried by hand is scheduled.
	Retry monitor.RetryPolicy
	// Limits bound what callers may make the server hold.
	Limits Limits
	// Refused, when set, is told of every call refused before it was read
	// (reasons Refused*), for metrics.
	Refused func(reason string)
	// Ban, when set, cuts an address off for d: it is called when more
	// than Limits.MaxRefusalsPerPeer calls from it come without a valid
	// credential in a minute (Listener.Ban).
	Ban func(host string, d time.Duration)
	// RefusedAccount, when set, is told of every new account refused
	// (reasons AccountsRefused*), for metrics.
	RefusedAccount func(reason string)
}

// Server implements dpmon's gRPC services.
type Server struct {
	pb.UnimplementedEventServiceServer
	pb.UnimplementedAccountServiceServer
	pb.UnimplementedSuppressionServiceServer
	pb.UnimplementedBounceServiceServer
	pb.UnimplementedTicketServiceServer
	pb.UnimplementedAuditServiceServer
	pb.UnimplementedNotificationServiceServer
	pb.UnimplementedBackupServiceServer

	// db is set once by Ready, before ready turns true; calls pass the tap
	// only after that.
	db      *store.DB
	ready   atomic.Bool
	auth    *Authenticator
	count   func(t monitor.EventType, result string, n int)
	unary   []grpc.UnaryServerInterceptor
	stream  []grpc.StreamServerInterceptor
	retry   monitor.RetryPolicy
	clock   func() time.Time
	log     *slog.Logger
	streams uint32
	pending *semaphore.Weighted
	health  *health.Server
	limits  Limits
	admit   *admission
	refused func(reason string)
	// accountsRefused counts new accounts refused; creators paces the
	// accounts each credential creates.
	accountsRefused func(reason string)
	creators        *creators

	drainOnce sync.Once
	draining  chan struct{}

	// eventBufs holds the []monitor.Event buffers that batches are
	// converted into (see ingest).
	eventBufs sync.Pool
}

// New returns a Server over db, ready to serve.
func New(db *store.DB, opts Options) *Server {
	s := Starting(opts)
	s.Ready(db)
	return s
}

// Starting returns a Server whose store is still opening, so that its port
// can answer at once: health says NOT_SERVING and every other call is
// answered UNAVAILABLE with a RetryInfo, until Ready.
func Starting(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Retry == (monitor.RetryPolicy{}) {
		opts.Retry = monitor.DefaultRetryPolicy()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConcurrentStreams == 0 {
		opts.MaxConcurrentStreams = 256
	}
	switch {
	case opts.MaxPendingEvents == 0:
		opts.MaxPendingEvents = DefaultMaxPendingEvents
	case opts.MaxPendingEvents < MaxBatchEvents:
		opts.MaxPendingEvents = MaxBatchEvents // a full batch must fit
	}
	limits := opts.Limits.withDefaults()
	s := &Server{
		auth: opts.Auth, count: opts.CountEvents, unary: opts.Unary, stream: opts.Stream, retry: opts.Retry, clock: opts.Clock, log: opts.Logger, streams: opts.MaxConcurrentStreams,
		pending: semaphore.NewWeighted(opts.MaxPendingEvents),
		health:  health.NewServer(), draining: make(chan struct{}),
		limits: limits, admit: newAdmission(limits, opts.Ban), refused: opts.Refused,
		accountsRefused: opts.RefusedAccount, creators: newCreators(limits.NewAccountsPerMinute),
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// Ready gives the server its store: calls are served from now on.
func (s *Server) Ready(db *store.DB) {
	s.db = db
	s.ready.Store(true)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	go s.watchStore()
}

// watchStore turns health NOT_SERVING as soon as the store stops writing,
// whether a request or a scheduled job hit the failure, until Drain.
func (s *Server) watchStore() {
	select {
	case <-s.db.Failed():
		s.log.Error("store failed; restart the server to rebuild its state from disk", "err", s.db.Err())
		s.health.Shutdown()
	case <-s.draining:
	}
}

// GRPCServer returns a grpc.Server with dpmon's services, health and
// reflection registered and with limits fit for a long-running service.
func (s *Server) GRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	// A panic in a handler is a bug: log it with its stack and answer a bare
	// INTERNAL instead of taking the whole service down.
	onPanic := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		s.log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	unary := append(slices.Clone(s.unary), recovery.UnaryServerInterceptor(onPanic), s.unaryAuth, unaryUTF8)
	stream := append(slices.Clone(s.stream), recovery.StreamServerInterceptor(onPanic), s.streamAuth, streamUTF8)
	gs := grpc.NewServer(append([]grpc.ServerOption{
		// Credentials and limits are checked from the headers, before grpc
		// reads a request; see admission.go.
		grpc.InTapHandle(s.tap),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.StatsHandler(&decodeGate{largest: RequestCopies * int64(s.limits.MaxMessageBytes)}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(s.limits.MaxMessageBytes),
		grpc.MaxHeaderListSize(maxHeaderBytes),
		grpc.MaxConcurrentStreams(s.streams),
		// A connection that has not finished its TLS and HTTP/2 handshake
		// within this is closed: it holds a slot of its peer.
		grpc.ConnectionTimeout(10 * time.Second),
		// Find dead peers of long-lived streams; allow clients to ping
		// every 10s, no more, even between streams. A connection without
		// a call for a long while is closed; clients reconnect on demand.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second, MaxConnectionIdle: 15 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}, extra...)...)
	pb.RegisterEventServiceServer(gs, s)
	pb.RegisterAccountServiceServer(gs, s)
	pb.RegisterSuppressionServiceServer(gs, s)
	pb.RegisterBounceServiceServer(gs, s)
	pb.RegisterTicketServiceServer(gs, s)
	pb.RegisterAuditServiceServer(gs, s)
	pb.RegisterNotificationServiceServer(gs, s)
	pb.RegisterBackupServiceServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
	return gs
}

// Drain stops the event streams from taking new batches: each stream
// acknowledges the batches it has begun, then ends with UNAVAILABLE so that
// its client reconnects. Health turns NOT_SERVING at once.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		s.health.Shutdown()
		close(s.draining)
	})
}
