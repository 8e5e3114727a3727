package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// sendsFrom builds n sends from sender to r0@... r(n-1)@example.com.
func sendsFrom(account, prefix, sender string, n int, at time.Time) []monitor.Event {
	evs := events(account, prefix, monitor.EventSend, n, at)
	for i := range evs {
		evs[i].Sender = sender
	}
	return evs
}

func transitionCount(t *testing.T, db *DB, id string) int {
	t.Helper()
	ts, _, err := db.Transitions(context.Background(), id, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return len(ts)
}

func TestASenderBlockSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	if _, err := db.UpdateAccount(ctx, "relay", admin, func(a *monitor.Account) error { a.Bulk = monitor.BulkOn; return nil }); err != nil {
		t.Fatal(err)
	}
	ingest(t, db, sendsFrom("relay", "a", "s@x.example", 50, t0))
	if n := transitionCount(t, db, "relay"); n != 1 {
		t.Fatalf("got %d transitions, want the sender's block", n)
	}

	db = reopen(t, db, dir, c)
	a, err := db.Account(ctx, "relay")
	if err != nil {
		t.Fatal(err)
	}
	if s := a.Senders["s@x.example"]; s == nil || !s.Blocked || s.Distinct != 41 {
		t.Fatalf("after a restart the sender is %+v, want blocked with its counts", s)
	}
	// The replay refilled its counts; more mail does not block it twice.
	ingest(t, db, sendsFrom("relay", "b", "s@x.example", 5, t0))
	if n := transitionCount(t, db, "relay"); n != 1 {
		t.Errorf("got %d transitions after more mail from a blocked sender, want 1", n)
	}

	c.Set(t0.Add(time.Minute))
	st, err := db.UnblockSender(ctx, "relay", "s@x.example", "Receipts, reviewed.", admin)
	if err != nil || st.Blocked {
		t.Fatalf("unblock: %+v, %v", st, err)
	}
	// After a restart the replay passes the mail from before the unblock
	// again: it must not count, or the sender would be blocked at once.
	db = reopen(t, db, dir, c)
	ingest(t, db, sendsFrom("relay", "c", "s@x.example", 1, t0.Add(time.Minute)))
	a, _ = db.Account(ctx, "relay")
	if st := a.SenderStatus("s@x.example", t0.Add(time.Minute), db.Policy(), 0); st.Blocked || st.Distinct != 1 {
		t.Errorf("after the unblock and a restart: blocked %v with %d recipients, want 1 counted afresh", st.Blocked, st.Distinct)
	}
	if n := transitionCount(t, db, "relay"); n != 2 {
		t.Errorf("got %d transitions, want the block and the unblock", n)
	}
}

func TestALowReputationIsNotified(t *testing.T) {
	c := monitortest.New(t0)
	db := openWithRoute(t, t.TempDir(), c)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 80, t0))
	ingest(t, db, events("acme", "c", monitor.EventComplaint, 3, t0))
	for range 2 { // a second sweep must not alert again
		if _, err := db.Sweep(ctx, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	ns, _, err := db.Notifications(ctx, NotificationFilter{AccountID: "acme", Receiver: "ops"}, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	low := 0
	for _, n := range ns {
		if n.Kind == monitor.KindReputationLow {
			low++
		}
	}
	if low != 1 {
		t.Errorf("got %d reputation_low notifications among %d, want 1", low, len(ns))
	}
	if a, _ := db.Account(ctx, "acme"); !a.ReputationLow {
		t.Error("the account is not marked low")
	}
}

func TestReputationHistoryKeeps90Days(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 10, t0))
	ingest(t, db, events("zeta", "s", monitor.EventSend, 10, t0))
	last := t0
	for d := range 95 {
		last = t0.Add(time.Duration(d) * 24 * time.Hour)
		if err := db.RecordReputation(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
	db = reopen(t, db, dir, c)
	h, err := db.ReputationHistory(ctx, "acme", ReputationDays, last)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 90 || !h[0].Day.Equal(t0.Add(5*24*time.Hour).Truncate(24*time.Hour)) || h[0].Score != 100 {
		t.Fatalf("got %d days from %v, want 90 from the sixth", len(h), h[0])
	}
	// Older days are deleted, not just skipped.
	kept := 0
	if err := db.bolt.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketReputation).ForEach(func(k, v []byte) error { kept++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if kept != 2*ReputationDays {
		t.Errorf("got %d records for two accounts, want %d", kept, 2*ReputationDays)
	}
	if h, _ := db.ReputationHistory(ctx, "acme", 7, last); len(h) != 7 {
		t.Errorf("got %d days of the last 7", len(h))
	}
}

// Mail sent while the bulk policy was off does not count once it is on,
// not even when a restart replays it.
func TestMailFromBeforeTheBulkPolicyDoesNotCount(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	ingest(t, db, sendsFrom("relay", "a", "s@x.example", 50, t0))
	c.Set(t0.Add(time.Minute))
	if _, err := db.UpdateAccount(ctx, "relay", admin, func(a *monitor.Account) error { a.Bulk = monitor.BulkOn; return nil }); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, dir, c)
	ingest(t, db, sendsFrom("relay", "b", "s@x.example", 1, t0.Add(time.Minute)))
	if n := transitionCount(t, db, "relay"); n != 0 {
		t.Errorf("got %d transitions: mail from before the bulk policy counted after a restart", n)
	}
}

// Turning the bulk policy's default on in the configuration does not count,
// for the accounts that follow it, what they sent while it was off.
func TestTurningTheDefaultOnCountsFromThen(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ingest(t, db, sendsFrom("relay", "a", "s@x.example", 50, t0))
	closeAndCheck(t, db)

	c.Set(t0.Add(time.Minute))
	p := monitor.DefaultPolicy()
	p.Bulk.Enabled = true
	for range 2 { // and a second start with it on changes nothing
		db2, err := Open(dir, Options{Policy: p, Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		ingest(t, db2, sendsFrom("relay", "b", "s@x.example", 1, t0.Add(time.Minute)))
		if n := transitionCount(t, db2, "relay"); n != 0 {
			t.Errorf("got %d transitions: mail from before the default was turned on counted", n)
		}
		closeAndCheck(t, db2)
	}
	// New mail under the policy counts.
	db3, err := Open(dir, Options{Policy: p, Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAndCheck(t, db3)
	evs := sendsFrom("relay", "c", "s@x.example", 45, t0.Add(time.Minute))
	for i := range evs {
		evs[i].Recipient = fmt.Sprintf("n%d@example.com", i)
	}
	ingest(t, db3, evs)
	if n := transitionCount(t, db3, "relay"); n != 1 {
		t.Errorf("got %d transitions for 45 new recipients under the policy, want the block", n)
	}
}
