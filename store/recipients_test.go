package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// recipientEvent builds one event for a recipient of acme.
func recipientEvent(id string, typ monitor.EventType, recipient string, at time.Time, b *monitor.Bounce) monitor.Event {
	return monitor.Event{ID: id, AccountID: "acme", Type: typ, OccurredAt: at, Recipient: recipient, Bounce: b}
}

var (
	userUnknown = &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 The email account that you tried to reach does not exist."}
	mailboxFull = &monitor.Bounce{SMTPCode: 452, EnhancedStatus: "4.2.2", Diagnostic: "452 4.2.2 The email account that you tried to reach is over quota."}
)

func bounce(b *monitor.Bounce) *monitor.Bounce { c := *b; return &c }

func checkOne(t *testing.T, db *DB, recipient string, now time.Time) monitor.Recipient {
	t.Helper()
	rs, err := db.CheckRecipients(context.Background(), "acme", []string{monitor.RecipientKey(recipient)})
	if err != nil {
		t.Fatal(err)
	}
	return rs[0].At(now)
}

func TestHardBounceSuppressesAndSurvivesAReopen(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ingest(t, db, []monitor.Event{
		recipientEvent("b1", monitor.EventBounce, "Jane@GMAIL.com", t0, bounce(userUnknown)),
		recipientEvent("b2", monitor.EventBounce, "joe@example.org", t0, bounce(userUnknown)),
		recipientEvent("c1", monitor.EventComplaint, "ann@example.org", t0, nil),
	})
	db = reopen(t, db, dir, c)
	for _, tc := range []struct {
		recipient string
		status    monitor.RecipientStatus
		reason    monitor.SuppressionReason
	}{
		{"Jane@gmail.com", monitor.RecipientSuppressed, monitor.SuppressedHardBounce},
		{"jane@gmail.com", monitor.RecipientActive, 0},  // the local part keeps its case
		{"joe@example.org", monitor.RecipientActive, 0}, // one hard bounce at a small domain
		{"ann@example.org", monitor.RecipientSuppressed, monitor.SuppressedComplaint},
	} {
		if got := checkOne(t, db, tc.recipient, t0); got.Status != tc.status || got.Reason != tc.reason {
			t.Errorf("%s: got %s/%s, want %s/%s", tc.recipient, got.Status, got.Reason, tc.status, tc.reason)
		}
	}
	r, history, err := db.RecipientHistory(context.Background(), "acme", "Jane@gmail.com")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != monitor.RecipientSuppressed || len(history) != 1 {
		t.Fatalf("got %+v with %d changes, want suppressed with 1", r, len(history))
	}
	h := history[0]
	if h.EventID != "b1" || h.Bounce == nil || h.Bounce.Diagnostic != userUnknown.Diagnostic || h.Kind != monitor.ChangeHardBounce || !h.At.Equal(t0) {
		t.Errorf("history entry: got %+v, want the hard bounce b1 with its full reply", h)
	}
	if _, _, err := db.RecipientHistory(context.Background(), "acme", "nobody@example.org"); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("unknown recipient: got %v, want ErrNotFound", err)
	}
}

func TestADuplicateBounceCountsOnce(t *testing.T) {
	db := testDB(t, t.TempDir(), monitortest.New(t0))
	ev := recipientEvent("b1", monitor.EventBounce, "joe@example.org", t0, bounce(userUnknown))
	ingest(t, db, []monitor.Event{ev})
	ev.Bounce = bounce(userUnknown)
	ingest(t, db, []monitor.Event{ev})
	if got := checkOne(t, db, "joe@example.org", t0); got.Status != monitor.RecipientActive || len(got.HardBounces) != 1 {
		t.Errorf("got %+v, want active with one hard bounce", got)
	}
}

// A delivery ends a soft-bounce streak, also when the streak was recorded
// before a restart: the set of recipients a delivery may change is rebuilt.
func TestDeliveryEndsTheStreakAcrossAReopen(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ingest(t, db, []monitor.Event{recipientEvent("s1", monitor.EventBounce, "joe@example.org", t0, bounce(mailboxFull))})
	if got := checkOne(t, db, "joe@example.org", t0); got.Status != monitor.RecipientBlocked || !got.Until.Equal(t0.Add(72*time.Hour)) {
		t.Fatalf("after a soft bounce: got %+v, want blocked for 72h", got)
	}
	db = reopen(t, db, dir, c)
	at := t0.Add(time.Hour)
	ingest(t, db, []monitor.Event{
		recipientEvent("d0", monitor.EventDelivery, "other@example.org", at, nil),
		recipientEvent("d1", monitor.EventDelivery, "joe@example.org", at, nil),
	})
	got := checkOne(t, db, "joe@example.org", at)
	if got.Status != monitor.RecipientActive || got.SoftBlocks != 0 {
		t.Fatalf("after a delivery: got %+v, want active with no streak", got)
	}
	if _, _, err := db.RecipientHistory(context.Background(), "acme", "other@example.org"); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("a delivery to a recipient with no streak wrote a record: %v", err)
	}
	if len(db.pending.m) != 0 {
		t.Errorf("pending set: got %d entries, want 0 once the streak ended", len(db.pending.m))
	}
}

func TestManualSuppressionAndLift(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	if _, err := db.LiftRecipient(ctx, "acme", "joe@example.org", monitor.Actor{Name: "ops", Role: "admin"}, "why"); !errors.Is(err, monitor.ErrFailedPrecondition) {
		t.Fatalf("lifting an unknown address: got %v, want ErrFailedPrecondition", err)
	}
	r, err := db.SuppressRecipient(ctx, "acme", "joe@example.org", monitor.Actor{Name: "ops-alice", Role: "admin"}, "asked by phone")
	if err != nil || r.Status != monitor.RecipientSuppressed || r.Reason != monitor.SuppressedManual {
		t.Fatalf("suppress: got %+v, %v", r, err)
	}
	if _, err := db.SuppressRecipient(ctx, "acme", "joe@example.org", monitor.Actor{Name: "ops-alice", Role: "admin"}, "again"); !errors.Is(err, monitor.ErrConflict) {
		t.Fatalf("suppressing twice: got %v, want ErrConflict", err)
	}
	c.Set(t0.Add(time.Hour))
	db = reopen(t, db, dir, c)
	if _, err := db.LiftRecipient(ctx, "acme", "joe@example.org", monitor.Actor{Name: "ops-bob", Role: "admin"}, "mailbox restored"); err != nil {
		t.Fatal(err)
	}
	_, history, err := db.RecipientHistory(ctx, "acme", "joe@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 2 || history[0].Actor != "ops-alice" || history[0].Note != "asked by phone" ||
		history[1].Actor != "ops-bob" || history[1].Kind != monitor.ChangeManualDelete || !history[1].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("history: got %+v, want the manual add then the lift with who and why", history)
	}
}

func TestSuppressionsPagesAndFilters(t *testing.T) {
	db := testDB(t, t.TempDir(), monitortest.New(t0))
	var evs []monitor.Event
	for i := range 5 {
		evs = append(evs,
			recipientEvent(fmt.Sprintf("h%d", i), monitor.EventBounce, fmt.Sprintf("hard%d@gmail.com", i), t0, bounce(userUnknown)),
			recipientEvent(fmt.Sprintf("s%d", i), monitor.EventBounce, fmt.Sprintf("soft%d@gmail.com", i), t0, bounce(mailboxFull)),
			recipientEvent(fmt.Sprintf("u%d", i), monitor.EventUnsubscribe, fmt.Sprintf("unsub%d@gmail.com", i), t0, nil))
	}
	ingest(t, db, evs)
	ctx := context.Background()
	all := func(f SuppressionFilter, now time.Time) []string {
		var keys []string
		after := ""
		for {
			page, next, err := db.Suppressions(ctx, "acme", f, after, 4, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page {
				keys = append(keys, s.Key)
			}
			if next == "" {
				return keys
			}
			after = next
		}
	}
	if got := all(SuppressionFilter{}, t0); len(got) != 15 || got[0] != "hard0@gmail.com" || got[14] != "unsub4@gmail.com" {
		t.Errorf("all: got %v, want 15 in address order", got)
	}
	if got := all(SuppressionFilter{Status: monitor.RecipientBlocked}, t0); len(got) != 5 || got[0] != "soft0@gmail.com" {
		t.Errorf("blocked: got %v, want the 5 soft-bounced", got)
	}
	if got := all(SuppressionFilter{Reason: monitor.SuppressedUnsubscribed}, t0); len(got) != 5 {
		t.Errorf("unsubscribed: got %v, want 5", got)
	}
	if got := all(SuppressionFilter{}, t0.Add(72*time.Hour)); len(got) != 10 {
		t.Errorf("after the blocks ran out: got %d, want 10", len(got))
	}
	if got, _, _ := db.Suppressions(ctx, "acme-eu", SuppressionFilter{}, "", 10, t0); len(got) != 0 {
		t.Errorf("another account: got %v, want none", got)
	}
}

func TestHistoryKeepsTheNewestEntries(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	p := monitor.DefaultSuppressionPolicy()
	p.HistoryLimit = 3
	db, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: p, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db) })
	// Soft bounce, delivery, soft bounce...: each one is a change.
	for i := range 6 {
		at := t0.Add(time.Duration(i) * time.Hour)
		typ, b := monitor.EventDelivery, (*monitor.Bounce)(nil)
		if i%2 == 0 {
			typ, b = monitor.EventBounce, bounce(mailboxFull)
		}
		ingest(t, db, []monitor.Event{recipientEvent(fmt.Sprint("e", i), typ, "joe@example.org", at, b)})
	}
	_, history, err := db.RecipientHistory(context.Background(), "acme", "joe@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 3 || history[0].EventID != "e3" || history[2].EventID != "e5" {
		t.Errorf("got %d entries starting %+v, want e3..e5", len(history), history)
	}
	var stored int
	if err := db.bolt.View(func(tx *bbolt.Tx) error {
		stored = tx.Bucket(bucketRecipientHistory).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stored != 3 {
		t.Errorf("history bucket holds %d entries, want the 3 kept", stored)
	}
}

// Only recipients a delivery could change stay in memory: a suppressed
// one leaves the pending set as soon as its suppression is written.
func TestPendingSetHoldsOnlyStreaks(t *testing.T) {
	db := testDB(t, t.TempDir(), monitortest.New(t0))
	ingest(t, db, []monitor.Event{
		recipientEvent("b1", monitor.EventBounce, "jane@gmail.com", t0, bounce(userUnknown)),
		recipientEvent("b2", monitor.EventBounce, "joe@example.org", t0, bounce(userUnknown)),
		recipientEvent("b3", monitor.EventBounce, "ann@example.org", t0, bounce(mailboxFull)),
		recipientEvent("c1", monitor.EventComplaint, "ann@example.org", t0.Add(time.Minute), nil),
	})
	db.pending.mu.Lock()
	defer db.pending.mu.Unlock()
	_, joe := db.pending.m[db.pending.hash("acme", "joe@example.org")]
	if len(db.pending.m) != 1 || !joe {
		t.Errorf("pending set: got %d entries, want only joe@example.org's pending hard bounce", len(db.pending.m))
	}
}

// A delivery and a later soft bounce to one address in one batch leave it
// pending, so that the next delivery still ends the streak.
func TestDeliveryAndBounceInOneBatch(t *testing.T) {
	db := testDB(t, t.TempDir(), monitortest.New(t0))
	ingest(t, db, []monitor.Event{recipientEvent("s1", monitor.EventBounce, "joe@example.org", t0, bounce(mailboxFull))})
	ingest(t, db, []monitor.Event{
		recipientEvent("d1", monitor.EventDelivery, "joe@example.org", t0.Add(time.Hour), nil),
		recipientEvent("s2", monitor.EventBounce, "joe@example.org", t0.Add(2*time.Hour), bounce(mailboxFull)),
	})
	if got := checkOne(t, db, "joe@example.org", t0.Add(2*time.Hour)); got.Status != monitor.RecipientBlocked || got.SoftBlocks != 1 {
		t.Fatalf("after the batch: %+v, want blocked again with a streak of 1", got)
	}
	ingest(t, db, []monitor.Event{recipientEvent("d2", monitor.EventDelivery, "joe@example.org", t0.Add(3*time.Hour), nil)})
	if got := checkOne(t, db, "joe@example.org", t0.Add(3*time.Hour)); got.Status != monitor.RecipientActive || got.SoftBlocks != 0 {
		t.Fatalf("after the next delivery: %+v, want active with no streak", got)
	}
}

// A page token from another account, or past the end, is an empty page,
// not a panic on a shorter key.
func TestSuppressionsWithAForeignToken(t *testing.T) {
	db := testDB(t, t.TempDir(), monitortest.New(t0))
	ingest(t, db, []monitor.Event{
		{ID: "u1", AccountID: "a-much-longer-account", Type: monitor.EventUnsubscribe, OccurredAt: t0, Recipient: "y@example.org"},
		{ID: "u2", AccountID: "b", Type: monitor.EventUnsubscribe, OccurredAt: t0, Recipient: "x@e.io"}, // a key shorter than the prefix
	})
	for _, after := range []string{"zzz@example.org", "y@example.org"} {
		page, next, err := db.Suppressions(context.Background(), "a-much-longer-account", SuppressionFilter{}, after, 10, t0)
		if err != nil || len(page) != 0 || next != "" {
			t.Errorf("after %q: got %v, %q, %v; want an empty last page", after, page, next, err)
		}
	}
}

// The pending recipients are kept on disk beside their records, so that a
// start reads only them; a store from before that keeps them is indexed
// once when it is opened. New ones are appended, under the log record
// current when they became pending.
func TestPendingRecipientsAreIndexedOnDisk(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ingest(t, db, []monitor.Event{
		recipientEvent("b1", monitor.EventBounce, "ann@example.org", t0, bounce(mailboxFull)),
		recipientEvent("b2", monitor.EventBounce, "bob@example.org", t0, bounce(mailboxFull)),
		recipientEvent("b3", monitor.EventBounce, "cy@example.org", t0, bounce(mailboxFull)),
		recipientEvent("c1", monitor.EventComplaint, "dee@example.org", t0, nil),
	})
	ingest(t, db, []monitor.Event{recipientEvent("d1", monitor.EventDelivery, "bob@example.org", t0.Add(time.Hour), nil)})
	if _, err := db.SuppressRecipient(context.Background(), "acme", "cy@example.org", monitor.Actor{Name: "ops", Role: "admin"}, "asked"); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"acme\x00ann@example.org": true}
	if got := pendingOnDisk(t, db); !maps.Equal(got, want) {
		t.Fatalf("pending on disk: got %v, want %v", got, want)
	}
	// Appended under the log record of the bounce, the first.
	if err := db.bolt.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketPending).Cursor().First(); decodeSeq(k[:8]) != 1 {
			t.Errorf("ann's pending key %q, want it under log record 1", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// A store from before the index: the bucket empty and not marked.
	path := db.path
	closeAndCheck(t, db)
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketPending); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketPending); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(metaPendingByRecord)
	})
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	db = testDB(t, dir, c)
	if got := pendingOnDisk(t, db); !maps.Equal(got, want) {
		t.Fatalf("pending after indexing an older store: got %v, want %v", got, want)
	}
	if len(db.pending.m) != 1 {
		t.Errorf("pending set: got %d entries, want ann@example.org's", len(db.pending.m))
	}
	ingest(t, db, []monitor.Event{recipientEvent("d2", monitor.EventDelivery, "ann@example.org", t0.Add(2*time.Hour), nil)})
	if got := checkOne(t, db, "ann@example.org", t0.Add(2*time.Hour)); got.SoftBlocks != 0 || got.Status != monitor.RecipientActive {
		t.Errorf("a delivery after the reopen: got %+v, want the streak ended", got)
	}
	if got := pendingOnDisk(t, db); len(got) != 0 {
		t.Errorf("pending on disk after the streak ended: %v", got)
	}
}

func pendingOnDisk(t *testing.T, db *DB) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
			got[string(k[8:])] = true
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
