package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// The overlay must change no answer. The same calls go to a store that
// freezes its overlay every 20 changes and merges as few records a commit
// as it may (twice those it journals), and to one that never merges: both must answer every read the
// same, also after a reopen in the middle of a merge.
func TestRecipientOverlayAnswersAsTheTree(t *testing.T) {
	c := monitortest.New(t0)
	open := func(dir string, limit, chunk int) *DB {
		t.Helper()
		db, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
			Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now, RecipientJournal: limit, recipientMergeChunk: chunk})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	mergingDir, neverDir := t.TempDir(), t.TempDir()
	merging, never := open(mergingDir, 20, 1), open(neverDir, 1<<30, 0)
	t.Cleanup(func() { closeAndCheck(t, merging); closeAndCheck(t, never) })

	accounts := []string{"acme", "acme2", "beta"} // acme is a prefix of acme2
	var keys []string
	for i := range 12 {
		keys = append(keys, fmt.Sprintf("r%02d@example.org", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	step := 0
	// act makes the same random batch, or an operator's change, in both.
	act := func() {
		t.Helper()
		step++
		c.Set(c.Now().Add(time.Minute))
		if step%7 == 0 {
			account, key := accounts[rng.IntN(len(accounts))], keys[rng.IntN(len(keys))]
			lift := rng.IntN(2) == 0
			var errs [2]error
			for i, db := range []*DB{merging, never} {
				if lift {
					_, errs[i] = db.LiftRecipient(ctx, account, key, admin, "test")
				} else {
					_, errs[i] = db.SuppressRecipient(ctx, account, key, admin, "test")
				}
			}
			if fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) {
				t.Fatalf("step %d: the merging store answered %v, the other %v", step, errs[0], errs[1])
			}
			return
		}
		batch := make([]monitor.Event, 6)
		for i := range batch {
			e := monitor.Event{ID: fmt.Sprintf("e%d-%d", step, i), AccountID: accounts[rng.IntN(len(accounts))],
				OccurredAt: c.Now(), Recipient: keys[rng.IntN(len(keys))]}
			switch rng.IntN(5) {
			case 0:
				e.Type, e.Bounce = monitor.EventBounce, bounce(userUnknown)
			case 1, 2:
				e.Type, e.Bounce = monitor.EventBounce, bounce(mailboxFull)
			case 3:
				e.Type = monitor.EventDelivery
			default:
				e.Type = []monitor.EventType{monitor.EventComplaint, monitor.EventUnsubscribe}[rng.IntN(2)]
			}
			batch[i] = e
		}
		ingest(t, merging, batch)
		ingest(t, never, batch)
	}
	compare := func(when string) {
		t.Helper()
		for _, account := range accounts {
			got, err := merging.CheckRecipients(ctx, account, keys)
			if err != nil {
				t.Fatal(err)
			}
			want, err := never.CheckRecipients(ctx, account, keys)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: recipients of %s:\n got %+v\nwant %+v", when, account, got, want)
			}
			if got, want := allSuppressions(t, merging, account, c.Now()), allSuppressions(t, never, account, c.Now()); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: suppressions of %s:\n got %+v\nwant %+v", when, account, got, want)
			}
			for _, key := range keys {
				r1, h1, err1 := merging.RecipientHistory(ctx, account, key)
				r2, h2, err2 := never.RecipientHistory(ctx, account, key)
				if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(h1, h2) || fmt.Sprint(err1) != fmt.Sprint(err2) {
					t.Fatalf("%s: history of %s %s:\n got %+v %+v %v\nwant %+v %+v %v", when, account, key, r1, h1, err1, r2, h2, err2)
				}
			}
		}
	}

	for range 40 {
		act()
	}
	compare("after 40 steps")
	// Stop both in the middle of a merge (closing merges one record more),
	// with changes journaled since the freeze: the reopened stores must
	// still agree, and go on merging.
	for unmerged(merging.overlay) < 4 || merging.overlay.current.changes == 0 {
		act()
	}
	closeAndCheck(t, merging)
	closeAndCheck(t, never)
	merging, never = open(mergingDir, 20, 1), open(neverDir, 1<<30, 0)
	if merging.overlay.frozen == nil {
		t.Fatal("reopened after a merge began: no frozen generation to merge again")
	}
	compare("after a reopen in a merge")
	for range 40 {
		act()
	}
	compare("after 40 steps more")

	// What the merges left: a journal of a couple of generations, and the
	// records in the tree.
	err := merging.bolt.View(func(tx *bbolt.Tx) error {
		journals, entries := 0, 0
		err := tx.Bucket(bucketRecipientJournal).ForEachBucket(func(k []byte) error {
			journals++
			entries += tx.Bucket(bucketRecipientJournal).Bucket(k).Stats().KeyN
			return nil
		})
		if journals > 2 || entries > 2*(20+6) {
			t.Errorf("the journal holds %d buckets of %d entries in all, want at most 2 generations of a few", journals, entries)
		}
		if n := tx.Bucket(bucketRecipients).Stats().KeyN; n == 0 {
			t.Error("no recipient record was merged into the tree")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// allSuppressions reads every suppression of account, three per page.
func allSuppressions(t *testing.T, db *DB, account string, now time.Time) []Suppression {
	t.Helper()
	var all []Suppression
	after := ""
	for {
		page, next, err := db.Suppressions(context.Background(), account, SuppressionFilter{}, after, 3, now)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		if next <= after {
			t.Fatalf("suppressions of %s: page after %q goes on from %q", account, after, next)
		}
		after = next
	}
}

// unmerged counts the records of the frozen generation left to merge.
func unmerged(o *recipientOverlay) int {
	if o.frozen == nil || len(o.mergeAccounts) == 0 {
		return 0
	}
	n := len(o.mergeKeys)
	if n == 0 {
		n = len(o.frozen.records[o.mergeAccounts[0]])
	}
	for _, account := range o.mergeAccounts[1:] {
		n += len(o.frozen.records[account])
	}
	return n
}
