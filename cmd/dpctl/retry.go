package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// retryAfter says whether err is worth retrying and when. dpmon attaches a
// google.rpc.RetryInfo to UNAVAILABLE (starting, shutting down, storage
// failed) and RESOURCE_EXHAUSTED (too busy) only when the call changed
// nothing, so such a call may be sent again as it was. A quota used up
// (with a QuotaFailure) is an answer, not a reason to wait here.
func retryAfter(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok || (st.Code() != codes.Unavailable && st.Code() != codes.ResourceExhausted) {
		return 0, false
	}
	var delay time.Duration
	found := false
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.QuotaFailure:
			return 0, false
		case *errdetails.RetryInfo:
			delay, found = d.GetRetryDelay().AsDuration(), true
		}
	}
	return max(delay, 0), found
}

// waitToRetry sleeps for the delay err asks for, unless ctx ends first or
// its deadline would pass meanwhile; it says whether to send again.
func waitToRetry(ctx context.Context, err error, stderr io.Writer) bool {
	delay, ok := retryAfter(err)
	return ok && sleepToRetry(ctx, err, delay, stderr)
}

// sleepToRetry says that the call that failed with err is sent again after
// delay and sleeps, unless ctx ends first or its deadline would pass
// meanwhile; it says whether to send again.
func sleepToRetry(ctx context.Context, err error, delay time.Duration, stderr io.Writer) bool {
	if deadline, has := ctx.Deadline(); has && time.Until(deadline) < delay {
		return false
	}
	fmt.Fprintf(stderr, "dpctl: %s; retrying in %v\n", status.Convert(err).Message(), delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryUnary sends a unary call again, as often as the server asks and
// the call's deadline allows.
func retryUnary(stderr io.Writer) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		for {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err == nil || !waitToRetry(ctx, err, stderr) {
				return err
			}
		}
	}
}

// retrier decides whether ingest opens a new stream after a failure, and
// waits before it does. A stream is opened again only when the server
// asked (RetryInfo). Between two streams the server may also be away for
// a moment, restarting, and refuse the connection: once it has asked to
// be called again, a stream that cannot be opened is tried again at the
// pace it asked. Either way ingest gives up once no batch has been
// acknowledged for giveUp, so that a server gone for good ends it.
type retrier struct {
	giveUp   time.Duration
	stderr   io.Writer
	progress time.Time     // when a batch was last acknowledged, or ingest began
	asked    bool          // whether the server has asked to be called again
	delay    time.Duration // how long it last asked to wait
}

// again says whether to open a new stream after one that failed with err,
// once the wait the server asked for is over; acked says whether the
// stream acknowledged a batch.
func (r *retrier) again(ctx context.Context, err error, acked bool) bool {
	if acked {
		r.progress = time.Now()
	}
	delay, ok := retryAfter(err)
	if !ok || r.expired() {
		return false
	}
	r.asked, r.delay = true, delay
	return sleepToRetry(ctx, err, delay, r.stderr)
}

// reopen says whether to try again, after a wait, to open a stream that
// could not be opened. Before the server has asked to be called again
// nothing says it is coming: a wrong address fails at once.
func (r *retrier) reopen(ctx context.Context, err error) bool {
	if !r.asked || status.Code(err) != codes.Unavailable || r.expired() {
		return false
	}
	return sleepToRetry(ctx, err, r.delay, r.stderr)
}

func (r *retrier) expired() bool { return time.Since(r.progress) > r.giveUp }
