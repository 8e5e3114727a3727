package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// Admission decides what a caller may make the server hold before its
// request is handled. grpc-go reads a unary request whole before any
// interceptor runs, so these checks run earlier: in the transport's tap,
// which sees only the headers (credentials are checked there, before a
// byte of the body is read), and in a stats handler, whose Begin runs on
// the call's own goroutine just before grpc reads the request.

// Limits bound what callers may make the server hold; a zero field takes
// its default.
type Limits struct {
	// MaxMessageBytes is the largest request message grpc reads; a larger
	// one is refused from its length prefix, before it is read.
	MaxMessageBytes int
	// MaxDecodingBytes bounds the memory of the requests being read,
	// decoded and handled at once, each counted requestCopies times. A
	// call reserves that for MaxMessageBytes before its request is read
	// (it does not know the size sooner) and keeps it for the actual size
	// once the request is decoded, until the call ends; a call that finds
	// no room waits, and HTTP/2 flow control keeps its client from sending
	// more than one window meanwhile.
	MaxDecodingBytes int64
	// MaxStreamsPerPeer bounds the calls in progress from one IP address,
	// over all its connections.
	MaxStreamsPerPeer int
	// MaxEventStreams bounds the open StreamEvents calls. A stream reads
	// each batch when its client sends it, which may be long after the
	// stream opened, so its batches cannot wait on the decoding budget
	// without an idle stream holding it: each holds at most one batch in
	// the reading, and this bounds how many do.
	MaxEventStreams int
	// MaxUnauthenticatedCalls bounds the calls in progress that need no
	// credentials: health checks and reflection.
	MaxUnauthenticatedCalls int
	// NewAccountsPerMinute is how many accounts one credential may create
	// in a minute (and at once); an open server's callers are not limited.
	NewAccountsPerMinute int
}

// requestCopies is how many times a request is in memory at its peak: the
// HTTP/2 frames as they arrive, the contiguous copy grpc decodes from,
// and the decoded message (protobuf copies its strings out).
const requestCopies = 3

// Default limits.
const (
	DefaultMaxMessageBytes         = 16 << 20
	DefaultMaxDecodingBytes        = 256 << 20
	DefaultMaxStreamsPerPeer       = 1024
	DefaultMaxEventStreams         = 32
	DefaultMaxUnauthenticatedCalls = 8
	DefaultNewAccountsPerMinute    = 10_000
)

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxDecodingBytes <= 0 {
		l.MaxDecodingBytes = DefaultMaxDecodingBytes
	}
	// A message must fit in the budget, or it would wait for ever.
	l.MaxDecodingBytes = max(l.MaxDecodingBytes, requestCopies*int64(l.MaxMessageBytes))
	if l.MaxStreamsPerPeer <= 0 {
		l.MaxStreamsPerPeer = DefaultMaxStreamsPerPeer
	}
	if l.MaxEventStreams <= 0 {
		l.MaxEventStreams = DefaultMaxEventStreams
	}
	if l.MaxUnauthenticatedCalls <= 0 {
		l.MaxUnauthenticatedCalls = DefaultMaxUnauthenticatedCalls
	}
	if l.NewAccountsPerMinute <= 0 {
		l.NewAccountsPerMinute = DefaultNewAccountsPerMinute
	}
	return l
}

// Reasons a call is refused before it is read, for metrics.
const (
	RefusedUnauthenticated = "unauthenticated"
	RefusedPermission      = "permission_denied"
	RefusedStarting        = "starting"
	RefusedPeerStreams     = "peer_streams"
	RefusedEventStreams    = "event_streams"
	// RefusedUnauthenticatedCalls: too many health checks and reflection
	// calls, which need no credentials, at once.
	RefusedUnauthenticatedCalls = "unauthenticated_calls"
)

// admission counts the calls in progress that the limits bound.
type admission struct {
	limits   Limits
	decoding *semaphore.Weighted
	unauth   *semaphore.Weighted
	events   *semaphore.Weighted

	mu      sync.Mutex
	perPeer map[string]int
}

func newAdmission(l Limits) *admission {
	return &admission{
		limits:   l,
		decoding: semaphore.NewWeighted(l.MaxDecodingBytes),
		unauth:   semaphore.NewWeighted(int64(l.MaxUnauthenticatedCalls)),
		events:   semaphore.NewWeighted(int64(l.MaxEventStreams)),
		perPeer:  make(map[string]int),
	}
}

// retryBusy is the retry delay suggested to a call refused for being one
// too many: calls end quickly.
const retryBusy = time.Second

// tap runs in the connection's reader goroutine when a call's headers
// arrive, before grpc reads anything of its body: it authenticates and
// authorizes the caller and counts the call against the limits. It must
// not block. The slots it takes are given back when the call's context
// ends, which grpc does for every call, however it ends.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	ctx, authenticated, err := s.authorize(ctx, info.FullMethodName)
	if err != nil {
		s.refuse(refusalReason(err))
		return ctx, err
	}
	release, reason, err := s.admit.take(ctx, info.FullMethodName, authenticated)
	if err != nil {
		s.refuse(reason)
		return ctx, err
	}
	context.AfterFunc(ctx, release)
	return ctx, nil
}

func (s *Server) refuse(reason string) {
	if s.refused != nil {
		s.refused(reason)
	}
}

// refusalReason names why authorize refused a call.
func refusalReason(err error) string {
	switch status.Code(err) {
	case codes.PermissionDenied:
		return RefusedPermission
	case codes.Unavailable:
		return RefusedStarting
	}
	return RefusedUnauthenticated
}

// take counts a new call from its peer against the limits, and returns
// the function that gives its slots back (once, however often called).
func (a *admission) take(ctx context.Context, method string, authenticated bool) (release func(), reason string, err error) {
	host := peerHost(ctx)
	a.mu.Lock()
	if a.perPeer[host] >= a.limits.MaxStreamsPerPeer {
		a.mu.Unlock()
		return nil, RefusedPeerStreams, resourceExhausted("too many calls in progress from "+host+"; wait for some to end", retryBusy)
	}
	a.perPeer[host]++
	a.mu.Unlock()
	leave := func() {
		a.mu.Lock()
		if a.perPeer[host]--; a.perPeer[host] == 0 {
			delete(a.perPeer, host)
		}
		a.mu.Unlock()
	}
	// A second slot, for the calls whose number is bounded on its own.
	var slots *semaphore.Weighted
	switch {
	case !authenticated:
		slots, reason = a.unauth, RefusedUnauthenticatedCalls
		err = resourceExhausted("too many health checks and reflection calls in progress", retryBusy)
	case method == pb.EventService_StreamEvents_FullMethodName:
		slots, reason = a.events, RefusedEventStreams
		err = resourceExhausted("too many event streams are open; send over an open one or retry later", retryBusy)
	}
	if slots != nil && !slots.TryAcquire(1) {
		leave()
		return nil, reason, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if slots != nil {
				slots.Release(1)
			}
			leave()
		})
	}, "", nil
}

// peerHost is the caller's IP address without the port.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	return hostOf(p.Addr)
}

// decodeGate is the stats handler that holds a call back until its request
// fits in the decoding budget. Its Begin runs on the call's goroutine just
// before grpc reads the request, so waiting there is back-pressure on that
// call only, never on its connection. A request counts requestCopies
// times: a call reserves that for the largest message before it is read,
// and once decoded keeps it for the message's actual size until it ends,
// since the decoded request lives as long as its handler.
type decodeGate struct {
	budget  *semaphore.Weighted
	reserve int64
}

type reservationKey struct{}

// reservation is what one call holds of the budget.
type reservation struct{ held atomic.Int64 }

func (g *decodeGate) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, reservationKey{}, &reservation{})
}

func (g *decodeGate) HandleRPC(ctx context.Context, st stats.RPCStats) {
	r, _ := ctx.Value(reservationKey{}).(*reservation)
	if r == nil {
		return
	}
	switch st := st.(type) {
	case *stats.Begin:
		// A client stream's messages come when its client sends them; see
		// Limits.MaxEventStreams. Every other call's request follows its
		// headers at once.
		if st.IsClientStream {
			return
		}
		if g.budget.Acquire(ctx, g.reserve) == nil {
			r.held.Store(g.reserve)
		}
	case *stats.InPayload:
		keep := min(requestCopies*int64(st.Length), g.reserve)
		if held := r.held.Load(); held > keep && r.held.CompareAndSwap(held, keep) {
			g.budget.Release(held - keep)
		}
	case *stats.End:
		if n := r.held.Swap(0); n > 0 {
			g.budget.Release(n)
		}
	}
}

func (g *decodeGate) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (g *decodeGate) HandleConn(context.Context, stats.ConnStats) {}
