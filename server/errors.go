package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// errorStatus is the one table from domain and store errors to gRPC
// statuses. Anything it does not know is logged and sent as a generic
// INTERNAL, so no internal detail leaks to clients.
func (s *Server) errorStatus(ctx context.Context, method string, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return err // already a status: a refusal decided in this package
	}
	var fields monitor.FieldErrors
	var field monitor.FieldError
	switch {
	case errors.As(err, &fields):
		return invalidArgument(fields...)
	case errors.As(err, &field):
		return invalidArgument(field)
	case errors.Is(err, monitor.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, monitor.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, monitor.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, monitor.ErrFailedPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, monitor.ErrPermission):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, store.ErrClosed):
		return unavailable("server is shutting down; retry on another connection", retryShutdown)
	case errors.Is(err, store.ErrFailed):
		// Logged once by watchStore, which also turns health NOT_SERVING;
		// done here too, so that probes know by the time the caller does.
		s.health.Shutdown()
		return unavailable("storage unavailable", retryStorage)
	case errors.Is(err, store.ErrAccountLimit):
		if s.accountsRefused != nil {
			s.accountsRefused(AccountsRefusedLimit)
		}
		// The sentinel's own words: the wrapping names counts a sender
		// need not see.
		return quotaFailure("a new account is refused: "+store.ErrAccountLimit.Error(), "accounts", "the server's limit of accounts (limits.max_accounts)")
	}
	s.log.ErrorContext(ctx, "internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error")
}

// How long a client is told to wait before retrying an UNAVAILABLE call:
// a restart takes seconds; a failed store needs an operator, so there is
// no point in coming back sooner than that.
const (
	retryStarting = 2 * time.Second
	retryShutdown = time.Second
	retryStorage  = 30 * time.Second
)

// unavailable builds UNAVAILABLE with a google.rpc.RetryInfo saying when to
// try again, so that clients back off instead of retrying in a loop.
func unavailable(msg string, retryAfter time.Duration) error {
	return withDetails(status.New(codes.Unavailable, msg), &errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)})
}

// quotaFailure builds RESOURCE_EXHAUSTED for a limit that waiting does not
// lift: a google.rpc.QuotaFailure names it, and no RetryInfo invites a
// retry.
func quotaFailure(msg, subject, description string) error {
	return withDetails(status.New(codes.ResourceExhausted, msg),
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: subject, Description: description}}})
}

func withDetails(st *status.Status, details ...protoadapt.MessageV1) error {
	if withDetails, err := st.WithDetails(details...); err == nil {
		st = withDetails
	}
	return st.Err()
}

// resourceExhausted builds RESOURCE_EXHAUSTED with a google.rpc.RetryInfo
// saying when to try again and, for a quota, a google.rpc.QuotaFailure
// saying which.
func resourceExhausted(msg string, retryAfter time.Duration, quota ...*errdetails.QuotaFailure_Violation) error {
	details := []protoadapt.MessageV1{&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}}
	if len(quota) > 0 {
		details = append(details, &errdetails.QuotaFailure{Violations: quota})
	}
	return withDetails(status.New(codes.ResourceExhausted, msg), details...)
}

// invalidArgument builds INVALID_ARGUMENT with a google.rpc.BadRequest that
// names every offending field.
func invalidArgument(fields ...monitor.FieldError) error {
	msg := "invalid argument"
	if len(fields) > 0 {
		msg = "invalid " + fields[0].Error()
	}
	st := status.New(codes.InvalidArgument, msg)
	br := &errdetails.BadRequest{}
	for _, f := range fields {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Reason})
	}
	return withDetails(st, br)
}
