package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// TestACleanShutdownSavesTheIndex: a start after a clean shutdown reads the
// dedupe index from its file and removes it; an index file that does not
// end where the log does, or that is damaged, is refused and the index
// rebuilt from the log. Duplicates are found either way.
func TestACleanShutdownSavesTheIndex(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	first := events("acme", "a", monitor.EventSend, 50, t0)
	ingest(t, db, first)
	path := filepath.Join(dir, IndexFileName)

	db = reopen(t, db, dir, c)
	if r := db.Replayed(); !r.IndexFile || r.IDs != 50 || r.IndexFileRefused != nil {
		t.Fatalf("a start after a clean shutdown: %+v, want the 50 ids from the index file", r)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the index file is still there after the start: %v", err)
	}
	if res := ingest(t, db, first); res.Duplicates != 50 {
		t.Fatalf("resending after a start from the index file: %+v, want duplicates", res)
	}

	// Keep this shutdown's file, then let the log grow past it.
	closeAndCheck(t, db)
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db = testDB(t, dir, c)
	second := events("acme", "b", monitor.EventSend, 30, t0)
	ingest(t, db, second)
	closeAndCheck(t, db)
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	db = testDB(t, dir, c)
	refusedAndRebuilt(t, db, "an index file older than the log", errStaleIndex, append(first, second...))

	// A damaged file is refused by its checksum.
	closeAndCheck(t, db)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db = testDB(t, dir, c)
	refusedAndRebuilt(t, db, "a damaged index file", errCorrupt, append(first, second...))
}

// refusedAndRebuilt checks that db started without its index file, for
// reason why, rebuilt the index from the log, and finds every event of
// sent a duplicate.
func refusedAndRebuilt(t *testing.T, db *DB, file string, why error, sent []monitor.Event) {
	t.Helper()
	if r := db.Replayed(); r.IndexFile || !errors.Is(r.IndexFileRefused, why) || r.IDs != len(sent) {
		t.Fatalf("a start with %s: %+v, want it refused (%v) and %d ids rebuilt", file, r, why, len(sent))
	}
	if res := ingest(t, db, sent); res.Duplicates != len(sent) {
		t.Fatalf("resending after the rebuild: %+v, want %d duplicates", res, len(sent))
	}
}

// TestAStartFromTheIndexFilePrunesAsAnother: the log's spans come with the
// index file, so a prune after such a start forgets what it should.
func TestAStartFromTheIndexFilePrunesAsAnother(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ingest(t, db, events("acme", "old", monitor.EventSend, 10, t0))
	c.Set(t0.Add(5 * 24 * time.Hour))
	young := events("acme", "new", monitor.EventSend, 10, c.Now())
	ingest(t, db, young)
	db = reopen(t, db, dir, c)
	if !db.Replayed().IndexFile {
		t.Fatalf("%+v: the start did not use the index file", db.Replayed())
	}
	later := t0.Add(8*24*time.Hour + time.Hour)
	if err := db.Prune(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	if n := db.seen.len(); n != 10 {
		t.Errorf("%d ids after the prune, want the 10 young ones", n)
	}
	c.Set(later)
	if res := ingest(t, db, young); res.Duplicates != 10 {
		t.Errorf("resending the young events: %+v, want duplicates", res)
	}
}
