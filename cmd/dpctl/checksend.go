package main

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runCheckSend implements "dpctl check-send ID [ADDRESS...]". It succeeds
// whether or not the account may send; scripts read "allowed" from -o json.
func runCheckSend(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check-send", "ID [ADDRESS...]")
	operands, err := fs.parseN(args, 1, 1001)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.CheckSendResponse, error) {
		return dpmonv1.NewAccountServiceClient(conn).CheckSend(ctx, &dpmonv1.CheckSendRequest{AccountId: operands[0], Recipients: operands[1:]})
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
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(resp.GetRecipients()) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return printRecipientChecks(w, resp.GetRecipients())
}
