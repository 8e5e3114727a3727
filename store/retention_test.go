package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// TestRetainDeletesOnlyWhatIsSettledAndOld: delivered notifications, closed
// tickets and audit entries go once older than their retention; pending
// notifications and open tickets stay whatever their age.
func TestRetainDeletesOnlyWhatIsSettledAndOld(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := openWithRoute(t, dir, c)
	ctx := context.Background()
	// acme is suspended and reinstated through a ticket; beta is suspended
	// and keeps its ticket open. Each queues notifications.
	for _, id := range []string{"acme", "beta"} {
		ingest(t, db, events(id, "s", monitor.EventSend, 1000, t0))
		ingest(t, db, events(id, "b", monitor.EventBounce, 100, t0))
	}
	closed, err := db.CreateTicket(ctx, "acme", "", "Cleaned.", monitor.Checklist{BouncedAddressesRemoved: true}, admin)
	if err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(time.Hour))
	if _, _, err := db.ApproveTicket(ctx, closed.ID, "ok", admin); err != nil {
		t.Fatal(err)
	}
	open, err := db.CreateTicket(ctx, "beta", "", "Cleaned too.", monitor.Checklist{BouncedAddressesRemoved: true}, admin)
	if err != nil {
		t.Fatal(err)
	}
	due, err := db.DueNotifications(ctx, t0.Add(24*time.Hour), 100)
	if err != nil || len(due) < 2 {
		t.Fatalf("due: %d, %v", len(due), err)
	}
	delivered := due[0]
	if _, err := db.UpdateNotification(ctx, delivered.ID, func(n *monitor.Notification) error {
		n.Attempted(t0.Add(2*time.Hour), nil, false, monitor.DefaultRetryPolicy(), 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	audit, _, err := db.Audit(ctx, AuditFilter{}, 100, "")
	if err != nil || len(audit) == 0 {
		t.Fatalf("audit: %d, %v", len(audit), err)
	}

	r := Retention{Notifications: 24 * time.Hour, Tickets: 24 * time.Hour, Audit: 48 * time.Hour}
	// A day later nothing is old enough yet.
	if got, err := db.Retain(ctx, t0.Add(25*time.Hour), r); err != nil || got != (Retained{}) {
		t.Fatalf("a day later: %+v, %v, want nothing deleted", got, err)
	}
	got, err := db.Retain(ctx, t0.Add(30*24*time.Hour), r)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Retained{Notifications: 1, Tickets: 1, Audit: len(audit)}); got != want {
		t.Errorf("a month later: deleted %+v, want %+v", got, want)
	}
	if _, err := db.Ticket(ctx, closed.ID); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("the closed ticket: %v, want it gone", err)
	}
	if _, err := db.Ticket(ctx, open.ID); err != nil {
		t.Errorf("the open ticket: %v, want it kept", err)
	}
	if left, _ := db.DueNotifications(ctx, t0.Add(30*24*time.Hour), 100); len(left) != len(due)-1 {
		t.Errorf("%d pending notifications left, want %d", len(left), len(due)-1)
	}
	checkGauges(t, db, "after retention")
	closeAndCheck(t, db)
	db = openWithRoute(t, dir, c)
	if _, err := db.Ticket(ctx, closed.ID); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("after a restart, the closed ticket: %v, want it gone", err)
	}
	if a, _, _ := db.Audit(ctx, AuditFilter{}, 100, ""); len(a) != 0 {
		t.Errorf("after a restart, %d audit entries, want none", len(a))
	}
}
