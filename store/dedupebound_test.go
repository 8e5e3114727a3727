package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

func openBounded(t *testing.T, dir string, c *monitortest.Clock, maxIDs int) *DB {
	t.Helper()
	db, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now, DedupeMemory: int64(maxIDs) * dedupeBytesPerID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db) })
	return db
}

// waitTrimmed waits until db's index holds at most its bound.
func waitTrimmed(t *testing.T, db *DB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); db.trimming.Load() || db.seen.len() > db.maxIDs; {
		if time.Now().After(deadline) {
			t.Fatalf("the index holds %d ids, over its bound of %d", db.seen.len(), db.maxIDs)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestABoundedIndexRaisesTheFloor: past its bound the dedupe index
// forgets the oldest ids and raises the floor, so that a repeat of a
// forgotten event is refused, never counted again; the floor outlives a
// restart and a crash.
func TestABoundedIndexRaisesTheFloor(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := openBounded(t, dir, c, 1000)
	var batches [][]monitor.Event
	for h := range 5 {
		c.Set(t0.Add(time.Duration(h) * time.Hour))
		b := events("acme", "h"+string(rune('a'+h)), monitor.EventSend, 300, c.Now())
		ingest(t, db, b)
		batches = append(batches, b)
		waitTrimmed(t, db)
	}
	// 1,500 ids against a bound of 1,000 (nine tenths kept): the first
	// two hours are forgotten; events accepted in them occurred before
	// their end plus the clock skew at most.
	floor := db.DedupeFloor()
	if want := t0.Add(time.Hour + time.Second + monitor.DefaultLimits().MaxClockSkew); !floor.Equal(want) {
		t.Fatalf("floor %v, want %v", floor, want)
	}
	if got := db.Limits().DedupeFloor; !got.Equal(floor) {
		t.Errorf("Limits().DedupeFloor %v, want %v", got, floor)
	}
	check := func(db *DB, when string) {
		t.Helper()
		res := ingest(t, db, batches[0])
		if res.Accepted != 0 || len(res.TooOld) != 300 {
			t.Errorf("%s, the forgotten first hour resent: %d accepted, %d refused as too old; want all refused", when, res.Accepted, len(res.TooOld))
		}
		ev := batches[0][0]
		if err := ev.Validate(c.Now(), db.Limits()); !reflect.DeepEqual(err, db.Limits().FloorViolation()) {
			t.Errorf("%s, validating an event before the floor: %v", when, err)
		}
		for _, b := range batches[2:] {
			if res := ingest(t, db, b); res.Duplicates != 300 {
				t.Errorf("%s, a remembered hour resent: %+v, want 300 duplicates", when, res)
			}
		}
		if w := window(t, db, "acme", c.Now()); w.Sends != 1500 {
			t.Errorf("%s: %d sends counted, want each of the 1500 once", when, w.Sends)
		}
	}
	check(db, "running")

	crashed := crashCopy(t, db)
	db = reopen(t, db, dir, c)
	if got := db.DedupeFloor(); !got.Equal(floor) {
		t.Errorf("after a restart the floor is %v, want %v", got, floor)
	}
	check(db, "after a restart")
	re := openBounded(t, crashed, c, 1000)
	if got := re.DedupeFloor(); !got.Equal(floor) {
		t.Errorf("after a crash the floor is %v, want %v", got, floor)
	}
	check(re, "after a crash")
}
