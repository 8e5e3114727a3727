package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// testRoute sends everything to "ops" and, when the account has admins,
// to "admins" with their addresses.
func testRoute(base monitor.Notification) []monitor.Notification {
	p := monitor.DefaultRetryPolicy()
	base.State, base.NextAttempt, base.Deadline = monitor.NotificationPending, base.CreatedAt, base.CreatedAt.Add(p.GiveUpAfter)
	ops := base
	ops.Receiver, ops.Recipients = "ops", nil
	out := []monitor.Notification{ops}
	if len(base.Recipients) > 0 {
		admins := base
		admins.Receiver = "admins"
		out = append(out, admins)
	}
	return out
}

func openWithRoute(t *testing.T, dir string, c *monitortest.Clock) *DB {
	t.Helper()
	db, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(),
		Clock: c.Now, Route: testRoute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db) })
	return db
}

// A transition's notifications are in the outbox as soon as the batch
// that caused it is acknowledged, and survive a restart still pending.
func TestTransitionsQueueNotifications(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := openWithRoute(t, dir, c)
	ctx := context.Background()
	if _, err := db.UpdateAccount(ctx, "acme", admin, func(a *monitor.Account) error {
		a.AdminEmails = []string{"owner@acme.example"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 25, t0))
	closeAndCheck(t, db)
	db = openWithRoute(t, dir, c)

	due, err := db.DueNotifications(ctx, t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].Kind != monitor.KindWarningRaised || due[0].Transition.To != monitor.PhaseWarning {
		t.Fatalf("due after a restart: %+v, want the warning for ops and for the admins", due)
	}
	var admins monitor.Notification
	for _, n := range due {
		if n.Receiver == "admins" {
			admins = n
		}
	}
	if len(admins.Recipients) != 1 || admins.Recipients[0] != "owner@acme.example" || admins.ID == "" {
		t.Fatalf("the admins' notification: %+v", admins)
	}

	// A failed attempt makes it due later; a delivery takes it out of the
	// pending index.
	down := errors.New("connection refused")
	n, err := db.UpdateNotification(ctx, admins.ID, func(n *monitor.Notification) error {
		n.Attempted(t0, down, true, monitor.DefaultRetryPolicy(), 0)
		return nil
	})
	if err != nil || n.Attempts != 1 || n.State != monitor.NotificationPending {
		t.Fatalf("after a failure: %+v, %v", n, err)
	}
	if due, _ := db.DueNotifications(ctx, t0, 10); len(due) != 1 || due[0].Receiver != "ops" {
		t.Fatalf("due right after the failure: %+v, want only ops'", due)
	}
	if due, _ := db.DueNotifications(ctx, n.NextAttempt, 10); len(due) != 2 {
		t.Fatalf("due at the retry: %d, want 2", len(due))
	}
	for _, n := range due {
		if _, err := db.UpdateNotification(ctx, n.ID, func(n *monitor.Notification) error {
			n.Attempted(t0.Add(time.Minute), nil, false, monitor.DefaultRetryPolicy(), 0)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if due, _ := db.DueNotifications(ctx, t0.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("due after delivery: %+v, want none", due)
	}
	delivered, _, err := db.Notifications(ctx, NotificationFilter{State: monitor.NotificationDelivered, Receiver: "admins"}, 10, "")
	if err != nil || len(delivered) != 1 || delivered[0].Attempts != 2 {
		t.Fatalf("delivered to the admins: %+v, %v", delivered, err)
	}
	if _, err := db.UpdateNotification(ctx, "dpmon-0-99", func(*monitor.Notification) error { return nil }); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("an unknown id: got %v, want ErrNotFound", err)
	}
}

func TestATicketOpenedIsNotified(t *testing.T) {
	db := openWithRoute(t, t.TempDir(), monitortest.New(t0))
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 100, t0))
	tk, err := db.CreateTicket(ctx, "acme", "", "Removed the bought list.", monitor.Checklist{}, platform)
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := db.Notifications(ctx, NotificationFilter{}, 10, "")
	if err != nil || len(all) != 2 || all[0].Kind != monitor.KindTicketOpened || all[0].TicketID != tk.ID || all[1].Kind != monitor.KindSuspended {
		t.Fatalf("notifications, newest first: %+v, %v", all, err)
	}
}

// An error with a receiver's URL whole, as releases before the redaction
// stored it.
const leakyError = "http://user:hunter2@hooks.example.com/services/T000/B000/XXXXSECRET?token=s3cret refused the notification: 400 Bad Request"

// setLastError stores a last error as is, as an earlier release did.
func setLastError(t *testing.T, db *DB, id, lastError string) {
	t.Helper()
	if _, err := db.UpdateNotification(context.Background(), id, func(n *monitor.Notification) error {
		n.Attempts, n.State, n.LastError = 1, monitor.NotificationFailed, lastError
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func lastError(t *testing.T, db *DB) string {
	t.Helper()
	all, _, err := db.Notifications(context.Background(), NotificationFilter{Receiver: "ops"}, 10, "")
	if err != nil || len(all) != 1 {
		t.Fatalf("ops' notifications: %+v, %v; want one", all, err)
	}
	return all[0].LastError
}

// Open scrubs, once, the receivers' secrets that earlier releases left in
// the outbox's last errors: a viewer would read them.
func TestOpenScrubsTheSecretsOfEarlierReleases(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := openWithRoute(t, dir, c)
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 25, t0))
	due, err := db.DueNotifications(context.Background(), t0, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %+v, %v; want the warning for ops", due, err)
	}
	setLastError(t, db, due[0].ID, leakyError)
	closeAndCheck(t, db)
	// The file as an earlier release left it: never scrubbed.
	raw, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaOutboxScrubbed) }); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db = openWithRoute(t, dir, c)
	if got, want := lastError(t, db), "http://hooks.example.com refused the notification: 400 Bad Request"; got != want {
		t.Fatalf("after the upgrade: last error %q, want %q", got, want)
	}
	// Once scrubbed, a file is not gone through again at every start.
	setLastError(t, db, due[0].ID, leakyError)
	closeAndCheck(t, db)
	db = openWithRoute(t, dir, c)
	if got := lastError(t, db); got != leakyError {
		t.Errorf("at the next start: last error %q, want it untouched by a second pass", got)
	}
}
