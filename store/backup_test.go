package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

func TestBackupVerifyRestore(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 100, t0)) // suspended
	ingest(t, db, events("beta", "s", monitor.EventSend, 10, t0))

	snapshot := filepath.Join(t.TempDir(), "snapshot.db")
	f, err := os.Create(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	var told int64
	n, err := db.Backup(ctx, admin, f, func(size int64) { told = size })
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err != nil || n != told || n == 0 {
		t.Fatalf("Backup = %d, %v; told %d", n, err, told)
	}
	info, err := VerifySnapshot(snapshot)
	if err != nil || info.Accounts != 2 || info.Schema != schemaVersion || info.Size != n {
		t.Fatalf("VerifySnapshot = %+v, %v; want 2 accounts, schema %d, %d bytes", info, err, schemaVersion, n)
	}
	// After the snapshot: not in it.
	ingest(t, db, events("late", "s", monitor.EventSend, 10, t0))

	dir := t.TempDir()
	if _, err := Restore(snapshot, dir, false); err != nil {
		t.Fatal(err)
	}
	re := testDB(t, dir, c)
	if a, err := re.Account(ctx, "acme"); err != nil || a.State.Phase != monitor.PhaseSuspended {
		t.Errorf("acme restored: %+v, %v; want suspended", a, err)
	}
	if _, err := re.Account(ctx, "late"); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("an account made after the snapshot: %v, want not found", err)
	}
	if res := ingest(t, re, events("acme", "s", monitor.EventSend, 1000, t0)); res.Duplicates != 1000 {
		t.Errorf("acme's events again after the restore: %+v, want all duplicates", res)
	}
	audit, _, err := re.Audit(ctx, AuditFilter{}, 10, "")
	if err != nil || len(audit) == 0 || audit[0].Action != "Backup" || audit[0].Actor != admin {
		t.Errorf("the restored audit log: %+v, %v; want the backup first", audit, err)
	}
	checkGauges(t, re, "after a restore")

	// A directory with a store is replaced only when asked, and never
	// while a dpmon has it open.
	if _, err := Restore(snapshot, dir, false); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("a restore over a store: %v, want ErrNotEmpty", err)
	}
	if _, err := Restore(snapshot, dir, true); !errors.Is(err, ErrInUse) {
		t.Errorf("a forced restore over an open store: %v, want ErrInUse", err)
	}
	// A damaged or foreign file is no snapshot.
	raw, _ := os.ReadFile(snapshot)
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	os.WriteFile(damaged, bytes.Repeat([]byte{0xAB}, len(raw)), 0o600)
	if _, err := VerifySnapshot(damaged); !errors.Is(err, ErrBadSnapshot) {
		t.Errorf("verifying garbage: %v, want ErrBadSnapshot", err)
	}
	if _, err := Restore(damaged, t.TempDir(), false); !errors.Is(err, ErrBadSnapshot) {
		t.Errorf("restoring garbage: %v, want ErrBadSnapshot", err)
	}
}

// Scheduled snapshots are checked, named for their time, and only the
// newest keep of them stay.
func TestSnapshotIntoKeepsTheNewest(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ingest(t, db, events("acme", "s", monitor.EventSend, 10, t0))
	dir := t.TempDir()
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("not a snapshot"), 0o600)
	// Named like a snapshot by a person: not the schedule's to delete.
	kept := filepath.Join(dir, "dpmon-before-upgrade.db")
	os.WriteFile(kept, []byte("kept"), 0o600)
	var paths []string
	for day := range 3 {
		path, info, err := db.SnapshotInto(context.Background(), admin, dir, t0.Add(time.Duration(day)*24*time.Hour), 2)
		if err != nil || info.Accounts != 1 {
			t.Fatalf("snapshot %d: %+v, %v", day, info, err)
		}
		paths = append(paths, path)
	}
	if want := filepath.Join(dir, "dpmon-20261124T100000Z.db"); paths[0] != want {
		t.Errorf("the first snapshot is %s, want %s", paths[0], want)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if want := []string{paths[1], paths[2], kept, other}; !slices.Equal(left, want) {
		t.Errorf("left in the directory: %v, want %v", left, want)
	}
}
