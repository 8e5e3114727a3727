package main

import (
	"context"
	"fmt"
	"time"

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
	conn, err := dial(e.globals)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := dpmonv1.NewAuditServiceClient(conn)
	list := new(dpmonv1.ListAuditEventsResponse)
	list.NextPageToken, err = pages(ctx, e, "", *all, func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		page, err := client.ListAuditEvents(ctx, req)
		list.Events = append(list.Events, page.GetEvents()...)
		return page.GetNextPageToken(), err
	})
	if err != nil {
		return err
	}
	if e.output == formatJSON {
		return writeProto(e.stdout, list)
	}
	tw := newTable(e.stdout)
	fmt.Fprintf(tw, "TIME\tACTOR\tROLE\tACTION\tACCOUNT\tTICKET\tCHANGE\tDETAIL\n")
	for _, ev := range list.GetEvents() {
		change := "-"
		if ev.GetBefore() != "" || ev.GetAfter() != "" {
			change = orDash(ev.GetBefore()) + " → " + orDash(ev.GetAfter())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(ev.GetOccurredAt()), ev.GetActor(), ev.GetRole(), ev.GetAction(),
			orDash(ev.GetAccountId()), orDash(ev.GetTicketId()), change, orDash(ev.GetDetail()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if list.GetNextPageToken() != "" {
		fmt.Fprintf(e.stderr, "more events follow: use --all\n")
	}
	return nil
}
