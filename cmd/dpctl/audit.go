package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runAudit implements "dpctl audit": the audit log, newest first.
func runAudit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "audit", "")
	account := fs.String("account", "", "only calls about this account")
	actorFlag := fs.String("actor", "", "only calls by this token or certificate name")
	since := fs.String("since", "", "only calls at or after this `time` (RFC 3339)")
	until := fs.String("until", "", "only calls before this `time` (RFC 3339)")
	pageToken := fs.String("page-token", "", "continue from this `token`, printed by the previous page")
	all := fs.Bool("all", false, "follow next_page_token to the last page")
	if _, err := fs.parseN(args, 0, 0); err != nil {
		return err
	}
	req := &dpmonv1.ListAuditEventsRequest{AccountId: *account, Actor: *actorFlag}
	for _, t := range []struct {
		flag, value string
		dst         **timestamppb.Timestamp
	}{{"since", *since, &req.Since}, {"until", *until, &req.Until}} {
		if t.value == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, t.value)
		if err != nil {
			return fs.usageErr(fmt.Sprintf("--%s: %v", t.flag, err))
		}
		*t.dst = timestamppb.New(at)
	}
	list := new(dpmonv1.ListAuditEventsResponse)
	return listing(ctx, e, *pageToken, *all, list, &list.NextPageToken,
		func(ctx context.Context, conn *grpc.ClientConn, token string) (string, error) {
			req.PageToken = token
			page, err := dpmonv1.NewAuditServiceClient(conn).ListAuditEvents(ctx, req)
			list.Events = append(list.Events, page.GetEvents()...)
			return page.GetNextPageToken(), err
		}, printAudit, "events")
}

// printAudit writes one line per audit event.
func printAudit(w io.Writer, list *dpmonv1.ListAuditEventsResponse) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "TIME\tACTOR\tROLE\tACTION\tACCOUNT\tTICKET\tCHANGE\tDETAIL\n")
	for _, ev := range list.GetEvents() {
		change := "-"
		if ev.GetBefore() != "" || ev.GetAfter() != "" {
			change = orDash(ev.GetBefore()) + " → " + orDash(ev.GetAfter())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(ev.GetOccurredAt()), ev.GetActor(), ev.GetRole(), ev.GetAction(),
			orDash(ev.GetAccountId()), orDash(ev.GetTicketId()), change, orDash(ev.GetDetail()))
	}
	return tw.Flush()
}
