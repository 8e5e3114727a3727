package main

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runNotifications implements "dpctl notifications [list flags] | retry ID".
func runNotifications(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "retry" {
		fs := newFlagSet(e, "notifications retry", "ID")
		operands, err := fs.parseN(args[1:], 1, 1)
		if err != nil {
			return err
		}
		return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.RetryNotificationResponse, error) {
			return dpmonv1.NewNotificationServiceClient(conn).RetryNotification(ctx, &dpmonv1.RetryNotificationRequest{NotificationId: operands[0]})
		}, func(w io.Writer, r *dpmonv1.RetryNotificationResponse) error {
			return printNotifications(w, []*dpmonv1.Notification{r.GetNotification()})
		})
	}
	fs := newFlagSet(e, "notifications", "")
	stateFlag := fs.String("state", "", "only this `state`: pending, delivered or failed")
	receiver := fs.String("receiver", "", "only this receiver's")
	account := fs.String("account", "", "only this account's")
	pageToken := fs.String("page-token", "", "continue from this `token`, printed by the previous page")
	all := fs.Bool("all", false, "follow next_page_token to the last page")
	if _, err := fs.parseN(args, 0, 0); err != nil {
		return err
	}
	state, err := parseEnum(*stateFlag, "NOTIFICATION_STATE_", dpmonv1.NotificationState_value)
	if err != nil {
		return fs.usageErr(err.Error())
	}
	req := &dpmonv1.ListNotificationsRequest{State: dpmonv1.NotificationState(state), Receiver: *receiver, AccountId: *account}
	list := new(dpmonv1.ListNotificationsResponse)
	return listing(ctx, e, *pageToken, *all, list, &list.NextPageToken,
		func(ctx context.Context, conn *grpc.ClientConn, token string) (string, error) {
			req.PageToken = token
			page, err := dpmonv1.NewNotificationServiceClient(conn).ListNotifications(ctx, req)
			list.Notifications = append(list.Notifications, page.GetNotifications()...)
			return page.GetNextPageToken(), err
		},
		func(w io.Writer, l *dpmonv1.ListNotificationsResponse) error {
			return printNotifications(w, l.GetNotifications())
		},
		"notifications")
}

// printNotifications writes one line per notification, with why the last
// attempt failed.
func printNotifications(w io.Writer, notes []*dpmonv1.Notification) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "ID\tRECEIVER\tKIND\tACCOUNT\tSTATE\tATTEMPTS\tNEXT\tLAST ERROR\n")
	for _, n := range notes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.GetNotificationId(), n.GetReceiver(), n.GetKind(), n.GetAccountId(),
			enumName(n.GetState().String(), "NOTIFICATION_STATE_"), n.GetAttempts(), formatTime(n.GetNextAttemptAt()), orDash(n.GetLastError()))
	}
	return tw.Flush()
}
