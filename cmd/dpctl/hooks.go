package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"unicode"

	"google.golang.org/grpc"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/logtext"
)

// runHooks implements "dpctl hooks unmapped".
func runHooks(ctx context.Context, e *env, args []string) error {
	const synopsis = "usage: dpctl hooks unmapped [--source NAME] [--limit N] [--page-token T] [--all]"
	if len(args) == 0 {
		return usageError{fmt.Errorf("hooks: no subcommand given\n%s", synopsis)}
	}
	switch args[0] {
	case "unmapped":
		return runHooksUnmapped(ctx, e, args[1:])
	case "-h", "-help", "--help":
		fmt.Fprintln(e.stderr, synopsis)
		return nil
	}
	return usageError{fmt.Errorf("hooks: unknown subcommand %q\n%s", args[0], synopsis)}
}

// runHooksUnmapped implements "dpctl hooks unmapped": the events webhooks
// delivered that no mapping assigned to an account, newest first.
func runHooksUnmapped(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "hooks unmapped", "")
	source := fs.String("source", "", "only events from this webhook `name`, e.g. mailgun or ses")
	limit := fs.Int("limit", 0, "at most this many events a page (0: the server's default, 100)")
	pageToken := fs.String("page-token", "", "continue from this `token`, printed by the previous page")
	all := fs.Bool("all", false, "follow next_page_token to the last page")
	if _, err := fs.parseN(args, 0, 0); err != nil {
		return err
	}
	if *limit < 0 || *limit > maxPageSize {
		return fs.usageErr(fmt.Sprintf("--limit must be between 0 and %d", maxPageSize))
	}
	req := &dpmonv1.ListUnmappedEventsRequest{Source: *source, PageSize: int32(*limit)}
	list := new(dpmonv1.ListUnmappedEventsResponse)
	return listing(ctx, e, *pageToken, *all, list, &list.NextPageToken,
		func(ctx context.Context, conn *grpc.ClientConn, token string) (string, error) {
			req.PageToken = token
			page, err := dpmonv1.NewEventServiceClient(conn).ListUnmappedEvents(ctx, req)
			list.Events = append(list.Events, page.GetEvents()...)
			return page.GetNextPageToken(), err
		}, printUnmapped, "events")
}

// printUnmapped writes one line per unmapped event. What a webhook sent is
// anyone's text, so every string goes through cell.
func printUnmapped(w io.Writer, list *dpmonv1.ListUnmappedEventsResponse) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "SEQ\tRECEIVED\tSOURCE\tTYPE\tRECIPIENT\tEVENT ID\tREASON\n")
	for _, u := range list.GetEvents() {
		ev := u.GetEvent()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strconv.FormatUint(u.GetSeq(), 10), formatTime(u.GetReceivedAt()), cell(u.GetSource()),
			cell(enumName(ev.GetType().String(), "EVENT_TYPE_")), cell(ev.GetRecipient()), cell(ev.GetEventId()), cell(u.GetReason()))
	}
	return tw.Flush()
}

// cell makes text from outside fit one table cell and a terminal: invalid
// UTF-8, control characters (tabs and line breaks would split the table,
// escapes would drive the terminal) and invisible formatting characters
// (which reorder what is shown) each become U+FFFD; "-" when blank.
func cell(s string) string {
	return orDash(logtext.Printable(s, unicode.ReplacementChar))
}
