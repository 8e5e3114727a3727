package server

import (
	"context"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// ListAuditEvents pages through the audit log, newest first.
func (s *Server) ListAuditEvents(ctx context.Context, req *pb.ListAuditEventsRequest) (*pb.ListAuditEventsResponse, error) {
	var fields monitor.FieldErrors
	f := store.AuditFilter{AccountID: req.GetAccountId(), Actor: req.GetActor()}
	if ts := req.GetSince(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			fields = append(fields, monitor.FieldError{Field: "since", Reason: "is not a valid timestamp"})
		}
		f.Since = ts.AsTime()
	}
	if ts := req.GetUntil(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			fields = append(fields, monitor.FieldError{Field: "until", Reason: "is not a valid timestamp"})
		}
		f.Until = ts.AsTime()
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if len(fields) > 0 {
		return nil, invalidArgument(fields...)
	}
	events, next, err := s.db.Audit(ctx, f, size, req.GetPageToken())
	if err != nil {
		return nil, s.errorStatus(ctx, "ListAuditEvents", err)
	}
	resp := &pb.ListAuditEventsResponse{NextPageToken: next}
	for _, e := range events {
		resp.Events = append(resp.Events, auditToProto(e))
	}
	return resp, nil
}
