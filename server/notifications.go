package server

import (
	"context"
	"fmt"
	"strconv"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// ListNotifications pages through the outbox, newest first.
func (s *Server) ListNotifications(ctx context.Context, req *pb.ListNotificationsRequest) (*pb.ListNotificationsResponse, error) {
	f := store.NotificationFilter{State: monitor.NotificationState(clampEnum(int32(req.GetState()))), Receiver: req.GetReceiver(), AccountID: req.GetAccountId()}
	if f.State > monitor.NotificationFailed {
		return nil, invalidArgument(monitor.FieldError{Field: "state", Reason: "unknown state " + strconv.Itoa(int(req.GetState()))})
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	notes, next, err := s.db.Notifications(ctx, f, size, req.GetPageToken())
	if err != nil {
		return nil, s.errorStatus(ctx, "ListNotifications", err)
	}
	resp := &pb.ListNotificationsResponse{NextPageToken: next}
	for _, n := range notes {
		resp.Notifications = append(resp.Notifications, notificationToProto(n))
	}
	return resp, nil
}

// RetryNotification makes a notification due now, with a new deadline.
func (s *Server) RetryNotification(ctx context.Context, req *pb.RetryNotificationRequest) (*pb.RetryNotificationResponse, error) {
	if reason := monitor.CheckID(req.GetNotificationId()); reason != "" {
		return nil, invalidArgument(monitor.FieldError{Field: "notification_id", Reason: reason})
	}
	now := s.clock()
	n, err := s.db.UpdateNotification(ctx, req.GetNotificationId(), func(n *monitor.Notification) error {
		if n.State == monitor.NotificationDelivered {
			return fmt.Errorf("%w: notification %s was delivered", monitor.ErrFailedPrecondition, n.ID)
		}
		n.Retry(now, s.retry)
		return nil
	})
	if err != nil {
		return nil, s.errorStatus(ctx, "RetryNotification", err)
	}
	return &pb.RetryNotificationResponse{Notification: notificationToProto(n)}, nil
}

func notificationToProto(n monitor.Notification) *pb.Notification {
	return &pb.Notification{
		NotificationId: n.ID, Receiver: n.Receiver, Kind: string(n.Kind), AccountId: n.AccountID,
		Transition: transitionToProto(n.Transition), TicketId: n.TicketID, Recipients: n.Recipients,
		CreatedAt: timestamp(n.CreatedAt), State: pb.NotificationState(n.State), Attempts: uint32(n.Attempts),
		NextAttemptAt: timestamp(n.NextAttempt), Deadline: timestamp(n.Deadline), LastError: n.LastError,
		DeliveredAt: timestamp(n.DeliveredAt),
	}
}
