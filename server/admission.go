package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// Admission decides what a caller may make the server hold before its
// request is handled. grpc-go reads a unary request whole before any
// interceptor runs, so these checks run earlier: in the transport's tap,
// which sees only the headers (credentials are checked there, before a
// byte of the body is read), and in a stats handler (decodegate.go), whose
// Begin runs on the call's own goroutine just before grpc reads the
// request.

// Reasons a call is refused before it is read, for metrics.
const (
	RefusedUnauthenticated = "unauthenticated"
	RefusedPermission      = "permission_denied"
	RefusedStarting        = "starting"
	RefusedPeerStreams     = "peer_streams"
	RefusedEventStreams    = "event_streams"
	// RefusedUnauthenticatedCalls: too many health checks at once, in all
	// or from one address.
	RefusedUnauthenticatedCalls = "unauthenticated_calls"
)

// retryBusy is the retry delay suggested to a call refused for being one
// too many: calls end quickly.
const retryBusy = time.Second

// errSlowRequest cuts off a call whose request does not arrive in time.
var errSlowRequest = errors.New("the request did not arrive in time")

// admission counts the calls in progress that the limits bound.
type admission struct {
	limits Limits
	// decoding is the budget of authenticated requests; healthDecoding
	// that of health checks: one largest request at a time, so that
	// nobody unauthenticated can hold much or crowd out the others.
	decoding, healthDecoding *semaphore.Weighted
	// Health checks and health watches (which last) have slots of their
	// own, so that watches cannot lock probes out.
	checks, watches *semaphore.Weighted
	events          *semaphore.Weighted
	// ban, when set, cuts an address off for a while.
	ban func(host string, d time.Duration)
	// requestTimeout and healthTimeout are how long a call's request may
	// take to arrive (see decodeGate).
	requestTimeout, healthTimeout time.Duration

	mu    sync.Mutex
	peers map[string]*peerState
}

// peerState is what one address has in progress, and how often its calls
// were refused lately.
type peerState struct {
	calls           int
	checks, watches int // health checks and watches, part of calls
	refusals        int
	refusedSince    time.Time
}

func newAdmission(l Limits, ban func(host string, d time.Duration)) *admission {
	return &admission{
		limits:         l,
		decoding:       semaphore.NewWeighted(l.MaxDecodingBytes),
		healthDecoding: semaphore.NewWeighted(RequestCopies * int64(l.MaxMessageBytes)),
		checks:         semaphore.NewWeighted(int64(l.MaxUnauthenticatedCalls)),
		watches:        semaphore.NewWeighted(int64(l.MaxUnauthenticatedCalls)),
		events:         semaphore.NewWeighted(int64(l.MaxEventStreams)),
		ban:            ban,
		requestTimeout: requestTimeout,
		healthTimeout:  healthRequestTimeout,
		peers:          make(map[string]*peerState),
	}
}

// tap runs in the connection's reader goroutine when a call's headers
// arrive, before grpc reads anything of its body: it authenticates and
// authorizes the caller and counts the call against the limits. It must
// not block. What the call takes is given back when its context ends,
// which grpc does for every call it accepts, however it ends.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	host := peerHost(ctx)
	ctx, authenticated, err := s.authorize(ctx, info.FullMethodName)
	if err != nil {
		reason := refusalReason(err)
		s.refuse(reason)
		// Only the callers without a valid credential: one with a wrong
		// role is known, and its credential can be revoked.
		if reason == RefusedUnauthenticated {
			s.admit.refusedCredentials(host, s.clock())
		}
		return ctx, err
	}
	ctx, release, reason, err := s.admit.take(ctx, host, info.FullMethodName, authenticated)
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

// refusedCredentials counts a call from host refused for its credentials;
// past the limit in a minute, host is cut off. grpc-go keeps a call it
// refuses before reading it until the deadline the caller gave (about half
// a kilobyte, as long as the caller likes), so refusals are bounded too.
func (a *admission) refusedCredentials(host string, now time.Time) {
	a.mu.Lock()
	p := a.peer(host)
	if now.Sub(p.refusedSince) > time.Minute {
		p.refusals, p.refusedSince = 0, now
	}
	p.refusals++
	ban := p.refusals >= a.limits.MaxRefusalsPerPeer
	if ban {
		p.refusals = 0
	}
	a.forget(host, p)
	if len(a.peers) > maxRemembered {
		a.forgetStale(now)
	}
	a.mu.Unlock()
	if ban && a.ban != nil {
		a.ban(host, banFor)
	}
}

// peer returns host's state, new if it has none; the caller holds mu.
func (a *admission) peer(host string) *peerState {
	p, ok := a.peers[host]
	if !ok {
		p = &peerState{}
		a.peers[host] = p
	}
	return p
}

// forget drops the state of a host that has nothing in progress and no
// refusal to remember; the caller holds mu.
func (a *admission) forget(host string, p *peerState) {
	if p.calls == 0 && p.refusals == 0 {
		delete(a.peers, host)
	}
}

// maxRemembered is how many addresses may be remembered before those
// whose refusals are over a minute old and that have nothing in progress
// are forgotten: refusals from ever new addresses must not grow the map.
const maxRemembered = 10_000

// forgetStale forgets the addresses that have nothing in progress and no
// refusal within the last minute; the caller holds mu.
func (a *admission) forgetStale(now time.Time) {
	for host, p := range a.peers {
		if p.calls == 0 && now.Sub(p.refusedSince) > time.Minute {
			delete(a.peers, host)
		}
	}
}

// take counts a new call from host against the limits. It returns the
// call's context, carrying what the decode gate needs, and the function
// that gives everything back (once, however often called).
func (a *admission) take(ctx context.Context, host, method string, authenticated bool) (_ context.Context, release func(), reason string, err error) {
	health := !authenticated
	// A health call counts as a check or as a watch (which lasts), each
	// bounded apart, so that watches cannot lock probes out.
	var mine *int
	var slots *semaphore.Weighted // a second slot, for the calls bounded on their own
	a.mu.Lock()
	p := a.peer(host)
	switch {
	case health && strings.HasSuffix(method, "/Watch"):
		mine, slots = &p.watches, a.watches
	case health:
		mine, slots = &p.checks, a.checks
	case method == pb.EventService_StreamEvents_FullMethodName:
		slots = a.events
	}
	switch {
	case p.calls >= a.limits.MaxStreamsPerPeer:
		reason, err = RefusedPeerStreams, resourceExhausted("too many calls in progress from "+host+"; wait for some to end", retryBusy)
	case mine != nil && *mine >= unauthenticatedPerPeer:
		reason, err = RefusedUnauthenticatedCalls, resourceExhausted("too many health calls in progress from "+host, retryBusy)
	}
	if err != nil {
		a.forget(host, p)
		a.mu.Unlock()
		return ctx, nil, reason, err
	}
	p.calls++
	if mine != nil {
		*mine++
	}
	a.mu.Unlock()
	leave := func() {
		a.mu.Lock()
		p.calls--
		if mine != nil {
			*mine--
		}
		a.forget(host, p)
		a.mu.Unlock()
	}

	switch {
	case health:
		reason, err = RefusedUnauthenticatedCalls, resourceExhausted("too many health calls in progress", retryBusy)
	case slots != nil:
		reason, err = RefusedEventStreams, resourceExhausted("too many event streams are open; send over an open one or retry later", retryBusy)
	}
	if slots != nil && !slots.TryAcquire(1) {
		leave()
		return ctx, nil, reason, err
	}
	c := &call{budget: a.decoding, timeout: a.requestTimeout}
	if health {
		c.budget, c.timeout = a.healthDecoding, a.healthTimeout
	}
	ctx, c.cancel = context.WithCancelCause(ctx)
	var once sync.Once
	return context.WithValue(ctx, callKey{}, c), func() {
		once.Do(func() {
			c.cancel(context.Canceled) // the call has ended: frees the child context
			if slots != nil {
				slots.Release(1)
			}
			leave()
		})
	}, "", nil
}

// peerHost is the caller's address as the limits count it: see hostOf.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	return hostOf(p.Addr)
}

// hostOf is the address a connection comes from, as the per-peer limits
// count it: the IP without the port, and for IPv6 the /64, which one
// subscriber usually holds whole.
func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		host = a.String()
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil {
		return host
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
