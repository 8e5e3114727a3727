package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runTicket implements "dpctl ticket create|list|show|comment|approve|reject".
func runTicket(ctx context.Context, e *env, args []string) error {
	const synopsis = "usage: dpctl ticket create ACCOUNT --description TEXT [checklist flags] | list [--account A] [--state S] [--all] |\n" +
		"       show ID | comment ID TEXT... | approve ID [--note TEXT] | reject ID --reason TEXT"
	sub := map[string]func(context.Context, *env, []string) error{
		"create": runTicketCreate, "list": runTicketList, "show": runTicketShow,
		"comment": runTicketComment, "approve": runTicketApprove, "reject": runTicketReject,
	}
	return dispatch(ctx, e, "ticket", synopsis, sub, args)
}

// dispatch runs the subcommand args[0] of command name.
func dispatch(ctx context.Context, e *env, name, synopsis string, sub map[string]func(context.Context, *env, []string) error, args []string) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("%s: no subcommand given\n%s", name, synopsis)}
	}
	if run, ok := sub[args[0]]; ok {
		return run(ctx, e, args[1:])
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, synopsis)
		return nil
	}
	return usageError{fmt.Errorf("%s: unknown subcommand %q\n%s", name, args[0], synopsis)}
}

func runTicketCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ticket create", "ACCOUNT")
	description := fs.String("description", "", "what the account changed (required)")
	var c dpmonv1.Checklist
	fs.BoolVar(&c.BouncedAddressesRemoved, "bounces-removed", false, "every hard-bounced address has been removed")
	fs.StringVar(&c.ListSource, "list-source", "", "where the addresses come from")
	fs.StringVar(&c.OptInMethod, "opt-in", "", "how recipients agreed to receive mail")
	fs.StringVar(&c.ComplaintHandling, "complaints", "", "how complaints and unsubscribes are handled")
	fs.StringVar(&c.Authentication, "authentication", "", "SPF, DKIM and DMARC as set up")
	sender := fs.String("sender", "", "ask to unblock this sender address (blocked by the bulk policy) instead of the account")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.CreateTicketResponse, error) {
		return dpmonv1.NewTicketServiceClient(conn).CreateTicket(ctx, &dpmonv1.CreateTicketRequest{AccountId: operands[0], Description: *description, Checklist: &c, Sender: *sender})
	}, func(w io.Writer, r *dpmonv1.CreateTicketResponse) error { return printTicket(w, r.GetTicket()) })
}

func runTicketShow(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ticket show", "ID")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.GetTicketResponse, error) {
		return dpmonv1.NewTicketServiceClient(conn).GetTicket(ctx, &dpmonv1.GetTicketRequest{TicketId: operands[0]})
	}, func(w io.Writer, r *dpmonv1.GetTicketResponse) error { return printTicket(w, r.GetTicket()) })
}

func runTicketComment(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ticket comment", "ID TEXT...")
	operands, err := fs.parseN(args, 2, 1<<20)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.AddTicketCommentResponse, error) {
		return dpmonv1.NewTicketServiceClient(conn).AddTicketComment(ctx, &dpmonv1.AddTicketCommentRequest{TicketId: operands[0], Text: strings.Join(operands[1:], " ")})
	}, func(w io.Writer, r *dpmonv1.AddTicketCommentResponse) error { return printTicket(w, r.GetTicket()) })
}

func runTicketApprove(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ticket approve", "ID")
	note := fs.String("note", "", "a note for the account and the audit log")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.ApproveTicketResponse, error) {
		return dpmonv1.NewTicketServiceClient(conn).ApproveTicket(ctx, &dpmonv1.ApproveTicketRequest{TicketId: operands[0], Note: *note})
	}, func(w io.Writer, r *dpmonv1.ApproveTicketResponse) error {
		if err := printTicket(w, r.GetTicket()); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "\naccount %s is now %s\n", r.GetAccount().GetAccountId(), phaseName(r.GetAccount().GetPhase()))
		return err
	})
}

func runTicketReject(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ticket reject", "ID")
	reason := fs.String("reason", "", "why, for the account (required)")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.RejectTicketResponse, error) {
		return dpmonv1.NewTicketServiceClient(conn).RejectTicket(ctx, &dpmonv1.RejectTicketRequest{TicketId: operands[0], Reason: *reason})
	}, func(w io.Writer, r *dpmonv1.RejectTicketResponse) error { return printTicket(w, r.GetTicket()) })
}

func runTicketList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ticket list", "")
	account := fs.String("account", "", "only this account's tickets")
	stateFlag := fs.String("state", "", "only tickets in this `state`: open, approved or rejected")
	pageToken := fs.String("page-token", "", "continue from this `token`, printed by the previous page")
	all := fs.Bool("all", false, "follow next_page_token to the last page")
	if _, err := fs.parseN(args, 0, 0); err != nil {
		return err
	}
	state, err := parseEnum(*stateFlag, "TICKET_STATE_", dpmonv1.TicketState_value)
	if err != nil {
		return fs.usageErr(err.Error())
	}
	req := &dpmonv1.ListTicketsRequest{AccountId: *account, State: dpmonv1.TicketState(state)}
	list := new(dpmonv1.ListTicketsResponse)
	return listing(ctx, e, *pageToken, *all, list, &list.NextPageToken,
		func(ctx context.Context, conn *grpc.ClientConn, token string) (string, error) {
			req.PageToken = token
			page, err := dpmonv1.NewTicketServiceClient(conn).ListTickets(ctx, req)
			list.Tickets = append(list.Tickets, page.GetTickets()...)
			return page.GetNextPageToken(), err
		}, printTickets, "tickets")
}

// printTickets writes one line per ticket.
func printTickets(w io.Writer, list *dpmonv1.ListTicketsResponse) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "TICKET\tACCOUNT\tSTATE\tOPENED\tAPPROVALS\tBY\n")
	for _, t := range list.GetTickets() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d of %d\t%s\n", t.GetTicketId(), t.GetAccountId(), enumName(t.GetState().String(), "TICKET_STATE_"),
			formatTime(t.GetCreatedAt()), len(t.GetApprovals()), t.GetRequiredApprovals(), t.GetCreatedBy())
	}
	return tw.Flush()
}

// printTicket writes a ticket with its checklist, comments and approvals.
func printTicket(w io.Writer, t *dpmonv1.Ticket) error {
	tw := newTable(w)
	c := t.GetChecklist()
	fmt.Fprintf(tw, "ticket\t%s\n", t.GetTicketId())
	fmt.Fprintf(tw, "account\t%s\n", t.GetAccountId())
	if s := t.GetSender(); s != "" {
		fmt.Fprintf(tw, "sender\t%s (asks to unblock this sender, not the account)\n", s)
	}
	fmt.Fprintf(tw, "state\t%s\n", enumName(t.GetState().String(), "TICKET_STATE_"))
	fmt.Fprintf(tw, "opened\t%s by %s\n", formatTime(t.GetCreatedAt()), t.GetCreatedBy())
	fmt.Fprintf(tw, "approvals\t%d of %d required (%d reinstatements in the last year)\n",
		len(t.GetApprovals()), t.GetRequiredApprovals(), t.GetRecentReinstatements())
	fmt.Fprintf(tw, "bounces removed\t%s\n", yesNo(c.GetBouncedAddressesRemoved()))
	fmt.Fprintf(tw, "list source\t%s\n", orDash(c.GetListSource()))
	fmt.Fprintf(tw, "opt-in\t%s\n", orDash(c.GetOptInMethod()))
	fmt.Fprintf(tw, "complaints\t%s\n", orDash(c.GetComplaintHandling()))
	fmt.Fprintf(tw, "authentication\t%s\n", orDash(c.GetAuthentication()))
	if t.GetClosedAt() != nil {
		fmt.Fprintf(tw, "closed\t%s by %s: %s\n", formatTime(t.GetClosedAt()), t.GetClosedBy(), orDash(t.GetResolution()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", t.GetDescription())
	for _, cm := range t.GetComments() {
		fmt.Fprintf(w, "\n%s %s (%s):\n  %s\n", formatTime(cm.GetCreatedAt()), cm.GetAuthor(), cm.GetRole(), cm.GetText())
	}
	for _, ap := range t.GetApprovals() {
		fmt.Fprintf(w, "\napproved %s by %s: %s\n", formatTime(ap.GetApprovedAt()), ap.GetAdmin(), orDash(ap.GetNote()))
	}
	return nil
}
