package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestTicketLifecycleOverGRPC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.ingest(t, many(1000, send, "acme", "s"))
	if _, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: "acme", Description: "Fixed."}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a ticket for a healthy account: got %v, want FailedPrecondition", err)
	}
	e.ingest(t, many(100, hardBounce, "acme", "b"))
	_, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: "acme"})
	assertFieldViolation(t, err, "description")

	first, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: "acme", Description: "Removed the bounced addresses.",
		Checklist: &pb.Checklist{BouncedAddressesRemoved: true, OptInMethod: "confirmed opt-in"}})
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetTicket().GetTicketId()
	if acc := e.account(t, "acme"); acc.GetOpenTicketId() != id {
		t.Errorf("account's open ticket: got %q, want %q", acc.GetOpenTicketId(), id)
	}
	_, err = e.tickets.RejectTicket(ctx, &pb.RejectTicketRequest{TicketId: id})
	assertFieldViolation(t, err, "reason")
	if _, err := e.tickets.RejectTicket(ctx, &pb.RejectTicketRequest{TicketId: id, Reason: "The list is still bought."}); err != nil {
		t.Fatal(err)
	}
	open, err := e.tickets.ListTickets(ctx, &pb.ListTicketsRequest{State: pb.TicketState_TICKET_STATE_OPEN})
	if err != nil || len(open.GetTickets()) != 0 {
		t.Fatalf("open tickets after the rejection: %v, %v", open.GetTickets(), err)
	}

	second, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: "acme", Description: "Now only confirmed sign-ups."})
	if err != nil {
		t.Fatal(err)
	}
	approved, err := e.tickets.ApproveTicket(ctx, &pb.ApproveTicketRequest{TicketId: second.GetTicket().GetTicketId(), Note: "Checked."})
	if err != nil {
		t.Fatal(err)
	}
	if approved.GetAccount().GetPhase() != pb.Phase_PHASE_PROBATION || approved.GetTicket().GetState() != pb.TicketState_TICKET_STATE_APPROVED {
		t.Fatalf("after approval: account %v, ticket %v", approved.GetAccount().GetPhase(), approved.GetTicket().GetState())
	}
	if w := approved.GetAccount().GetWindows()[0]; w.GetSends() != 0 || w.GetHardBounces() != 0 {
		t.Errorf("windows after reinstatement: %v, want empty", w)
	}
	_, err = e.tickets.ApproveTicket(ctx, &pb.ApproveTicketRequest{TicketId: second.GetTicket().GetTicketId()})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("approving a closed ticket: got %v, want FailedPrecondition", err)
	}
	if _, err := e.tickets.GetTicket(ctx, &pb.GetTicketRequest{TicketId: "tkt-99999999"}); status.Code(err) != codes.NotFound {
		t.Errorf("an unknown ticket: got %v, want NotFound", err)
	}
	ts, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: "acme"})
	if err != nil || ts.GetTransitions()[0].GetTo() != pb.Phase_PHASE_PROBATION || ts.GetTransitions()[0].GetActor() == "" ||
		len(ts.GetTransitions()[0].GetRecommendations()) == 0 {
		t.Errorf("the reinstatement's transition: %v, %v", ts.GetTransitions(), err)
	}
}
