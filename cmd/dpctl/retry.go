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
	if !ok {
		return false
	}
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
