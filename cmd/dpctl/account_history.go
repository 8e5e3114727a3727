package main

import (
	"context"
	"fmt"
	"io"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// maxPageSize is the largest page dpmon returns.
const maxPageSize = 1000

// runAccountHistory implements "dpctl account history ID".
func runAccountHistory(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account history", "ID")
	limit := fs.Int("limit", 100, "show at most this many transitions, newest first")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 1 {
		return fs.usageErr("--limit must be at least 1")
	}
	client, closeConn, err := accountClient(e)
	if err != nil {
		return err
	}
	defer closeConn()

	history, err := listTransitions(ctx, e, client, operands[0], *limit)
	if err != nil {
		return err
	}
	if e.output == formatJSON {
		return writeProto(e.stdout, history)
	}
	return printTransitions(e.stdout, history.GetTransitions())
}

// listTransitions returns the newest limit transitions of the account id,
// in pages of at most maxPageSize, gathered into one response.
func listTransitions(ctx context.Context, e *env, client dpmonv1.AccountServiceClient, id string, limit int) (*dpmonv1.ListAccountTransitionsResponse, error) {
	history := new(dpmonv1.ListAccountTransitionsResponse)
	req := &dpmonv1.ListAccountTransitionsRequest{AccountId: id}
	for len(history.Transitions) < limit {
		req.PageSize = int32(min(limit-len(history.Transitions), maxPageSize))
		callCtx, cancel := unaryCtx(ctx, e)
		page, err := client.ListAccountTransitions(callCtx, req)
		cancel()
		if err != nil {
			return nil, err
		}
		history.Transitions = append(history.Transitions, page.GetTransitions()...)
		history.NextPageToken = page.GetNextPageToken()
		if history.NextPageToken == "" {
			break
		}
		req.PageToken = history.NextPageToken
	}
	if len(history.Transitions) > limit {
		history.Transitions = history.Transitions[:limit]
	}
	return history, nil
}

// printTransitions writes one line per phase change.
func printTransitions(w io.Writer, transitions []*dpmonv1.Transition) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "TIME\tTRANSITION\tREASON\n")
	for _, t := range transitions {
		fmt.Fprintf(tw, "%s\t%s → %s\t%s\n",
			formatTime(t.GetOccurredAt()), phaseName(t.GetFrom()), phaseName(t.GetTo()), orDash(t.GetReason()))
	}
	return tw.Flush()
}
