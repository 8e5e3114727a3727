package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// TestDormantAccountsLeaveMemoryAndComeBack: an account with nothing left
// in its windows is dropped from memory on a sweep, stays readable, listed
// and counted, is not loaded by a start, and comes back with its state when
// an event or a call is for it.
func TestDormantAccountsLeaveMemoryAndComeBack(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	ingest(t, db, events("quiet", "s", monitor.EventSend, 10, t0))
	ingest(t, db, events("bad", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("bad", "b", monitor.EventBounce, 100, t0)) // suspended
	ingest(t, db, events("busy", "s", monitor.EventSend, 10, t0))

	later := t0.Add(8 * 24 * time.Hour)
	c.Set(later)
	ingest(t, db, events("busy", "s2", monitor.EventSend, 10, later))
	if _, err := db.Sweep(ctx, later); err != nil {
		t.Fatal(err)
	}
	db.mu.RLock()
	resident := len(db.accounts)
	db.mu.RUnlock()
	if resident != 1 || db.dormant != 2 {
		t.Fatalf("after the sweep: %d accounts in memory, %d dormant; want busy in memory, quiet and bad dormant", resident, db.dormant)
	}
	checkGauges(t, db, "after putting two accounts to rest")
	if a, err := db.Account(ctx, "bad"); err != nil || a.State.Phase != monitor.PhaseSuspended {
		t.Fatalf("reading a dormant account: %+v, %v; want it suspended", a, err)
	}
	if got := db.Unknown([]string{"quiet", "bad", "nobody"}); !slices.Equal(got, []string{"nobody"}) {
		t.Errorf("Unknown: %v, want [nobody]", got)
	}
	list, _, err := db.Accounts(ctx, AccountFilter{Phase: monitor.PhaseSuspended})
	if err != nil || len(list) != 1 || list[0].ID != "bad" {
		t.Errorf("listing suspended accounts: %v, %v; want the dormant bad", list, err)
	}

	// What a crash now would leave starts with the same two dormant.
	re := openOpts(t, crashCopy(t, db), c, monitor.DefaultPolicy(), 1<<30)
	if r := re.Replayed(); r.Accounts != 1 || r.Dormant != 2 {
		t.Errorf("a start after the sweep: %+v, want 1 account loaded and 2 dormant", r)
	}
	checkGauges(t, re, "a start with dormant accounts")
	// The index of phases knows the dormant suspended account after a
	// start, which reads it only from its mark.
	list, _, err = re.Accounts(ctx, AccountFilter{Phase: monitor.PhaseSuspended})
	if err != nil || len(list) != 1 || list[0].ID != "bad" {
		t.Errorf("listing suspended accounts after a start: %v, %v; want the dormant bad", list, err)
	}

	// An event wakes quiet; a ticket wakes bad.
	if res := ingest(t, db, events("quiet", "s", monitor.EventSend, 10, t0)); res.Duplicates != 10 {
		t.Errorf("resending quiet's events: %+v, want duplicates", res)
	}
	ingest(t, db, events("quiet", "new", monitor.EventSend, 5, later))
	if w := window(t, db, "quiet", later); w.Sends != 5 {
		t.Errorf("quiet woken: %d sends in its window, want 5", w.Sends)
	}
	tk, err := db.CreateTicket(ctx, "bad", "", "Cleaned.", monitor.Checklist{BouncedAddressesRemoved: true}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, a, err := db.ApproveTicket(ctx, tk.ID, "ok", admin); err != nil || a.State.Phase != monitor.PhaseProbation {
		t.Fatalf("approving the dormant account's ticket: %+v, %v", a, err)
	}
	if db.dormant != 0 {
		t.Errorf("%d dormant after both woke, want 0", db.dormant)
	}
	checkGauges(t, db, "after waking both")
	db = reopen(t, db, dir, c)
	if r := db.Replayed(); r.Accounts != 3 || r.Dormant != 0 {
		t.Errorf("a start after both woke: %+v, want 3 accounts loaded", r)
	}
}

// TestDormantAccountsCountTowardTheLimit: an account kept on disk is still
// an account the limit counts.
func TestDormantAccountsCountTowardTheLimit(t *testing.T) {
	c := monitortest.New(t0)
	db, err := Open(t.TempDir(), Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now, MaxAccounts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db) })
	ingest(t, db, events("a", "s", monitor.EventSend, 1, t0))
	ingest(t, db, events("b", "s", monitor.EventSend, 1, t0))
	later := t0.Add(8 * 24 * time.Hour)
	c.Set(later)
	if _, err := db.Sweep(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	if db.dormant != 2 {
		t.Fatalf("%d dormant, want 2", db.dormant)
	}
	if _, err := db.Ingest(context.Background(), events("c", "s", monitor.EventSend, 1, later)); err == nil {
		t.Error("a third account beyond a limit of two, the others dormant: accepted")
	}
	if res := ingest(t, db, events("a", "s2", monitor.EventSend, 1, later)); res.Accepted != 1 {
		t.Errorf("a dormant account's new event: %+v", res)
	}
}
