package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

// toOps routes every change to one receiver, "ops".
func toOps(base monitor.Notification, _ []string) []monitor.Notification {
	base.Receiver, base.State = "ops", monitor.NotificationPending
	base.NextAttempt, base.Deadline = base.CreatedAt, base.CreatedAt.Add(time.Hour)
	return []monitor.Notification{base}
}

func TestListAndRetryNotifications(t *testing.T) {
	e := newEnvRouted(t, nil, toOps)
	ctx := context.Background()
	e.ingest(t, many(1000, send, "acme", "s"))
	e.ingest(t, many(25, hardBounce, "acme", "b"))
	list, err := e.notes.ListNotifications(ctx, &pb.ListNotificationsRequest{State: pb.NotificationState_NOTIFICATION_STATE_PENDING})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetNotifications()) != 1 {
		t.Fatalf("pending: %v, want the warning's notification", list.GetNotifications())
	}
	n := list.GetNotifications()[0]
	if n.GetKind() != "warning_raised" || n.GetReceiver() != "ops" || n.GetTransition().GetTo() != pb.Phase_PHASE_WARNING {
		t.Fatalf("notification: %v", n)
	}
	// The receiver refuses it for good; an operator retries it.
	if _, err := e.db.UpdateNotification(ctx, n.GetNotificationId(), func(x *monitor.Notification) error {
		x.Attempted(t0, errors.New("404 Not Found"), false, monitor.DefaultRetryPolicy(), 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	failed, err := e.notes.ListNotifications(ctx, &pb.ListNotificationsRequest{State: pb.NotificationState_NOTIFICATION_STATE_FAILED})
	if err != nil || len(failed.GetNotifications()) != 1 || failed.GetNotifications()[0].GetLastError() != "404 Not Found" {
		t.Fatalf("failed: %v, %v", failed.GetNotifications(), err)
	}
	e.clock.Set(t0.Add(time.Hour))
	retried, err := e.notes.RetryNotification(ctx, &pb.RetryNotificationRequest{NotificationId: n.GetNotificationId()})
	if err != nil {
		t.Fatal(err)
	}
	if r := retried.GetNotification(); r.GetState() != pb.NotificationState_NOTIFICATION_STATE_PENDING || !r.GetNextAttemptAt().AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("retried: %v", r)
	}
	due, err := e.db.DueNotifications(ctx, t0.Add(time.Hour), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due after the retry: %v, %v", due, err)
	}
	if _, err := e.db.UpdateNotification(ctx, n.GetNotificationId(), func(x *monitor.Notification) error {
		x.Attempted(t0.Add(time.Hour), nil, false, monitor.DefaultRetryPolicy(), 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = e.notes.RetryNotification(ctx, &pb.RetryNotificationRequest{NotificationId: n.GetNotificationId()})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("retrying a delivered notification: got %v, want FailedPrecondition", err)
	}
}
