package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/notify"
	"github.com/dpmon/dpmon/store"
)

// toOps routes every change to one receiver, "ops".
func toOps(base monitor.Notification) []monitor.Notification {
	base.Receiver, base.State, base.Recipients = "ops", monitor.NotificationPending, nil
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

// logBuffer is a log the server's goroutines write while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A receiver's URL may be its secret or hold some (a password, a Slack
// webhook's path, a token): after a failed delivery, a viewer reading the
// notification, the log and the data file all name only its host.
func TestAFailedDeliveryKeepsTheReceiversSecrets(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusBadRequest)
	}))
	defer hook.Close()
	host := "http://" + hook.Listener.Addr().String()
	secretURL := "http://user:hunter2@" + hook.Listener.Addr().String() + "/services/T000/B000/XXXXSECRET?token=s3cret"
	secrets := []string{"hunter2", "XXXXSECRET", "s3cret"}

	var log logBuffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	notifier, err := notify.New([]notify.Route{{Name: "ops", Receiver: notify.Webhook{URL: secretURL, Secret: []byte("k")}}},
		monitor.DefaultRetryPolicy(), nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := newEnvAt(t, dir, func(o *store.Options) { o.Route = notifier.Route }, func(o *Options) { o.Auth, o.Logger = testAuth(t), logger })
	ctx := context.Background()
	for _, evs := range [][]*pb.Event{many(1000, send, "acme", "s"), many(25, hardBounce, "acme", "b")} {
		if _, err := e.events.IngestEvents(as("platform-a"), &pb.IngestEventsRequest{Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := notifier.DeliverDue(ctx, e.db, t0); err != nil {
		t.Fatal(err)
	}

	list, err := e.notes.ListNotifications(as("auditor"), &pb.ListNotificationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetNotifications()) != 1 || list.GetNotifications()[0].GetState() != pb.NotificationState_NOTIFICATION_STATE_FAILED {
		t.Fatalf("notifications: %v, want the warning's, failed", list.GetNotifications())
	}
	lastError := list.GetNotifications()[0].GetLastError()
	if !strings.Contains(lastError, host) {
		t.Errorf("last error %q does not name %s", lastError, host)
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if strings.Contains(lastError, secret) {
			t.Errorf("the viewer reads %q in the last error %q", secret, lastError)
		}
		if strings.Contains(log.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, log.String())
		}
		if bytes.Contains(file, []byte(secret)) {
			t.Errorf("the data file holds %q", secret)
		}
	}
}
