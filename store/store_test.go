package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// admin is the caller of the tests' state-changing calls.
var admin = monitor.Actor{Name: "ops-alice", Role: "admin"}

// testDB opens a store in a temp dir and, on cleanup, closes it and checks
// the file's integrity.
func testDB(t testing.TB, dir string, c *monitortest.Clock) *DB {
	t.Helper()
	db, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db) })
	return db
}

func closeAndCheck(t testing.TB, db *DB) {
	t.Helper()
	path := db.path
	if err := db.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("reopen for check: %v", err)
	}
	defer b.Close()
	checkBolt(t, b)
}

// checkBolt checks the integrity of an open bbolt file.
func checkBolt(t testing.TB, b *bbolt.DB) {
	t.Helper()
	if err := b.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Errorf("integrity check: %v", err)
	}
}

// events builds n events of one type for account, with ids prefix-0...
func events(account, prefix string, typ monitor.EventType, n int, at time.Time) []monitor.Event {
	out := make([]monitor.Event, n)
	for i := range out {
		out[i] = monitor.Event{
			ID: fmt.Sprintf("%s-%d", prefix, i), AccountID: account, Type: typ, OccurredAt: at,
			Recipient: fmt.Sprintf("r%d@example.com", i),
		}
		if typ == monitor.EventBounce {
			out[i].Bounce = &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}
		}
	}
	return out
}

func ingest(t *testing.T, db *DB, evs []monitor.Event) IngestResult {
	t.Helper()
	res, err := db.Ingest(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func window(t *testing.T, db *DB, id string, now time.Time) monitor.WindowStats {
	t.Helper()
	a, err := db.Account(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status(now, db.Policy()).Windows[0]
}

func TestIngestDeduplicatesAcrossBatchesAndRestarts(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)

	batch := events("acme", "s", monitor.EventSend, 100, t0)
	batch = append(batch, batch[0]) // a duplicate inside the batch
	sends := func(accepted, duplicates int) IngestResult {
		r := IngestResult{Accepted: accepted, Duplicates: duplicates}
		r.ByType[monitor.EventSend] = TypeCounts{accepted, duplicates}
		return r
	}
	if got := ingest(t, db, batch); !reflect.DeepEqual(got, sends(100, 1)) {
		t.Fatalf("first batch: %+v, want 100 accepted, 1 duplicate", got)
	}
	if got := ingest(t, db, batch[:10]); !reflect.DeepEqual(got, sends(0, 10)) {
		t.Fatalf("resent batch: %+v, want 10 duplicates", got)
	}
	// The same event id in another account is another event.
	if got := ingest(t, db, events("beta", "s", monitor.EventSend, 10, t0)); got.Accepted != 10 {
		t.Fatalf("same ids, other account: %+v, want 10 accepted", got)
	}
	ingest(t, db, events("acme", "b", monitor.EventBounce, 3, t0))
	db2 := reopen(t, db, dir, c)
	w := window(t, db2, "acme", t0)
	if w.Sends != 100 || w.HardBounces != 3 {
		t.Errorf("after reopen: %d sends, %d hard bounces; want 100, 3", w.Sends, w.HardBounces)
	}
	if got := ingest(t, db2, batch); !reflect.DeepEqual(got, sends(0, 101)) {
		t.Errorf("after reopen, resent batch: %+v, want 101 duplicates", got)
	}
}

func TestPhaseChangesAreStoredWithTheirTransitions(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 25, t0)) // 2.5 %: warning
	c.Set(t0.Add(time.Minute))
	ingest(t, db, events("acme", "c", monitor.EventComplaint, 3, t0)) // 0.3 %: suspended

	a, err := db.Account(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if a.State.Phase != monitor.PhaseSuspended {
		t.Fatalf("phase %s, want suspended", a.State.Phase)
	}
	ts, next, err := db.Transitions(context.Background(), "acme", 1, "")
	if err != nil || len(ts) != 1 || next == "" {
		t.Fatalf("first page: %d transitions, next %q, err %v; want 1 and a token", len(ts), next, err)
	}
	if ts[0].From != monitor.PhaseWarning || ts[0].To != monitor.PhaseSuspended || len(ts[0].Findings) == 0 {
		t.Errorf("newest transition %+v, want warning->suspended with findings", ts[0])
	}
	ts2, next2, err := db.Transitions(context.Background(), "acme", 10, next)
	if err != nil || len(ts2) != 1 || next2 != "" {
		t.Fatalf("second page: %d transitions, next %q, err %v; want 1 and no token", len(ts2), next2, err)
	}
	if ts2[0].From != monitor.PhaseHealthy || ts2[0].To != monitor.PhaseWarning {
		t.Errorf("older transition %+v, want healthy->warning", ts2[0])
	}
	if _, _, err := db.Transitions(context.Background(), "nobody", 10, ""); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("transitions of an unknown account: err = %v, want ErrNotFound", err)
	}

	db2 := reopen(t, db, dir, c)
	a2, err := db2.Account(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !a2.State.Equal(a.State) {
		t.Errorf("after reopen: state %+v, want %+v", a2.State, a.State)
	}
	all, _, _ := db2.Transitions(context.Background(), "acme", 10, "")
	if len(all) != 2 {
		t.Errorf("after reopen: %d transitions, want 2", len(all))
	}
}

func TestSweepClearsAWarningAfterTheCoolDown(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 25, t0))
	ctx := context.Background()
	if _, err := db.AcknowledgeWarning(ctx, "acme", "Cleaning the list.", admin); err != nil {
		t.Fatal(err)
	}
	// The account stops sending; its windows drain over 7 days, then the
	// cool-down of 24h must pass on the schedule alone.
	steps := []struct {
		at   time.Duration
		want monitor.Phase
	}{
		{time.Hour, monitor.PhaseWarning},
		{8 * 24 * time.Hour, monitor.PhaseWarning},
		{9*24*time.Hour - time.Minute, monitor.PhaseWarning},
		{9 * 24 * time.Hour, monitor.PhaseHealthy},
	}
	for _, s := range steps {
		if _, err := db.Sweep(ctx, t0.Add(s.at)); err != nil {
			t.Fatal(err)
		}
		a, _ := db.Account(ctx, "acme")
		if a.State.Phase != s.want {
			t.Fatalf("sweep at +%s: phase %s, want %s", s.at, a.State.Phase, s.want)
		}
	}
	ts, _, _ := db.Transitions(ctx, "acme", 10, "")
	if len(ts) != 2 || ts[0].To != monitor.PhaseHealthy {
		t.Errorf("transitions %+v, want warning cleared after the warning", ts)
	}
}

func TestUpdateAccount(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 15, t0)) // 1.5 %

	boom := errors.New("refused")
	if _, err := db.UpdateAccount(ctx, "acme", admin, func(a *monitor.Account) error {
		a.DisplayName = "changed"
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("refused change: err = %v", err)
	}
	if a, _ := db.Account(ctx, "acme"); a.DisplayName != "" {
		t.Fatalf("a refused change was kept: %q", a.DisplayName)
	}

	warn := 0.01
	a, err := db.UpdateAccount(ctx, "acme", admin, func(a *monitor.Account) error {
		a.DisplayName = "Acme Corp"
		a.Overrides.HardBounceWarn = &warn
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.State.Phase != monitor.PhaseWarning || a.DisplayName != "Acme Corp" {
		t.Errorf("after lowering the warn threshold to 1%%: phase %s, name %q; want warning, Acme Corp", a.State.Phase, a.DisplayName)
	}
	if w := window(t, db, "acme", t0); w.Sends != 1000 {
		t.Errorf("update lost counts: %d sends, want 1000", w.Sends)
	}
	if _, err := db.UpdateAccount(ctx, "new", admin, func(a *monitor.Account) error { return nil }); err != nil {
		t.Fatalf("creating an account: %v", err)
	}
	if _, err := db.Account(ctx, "new"); err != nil {
		t.Errorf("created account: %v", err)
	}
	if _, err := db.Account(ctx, "nobody"); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("unknown account: err = %v, want ErrNotFound", err)
	}
}

func TestAccountsPagesAndFilters(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ctx := context.Background()
	for i := range 5 {
		ingest(t, db, events(fmt.Sprintf("acct-%d", i), "s", monitor.EventSend, 1000, t0))
	}
	ingest(t, db, events("acct-3", "b", monitor.EventBounce, 100, t0))
	ingest(t, db, events("acct", "s", monitor.EventSend, 1, t0))
	ingest(t, db, events("acct-10", "s", monitor.EventSend, 1, t0))
	ingest(t, db, events("acm", "s", monitor.EventSend, 1, t0))
	if got := db.EventsDurable(); got != 5*1000+100+3 {
		t.Errorf("EventsDurable = %d, want 5103", got)
	}

	// pagedIDs follows the page tokens of a listing to its end.
	pagedIDs := func(f AccountFilter) []string {
		t.Helper()
		var ids []string
		for range 10 {
			page, next, err := db.Accounts(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				ids = append(ids, a.ID)
			}
			if f.PageToken = next; next == "" {
				break
			}
		}
		return ids
	}
	if ids := pagedIDs(AccountFilter{PageSize: 2}); fmt.Sprint(ids) != "[acct acct-0 acct-1 acct-10 acct-2 acct-3 acct-4 acm]" {
		t.Errorf("paged ids %v, want every account in order", ids)
	}
	// A prefix seeks to its first match and ends at its last, across pages.
	if ids := pagedIDs(AccountFilter{Prefix: "acct-1", PageSize: 1}); fmt.Sprint(ids) != "[acct-1 acct-10]" {
		t.Errorf("ids with prefix acct-1: %v, want [acct-1 acct-10]", ids)
	}
	suspended, next, err := db.Accounts(ctx, AccountFilter{Phase: monitor.PhaseSuspended, PageSize: 10})
	if err != nil || len(suspended) != 1 || suspended[0].ID != "acct-3" || next != "" {
		t.Errorf("suspended accounts: %v, %q, %v; want acct-3 only", suspended, next, err)
	}
	if _, _, err := db.Accounts(ctx, AccountFilter{PageSize: 1, PageToken: "!!"}); !errors.Is(err, monitor.ErrInvalid) {
		t.Errorf("bad token: err = %v, want ErrInvalid", err)
	}
}

func TestConcurrentBatchesShareCommits(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	const workers, batches, size = 8, 20, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				evs := events(fmt.Sprintf("acct-%d", w%3), fmt.Sprintf("w%d-b%d", w, b), monitor.EventSend, size, t0)
				if _, err := db.Ingest(context.Background(), evs); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var total uint64
	for i := range 3 {
		total += window(t, db, fmt.Sprintf("acct-%d", i), t0).Sends
	}
	if total != workers*batches*size {
		t.Errorf("counted %d sends, want %d", total, workers*batches*size)
	}
	records := logRecords(t, db)
	t.Logf("%d batches committed in %d transactions", workers*batches, records)
	if records >= workers*batches {
		t.Errorf("%d log records for %d concurrent batches: no commit was shared", records, workers*batches)
	}
}

func TestPruneForgetsBeyondTheHorizon(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	ingest(t, db, events("acme", "old", monitor.EventSend, 10, t0))
	c.Set(t0.Add(5 * 24 * time.Hour))
	ingest(t, db, events("acme", "new", monitor.EventSend, 10, c.Now()))

	later := t0.Add(8*24*time.Hour + time.Hour)
	if err := db.Prune(ctx, later); err != nil {
		t.Fatal(err)
	}
	records := logRecords(t, db)
	if records != 1 {
		t.Errorf("%d log records after prune, want 1 (the younger batch)", records)
	}
	if db.seen.len() != 10 {
		t.Errorf("%d dedupe keys after prune, want 10", db.seen.len())
	}
	// The younger events are still duplicates.
	c.Set(later)
	if got := ingest(t, db, events("acme", "new", monitor.EventSend, 10, t0.Add(5*24*time.Hour))); got.Duplicates != 10 {
		t.Errorf("resending young events after prune: %+v, want 10 duplicates", got)
	}
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	c := monitortest.New(t0)
	db, err := Open(t.TempDir(), Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(context.Background(), events("acme", "s", monitor.EventSend, 1, t0)); !errors.Is(err, ErrClosed) {
		t.Errorf("ingest after close: err = %v, want ErrClosed", err)
	}
}

func TestOpenRefusesAHorizonShorterThanTheWindows(t *testing.T) {
	l := monitor.DefaultLimits()
	l.DedupeHorizon = 24 * time.Hour
	if _, err := Open(t.TempDir(), Options{Policy: monitor.DefaultPolicy(), Limits: l, Suppression: monitor.DefaultSuppressionPolicy()}); !errors.Is(err, monitor.ErrInvalid) {
		t.Errorf("err = %v, want ErrInvalid", err)
	}
}

func TestAFailedCommitStopsWrites(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ingest(t, db, events("acme", "s", monitor.EventSend, 10, t0))
	// Pull the file out from under the store: the next commit fails.
	if err := db.bolt.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := db.Ingest(context.Background(), events("acme", "t", monitor.EventSend, 10, t0))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("ingest after a failed commit: err = %v, want ErrFailed", err)
	}
	select {
	case <-db.Failed():
	default:
		t.Fatal("Failed() is not closed after a failed commit")
	}
	if _, err := db.UpdateAccount(context.Background(), "acme", admin, func(*monitor.Account) error { return nil }); !errors.Is(err, ErrFailed) {
		t.Errorf("update after a failed commit: err = %v, want ErrFailed", err)
	}
}

func reopen(t *testing.T, db *DB, dir string, c *monitortest.Clock) *DB {
	t.Helper()
	closeAndCheck(t, db)
	db2, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db2) })
	return db2
}

func TestACoolDownSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 25, t0))
	if _, err := db.AcknowledgeWarning(ctx, "acme", "Cleaning the list.", admin); err != nil {
		t.Fatal(err)
	}
	// The windows drain after 7 days: the cool-down starts at day 8.
	if _, err := db.Sweep(ctx, t0.Add(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, dir, c)
	a, _ := db.Account(ctx, "acme")
	if a.State.Phase != monitor.PhaseWarning || !a.State.ClearSince.Equal(t0.Add(8*24*time.Hour)) || len(a.State.Findings) == 0 {
		t.Fatalf("after reopen: %+v, want a warning clean since day 8, with its findings", a.State)
	}
	if _, err := db.Sweep(ctx, t0.Add(9*24*time.Hour-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if a, _ := db.Account(ctx, "acme"); a.State.Phase != monitor.PhaseWarning {
		t.Fatalf("a minute before the cool-down ends: %s, want warning", a.State.Phase)
	}
	if _, err := db.Sweep(ctx, t0.Add(9*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a, _ := db.Account(ctx, "acme"); a.State.Phase != monitor.PhaseHealthy {
		t.Errorf("when the cool-down ends: %s, want healthy", a.State.Phase)
	}
}

func TestReplayAfterPrune(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	ingest(t, db, events("acme", "old", monitor.EventSend, 10, t0))
	young := t0.Add(5 * 24 * time.Hour)
	c.Set(young)
	ingest(t, db, events("acme", "new", monitor.EventSend, 20, young))
	later := t0.Add(8*24*time.Hour + time.Hour)
	if err := db.Prune(ctx, later); err != nil {
		t.Fatal(err)
	}
	c.Set(later)
	db = reopen(t, db, dir, c)
	// Closed cleanly, the store saved its tallies: nothing is replayed,
	// and the ids of the young events are indexed.
	if r := db.Replayed(); r.Events != 0 || r.IDs != 20 || r.Accounts != 1 {
		t.Errorf("replayed %+v, want the 20 young ids of 1 account and no events", r)
	}
	a, _ := db.Account(ctx, "acme")
	if w := a.Status(later, db.Policy()).Windows[1]; w.Sends != 20 {
		t.Errorf("7d window after prune and reopen: %d sends, want 20", w.Sends)
	}
	if got := ingest(t, db, events("acme", "new", monitor.EventSend, 20, young)); got.Duplicates != 20 {
		t.Errorf("young events resent after prune and reopen: %+v, want 20 duplicates", got)
	}
}

// logRecords counts the records of the event log.
func logRecords(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	if err := db.bolt.View(func(tx *bbolt.Tx) error {
		for lc := newLogCursor(tx.Bucket(bucketEvents)); ; n++ {
			if _, _, ok, err := lc.next(readHeader); err != nil || !ok {
				return err
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestABatchCountsOnTheLiveAccountAfterAChange: a batch looks its accounts
// up before the committer takes it; an admin's change that replaces the
// account in between must not leave the batch counting on the old copy.
func TestABatchCountsOnTheLiveAccountAfterAChange(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ctx := context.Background()
	ingest(t, db, events("acme", "a", monitor.EventSend, 10, t0))

	batch := events("acme", "b", monitor.EventSend, 20, t0)
	pre := db.prepare(batch)
	if pre.accounts[0] == nil {
		t.Fatal("the batch did not find its account")
	}
	if _, err := db.UpdateAccount(ctx, "acme", admin, func(a *monitor.Account) error {
		a.DisplayName = "Acme Corp"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ingestPrepared(ctx, batch, pre); err != nil {
		t.Fatal(err)
	}
	if w := window(t, db, "acme", t0); w.Sends != 30 {
		t.Errorf("%d sends, want 30: the batch counted on a replaced copy", w.Sends)
	}
}
