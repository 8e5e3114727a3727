package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// CreateTicket opens a reinstatement ticket for a suspended account.
func (s *Server) CreateTicket(ctx context.Context, req *pb.CreateTicketRequest) (*pb.CreateTicketResponse, error) {
	checklist := checklistFromProto(req.GetChecklist())
	if err := checkAccount(ctx, req.GetAccountId(), monitor.ValidateTicket(req.GetDescription(), checklist, req.GetSender())); err != nil {
		return nil, err
	}
	t, err := s.db.CreateTicket(ctx, req.GetAccountId(), req.GetSender(), req.GetDescription(), checklist, actor(ctx))
	if err != nil {
		return nil, s.errorStatus(ctx, "CreateTicket", err)
	}
	return &pb.CreateTicketResponse{Ticket: ticketToProto(t)}, nil
}

// GetTicket returns one ticket.
func (s *Server) GetTicket(ctx context.Context, req *pb.GetTicketRequest) (*pb.GetTicketResponse, error) {
	t, err := s.ticket(ctx, "GetTicket", req.GetTicketId())
	if err != nil {
		return nil, err
	}
	return &pb.GetTicketResponse{Ticket: ticketToProto(t)}, nil
}

// ticket validates a request on ticket id, with the violations of its
// other fields, before it looks up the ticket (so that a malformed request
// gets the same answer whatever exists); the caller must be able to see
// the ticket: a sender sees only the tickets of its accounts.
func (s *Server) ticket(ctx context.Context, method, id string, fields ...monitor.FieldErrors) (*monitor.Ticket, error) {
	if err := checkRequest(idErrors("ticket_id", id), slices.Concat(fields...)); err != nil {
		return nil, err
	}
	t, err := s.db.Ticket(ctx, id)
	if err == nil && !identity(ctx).mayUse(t.AccountID) {
		// Another account's ticket is not found, so that ticket ids cannot
		// be probed for which exist.
		err = fmt.Errorf("ticket %q: %w", id, monitor.ErrNotFound)
	}
	if err != nil {
		return nil, s.errorStatus(ctx, method, err)
	}
	return t, nil
}

// ListTickets pages through tickets, newest first; a sender sees only
// those of its accounts.
func (s *Server) ListTickets(ctx context.Context, req *pb.ListTicketsRequest) (*pb.ListTicketsResponse, error) {
	f := store.TicketFilter{State: monitor.TicketState(clampEnum(int32(req.GetState())))}
	if f.State != 0 && !f.State.Valid() {
		return nil, invalidArgument(monitor.FieldError{Field: "state", Reason: "unknown state " + strconv.Itoa(int(req.GetState()))})
	}
	if id := req.GetAccountId(); id != "" {
		if err := checkAccount(ctx, id); err != nil {
			return nil, err
		}
		f.Accounts = []string{id}
	} else {
		f.Accounts = identity(ctx).accounts
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	tickets, next, err := s.db.Tickets(ctx, f, size, req.GetPageToken())
	if err != nil {
		return nil, s.errorStatus(ctx, "ListTickets", err)
	}
	resp := &pb.ListTicketsResponse{NextPageToken: next}
	for _, t := range tickets {
		resp.Tickets = append(resp.Tickets, ticketToProto(t))
	}
	return resp, nil
}

// AddTicketComment adds a comment by the account or an admin.
func (s *Server) AddTicketComment(ctx context.Context, req *pb.AddTicketCommentRequest) (*pb.AddTicketCommentResponse, error) {
	if _, err := s.ticket(ctx, "AddTicketComment", req.GetTicketId(), monitor.ValidateComment(req.GetText())); err != nil {
		return nil, err
	}
	t, err := s.db.CommentTicket(ctx, req.GetTicketId(), req.GetText(), actor(ctx))
	if err != nil {
		return nil, s.errorStatus(ctx, "AddTicketComment", err)
	}
	return &pb.AddTicketCommentResponse{Ticket: ticketToProto(t)}, nil
}

// ApproveTicket records an admin's approval; with enough of them the
// account enters probation.
func (s *Server) ApproveTicket(ctx context.Context, req *pb.ApproveTicketRequest) (*pb.ApproveTicketResponse, error) {
	if _, err := s.ticket(ctx, "ApproveTicket", req.GetTicketId(), monitor.ValidateApproval(req.GetNote())); err != nil {
		return nil, err
	}
	t, a, err := s.db.ApproveTicket(ctx, req.GetTicketId(), req.GetNote(), actor(ctx))
	if err != nil {
		return nil, s.errorStatus(ctx, "ApproveTicket", err)
	}
	return &pb.ApproveTicketResponse{Ticket: ticketToProto(t), Account: s.accountProto(ctx, a, s.clock())}, nil
}

// RejectTicket closes a ticket with a reason; the account stays suspended.
func (s *Server) RejectTicket(ctx context.Context, req *pb.RejectTicketRequest) (*pb.RejectTicketResponse, error) {
	if _, err := s.ticket(ctx, "RejectTicket", req.GetTicketId(), monitor.ValidateRejection(req.GetReason())); err != nil {
		return nil, err
	}
	t, err := s.db.RejectTicket(ctx, req.GetTicketId(), req.GetReason(), actor(ctx))
	if err != nil {
		return nil, s.errorStatus(ctx, "RejectTicket", err)
	}
	return &pb.RejectTicketResponse{Ticket: ticketToProto(t)}, nil
}
