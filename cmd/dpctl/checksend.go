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
	return runByID(ctx, e, args, "check-send",
		func(ctx context.Context, c dpmonv1.AccountServiceClient, id string) (*dpmonv1.CheckSendResponse, error) {
			return c.CheckSend(ctx, &dpmonv1.CheckSendRequest{AccountId: id})
		},
		printCheckSend)
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
