package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// TestACleanShutdownSavesTheIndex: a start after a clean shutdown reads the
// dedupe index from its file, and keeps the file. An older file is used
// for what it covers and the records after it are indexed from the log; a
// file that claims records the log does not have, or that is damaged, is
// refused and the index rebuilt. Duplicates are found either way.
func TestACleanShutdownSavesTheIndex(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	first := events("acme", "a", monitor.EventSend, 50, t0)
	ingest(t, db, first)
	path := filepath.Join(dir, IndexFileName)

	db = reopen(t, db, dir, c)
	if r := db.Replayed(); !r.IndexFile || r.IDs != 50 || r.IDsFromLog != 0 || r.IndexFileRefused != nil {
		t.Fatalf("a start after a clean shutdown: %+v, want the 50 ids from the index file", r)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the index file is gone after the start: %v", err)
	}
	if res := ingest(t, db, first); res.Duplicates != 50 {
		t.Fatalf("resending after a start from the index file: %+v, want duplicates", res)
	}

	// Keep this shutdown's file and store, then let the log grow past them.
	closeAndCheck(t, db)
	oldIndex := readFile(t, path)
	oldStore := readFile(t, filepath.Join(dir, FileName))
	db = testDB(t, dir, c)
	second := events("acme", "b", monitor.EventSend, 30, t0)
	ingest(t, db, second)
	closeAndCheck(t, db)
	newIndex := readFile(t, path)
	writeFile(t, path, oldIndex)
	db = testDB(t, dir, c)
	if r := db.Replayed(); !r.IndexFile || r.IDs != 80 || r.IDsFromLog != 30 || r.IndexFileRefused != nil {
		t.Fatalf("a start with an index file older than the log: %+v, want 50 ids from it and 30 from the log", r)
	}
	if res := ingest(t, db, append(first, second...)); res.Duplicates != 80 {
		t.Fatalf("resending after a start from an older index file: %+v, want 80 duplicates", res)
	}

	// The store as it was before the second batch, with the index of
	// after: the file claims records the log does not have.
	closeAndCheck(t, db)
	writeFile(t, filepath.Join(dir, FileName), oldStore)
	writeFile(t, path, newIndex)
	db = testDB(t, dir, c)
	refusedAndRebuilt(t, db, "an index file newer than the log", errStaleIndex, first)

	// A damaged file is refused by its checksum.
	closeAndCheck(t, db)
	b := readFile(t, path)
	b[len(b)/2] ^= 0x40
	writeFile(t, path, b)
	db = testDB(t, dir, c)
	refusedAndRebuilt(t, db, "a damaged index file", errCorrupt, first)
}

// TestAStartAfterACrashReadsTheSavedIndex: SaveIndex, while the store
// runs, saves what a start after a crash then reads; it indexes from the
// log only the records after the file, finds every duplicate, and knows
// when each record came, for a prune.
func TestAStartAfterACrashReadsTheSavedIndex(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	first := events("acme", "a", monitor.EventSend, 400, t0)
	ingest(t, db, first)
	if err := db.SaveIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(5 * 24 * time.Hour))
	second := events("acme", "b", monitor.EventSend, 30, c.Now())
	ingest(t, db, second)
	crashed := crashCopy(t, db)
	writeFile(t, filepath.Join(crashed, IndexFileName), readFile(t, filepath.Join(dir, IndexFileName)))

	re := testDB(t, crashed, c)
	if r := re.Replayed(); !r.IndexFile || r.IDsFromLog != 30 || r.IDs < 430 || r.IndexFileRefused != nil {
		t.Fatalf("a start after a crash: %+v, want 400 ids from the saved index and 30 from the log", r)
	}
	if res := ingest(t, re, append(first, second...)); res.Duplicates != 430 {
		t.Fatalf("resending after the start: %+v, want 430 duplicates", res)
	}
	prunesAllBut(t, re, c, second)
}

// prunesAllBut prunes db past the horizon of events sent at t0 and checks
// that it remembers the ids of young, sent 5 days later, and only those.
func prunesAllBut(t *testing.T, db *DB, c *monitortest.Clock, young []monitor.Event) {
	t.Helper()
	later := t0.Add(8*24*time.Hour + time.Hour)
	if err := db.Prune(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	if n := db.seen.len(); n != len(young) {
		t.Errorf("%d ids after the prune, want the %d young ones", n, len(young))
	}
	c.Set(later)
	if res := ingest(t, db, young); res.Duplicates != len(young) {
		t.Errorf("resending the young events after the prune: %+v, want duplicates", res)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// refusedAndRebuilt checks that db started without its index file, for
// reason why, rebuilt the index from the log, and finds every event of
// sent a duplicate.
func refusedAndRebuilt(t *testing.T, db *DB, file string, why error, sent []monitor.Event) {
	t.Helper()
	if r := db.Replayed(); r.IndexFile || !errors.Is(r.IndexFileRefused, why) || r.IDs != len(sent) || r.IDsFromLog != len(sent) {
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
	prunesAllBut(t, db, c, young)
}

// The index file keeps only the used slots of each table: what it reads
// back is every table exactly, however full.
func TestTheIndexFileReadsBackEveryTable(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var want [dedupeShards]dedupeTable
	for i := range want {
		want[i] = newDedupeTable(0, uint8(i))
		fill := []int{0, 1, 300, 767}[i%4] // empty to 3/4 full
		for range fill {
			want[i].insert(rng.Uint64(), rng.Uint32())
		}
	}
	iw := newIndexWriter(dir, "tmp", 42)
	for i := range want {
		iw.shard(7, want[i].slots, want[i].n)
	}
	if err := iw.finish(nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, IndexFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, x, _, err := readIndex(f, 42, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !x.whole || x.first != 7 {
		t.Errorf("read %+v, want the whole log to 7", x)
	}
	for i := range want {
		if !slices.Equal(got[i].slots, want[i].slots) || got[i].n != want[i].n {
			t.Fatalf("shard %d read back differs (%d keys, want %d)", i, got[i].n, want[i].n)
		}
	}
}
