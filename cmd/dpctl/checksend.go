package main

import (
	"context"
	"fmt"
	"io"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runCheckSend implements "dpctl check-send ID". It succeeds whether or
// not the account may send; scripts read "allowed" from -o json.
func runCheckSend(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check-send", "ID")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	client, closeConn, err := accountClient(e)
	if err != nil {
		return err
	}
	defer closeConn()

	ctx, cancel := unaryCtx(ctx, e)
	defer cancel()
	resp, err := client.CheckSend(ctx, &dpmonv1.CheckSendRequest{AccountId: operands[0]})
	if err != nil {
		return err
	}
	if e.output == formatJSON {
		return writeProto(e.stdout, resp)
	}
	return printCheckSend(e.stdout, resp)
}

// printCheckSend writes the verdict, the phase and the reasons, one a line.
func printCheckSend(w io.Writer, resp *dpmonv1.CheckSendResponse) error {
	tw := newTable(w)
	allowed := "no"
	if resp.GetAllowed() {
		allowed = "yes"
	}
	fmt.Fprintf(tw, "allowed\t%s\n", allowed)
	fmt.Fprintf(tw, "phase\t%s\n", phaseName(resp.GetPhase()))
	for i, r := range resp.GetReasons() {
		label := ""
		if i == 0 {
			label = "reasons"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, r)
	}
	return tw.Flush()
}
