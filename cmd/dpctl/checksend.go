package main

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runCheckSend implements "dpctl check-send [--sender ADDR] ID [ADDRESS...]".
// It succeeds whether or not the account may send; scripts read "allowed"
// from -o json. A quota used up is an error that says when to retry.
func runCheckSend(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check-send", "ID [ADDRESS...]")
	sender := fs.String("sender", "", "the sender address about to send (its bulk-policy state is checked)")
	operands, err := fs.parseN(args, 1, 1001)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.CheckSendResponse, error) {
		return dpmonv1.NewAccountServiceClient(conn).CheckSend(ctx, &dpmonv1.CheckSendRequest{AccountId: operands[0], Recipients: operands[1:], Sender: *sender})
	}, printCheckSend)
}

// printCheckSend writes the verdict, the phase and the reasons, one a line.
func printCheckSend(w io.Writer, resp *dpmonv1.CheckSendResponse) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "allowed\t%s\n", yesNo(resp.GetAllowed()))
	fmt.Fprintf(tw, "phase\t%s\n", phaseName(resp.GetPhase()))
	for _, lines := range []struct {
		label string
		texts []string
	}{{"reasons", resp.GetReasons()}, {"what to do", resp.GetRecommendations()}} {
		for i, text := range lines.texts {
			label := ""
			if i == 0 {
				label = lines.label
			}
			fmt.Fprintf(tw, "%s\t%s\n", label, text)
		}
	}
	if s := resp.GetSender(); s != nil {
		state := "may send"
		if s.GetBlocked() {
			state = "blocked for bulk sending"
		}
		fmt.Fprintf(tw, "sender\t%s: %s, %d distinct recipients in the window, limit %d\n", s.GetSender(), state, s.GetDistinctRecipients(), s.GetLimit())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(resp.GetRecipients()) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return printRecipientChecks(w, resp.GetRecipients())
}
