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
		return status.Error(codes.Unavailable, "server is shutting down; retry on another connection")
	case errors.Is(err, store.ErrFailed):
		// Logged once by watchStore; health is already NOT_SERVING.
		return status.Error(codes.Unavailable, "storage unavailable")
	}
	s.log.ErrorContext(ctx, "internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error")
}

// resourceExhausted builds RESOURCE_EXHAUSTED with a google.rpc.RetryInfo
// saying when to try again and, for a quota, a google.rpc.QuotaFailure
// saying which.
func resourceExhausted(msg string, retryAfter time.Duration, quota ...*errdetails.QuotaFailure_Violation) error {
	st := status.New(codes.ResourceExhausted, msg)
	details := []protoadapt.MessageV1{&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}}
	if len(quota) > 0 {
		details = append(details, &errdetails.QuotaFailure{Violations: quota})
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		st = withDetails
	}
	return st.Err()
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
	if withDetails, err := st.WithDetails(br); err == nil {
		st = withDetails
	}
	return st.Err()
}
