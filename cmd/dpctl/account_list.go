package main

import (
	"context"
	"fmt"
	"io"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runAccountList implements "dpctl account list".
func runAccountList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account list", "")
	phaseFlag := fs.String("phase", "", "only accounts in this `phase`: healthy, warning, suspended or probation")
	pageSize := fs.Int("page-size", 0, "accounts per page (0: the server's default)")
	pageToken := fs.String("page-token", "", "continue from this `token`, printed by the previous page")
	all := fs.Bool("all", false, "follow next_page_token to the last page")
	if _, err := fs.parseN(args, 0, 0); err != nil {
		return err
	}
	phase, err := parsePhase(*phaseFlag)
	if err != nil {
		return fs.usageErr(err.Error())
	}
	client, closeConn, err := accountClient(e)
	if err != nil {
		return err
	}
	defer closeConn()

	req := &dpmonv1.ListAccountsRequest{Phase: phase, PageSize: int32(*pageSize), PageToken: *pageToken}
	list, err := listAccounts(ctx, e, client, req, *all)
	if err != nil {
		return err
	}
	if e.output == formatJSON {
		return writeProto(e.stdout, list)
	}
	if err := printAccounts(e.stdout, list.GetAccounts()); err != nil {
		return err
	}
	if t := list.GetNextPageToken(); t != "" {
		fmt.Fprintf(e.stderr, "more accounts follow: use --all, or --page-token %s\n", t)
	}
	return nil
}

// listAccounts returns one page of accounts or, with all, every page
// from req's on, gathered into one response. Each call has its own
// deadline, so --all is not cut short on a large fleet.
func listAccounts(ctx context.Context, e *env, client dpmonv1.AccountServiceClient, req *dpmonv1.ListAccountsRequest, all bool) (*dpmonv1.ListAccountsResponse, error) {
	list := new(dpmonv1.ListAccountsResponse)
	var err error
	list.NextPageToken, err = pages(ctx, e, req.GetPageToken(), all, func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		page, err := client.ListAccounts(ctx, req)
		list.Accounts = append(list.Accounts, page.GetAccounts()...)
		return page.GetNextPageToken(), err
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// printAccounts writes one line per account, with its 24-hour (or
// shortest) window.
func printAccounts(w io.Writer, accounts []*dpmonv1.Account) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "ID\tPHASE\tSINCE\tWINDOW\tSENDS\tHARD-BOUNCE RATE\tCOMPLAINT RATE\n")
	for _, acc := range accounts {
		win, sends, bounces, complaints := "-", "-", "-", "-"
		if w := summaryWindow(acc); w != nil {
			win = w.GetName()
			sends = fmt.Sprint(w.GetSends())
			bounces = percent(w.GetHardBounceRate())
			complaints = percent(w.GetComplaintRate())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			acc.GetAccountId(), phaseName(acc.GetPhase()), formatTime(acc.GetPhaseSince()),
			win, sends, bounces, complaints)
	}
	return tw.Flush()
}
