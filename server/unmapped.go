package server

import (
	"context"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/eventpb"
	"github.com/dpmon/dpmon/store"
)

// ListUnmappedEvents pages through the events webhooks delivered that no
// mapping assigned to an account, newest first.
func (s *Server) ListUnmappedEvents(ctx context.Context, req *pb.ListUnmappedEventsRequest) (*pb.ListUnmappedEventsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	kept, next, err := s.db.Unmapped(ctx, req.GetSource(), size, req.GetPageToken())
	if err != nil {
		return nil, s.errorStatus(ctx, "ListUnmappedEvents", err)
	}
	resp := &pb.ListUnmappedEventsResponse{NextPageToken: next}
	for _, u := range kept {
		resp.Events = append(resp.Events, unmappedToProto(u))
	}
	return resp, nil
}

func unmappedToProto(u store.Unmapped) *pb.UnmappedEvent {
	return &pb.UnmappedEvent{Seq: u.Seq, Source: u.Source, ReceivedAt: timestamp(u.Received), Reason: u.Reason, Event: eventpb.From(u.Event)}
}
