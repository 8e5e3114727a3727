package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// A snapshot is the store's bbolt file as one read transaction sees it:
// what a crash at that commit would have left, which a start replays like
// any other. The dedupe index file is left out; a start rebuilds it from
// the log.

// Backup writes a consistent snapshot of the store to w while it keeps
// serving, and returns its size. It is first recorded in the audit log as
// who's, in a commit of its own, so that the snapshot holds its own
// record. size, when set, is told the snapshot's size before its first
// byte.
func (db *DB) Backup(ctx context.Context, who monitor.Actor, w io.Writer, size func(int64)) (int64, error) {
	o := &op{apply: func(g *group) error {
		g.d.Audit = append(g.d.Audit, monitor.AuditEntry{At: g.now, Actor: who, Action: "Backup"})
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	var n int64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// ctxWriter stops a snapshot whose reader went away.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// SnapshotInfo is what a verified snapshot holds.
type SnapshotInfo struct {
	// Schema is the layout version of the store that wrote it.
	Schema   int
	Accounts int
	Size     int64
}

// ErrBadSnapshot is returned when a file is not a snapshot this dpmon can
// use: not a bbolt file, inconsistent pages, or another layout.
var ErrBadSnapshot = errors.New("not a usable dpmon snapshot")

// VerifySnapshot opens the snapshot at path read-only and runs bbolt's
// consistency check over every page: a snapshot counts as written only
// once it passes.
func VerifySnapshot(path string) (SnapshotInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("verify snapshot: %w", err)
	}
	b, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("verify snapshot %s: %w: %w", path, ErrBadSnapshot, err)
	}
	defer b.Close()
	info := SnapshotInfo{Size: st.Size()}
	err = b.View(func(tx *bbolt.Tx) error {
		// Drained to the end: the check's goroutine sends every error.
		var bad error
		for err := range tx.Check() {
			bad = cmp.Or(bad, err)
		}
		if bad != nil {
			return fmt.Errorf("%w: %w", ErrBadSnapshot, bad)
		}
		meta, accounts := tx.Bucket(bucketMeta), tx.Bucket(bucketAccounts)
		if meta == nil || accounts == nil || len(meta.Get([]byte("schema"))) != 1 {
			return fmt.Errorf("%w: no dpmon buckets", ErrBadSnapshot)
		}
		// A newer schema is a sound snapshot all the same: an older dpctl
		// may back up a newer server. Restore refuses it.
		info.Schema = int(meta.Get([]byte("schema"))[0])
		info.Accounts = accounts.Stats().KeyN
		return nil
	})
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("verify snapshot %s: %w", path, err)
	}
	return info, nil
}

// ErrNotEmpty is returned when a restore would overwrite a data directory
// that holds a store.
var ErrNotEmpty = errors.New("the data directory is not empty")

// ErrInUse is returned when a restore would replace the store of a
// running dpmon.
var ErrInUse = errors.New("the store is in use by a running dpmon")

// Restore makes the verified snapshot at from the store of the data
// directory dir, so that a server started on dir serves what the snapshot
// holds. A directory with files in it is refused unless force, which
// replaces its store and drops its dedupe index file (a start rebuilds
// it from the restored log); a store a running dpmon holds is never
// replaced.
func Restore(from, dir string, force bool) (SnapshotInfo, error) {
	info, err := VerifySnapshot(from)
	if err != nil {
		return info, err
	}
	if info.Schema > schemaVersion {
		return info, fmt.Errorf("restore: %w: written by a newer dpmon (schema %d, this one reads %d)", ErrBadSnapshot, info.Schema, schemaVersion)
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return info, fmt.Errorf("restore: %w", err)
		}
	case err != nil:
		return info, fmt.Errorf("restore: %w", err)
	case len(entries) > 0 && !force:
		return info, fmt.Errorf("restore into %s: %w (give --force to replace what is there)", dir, ErrNotEmpty)
	}
	// The copy is written as a snapshot is (WriteSnapshot): beside the
	// store, and renamed over it once on disk and checked, so that a
	// restore cut short leaves the old store or the new, whole.
	dst := filepath.Join(dir, FileName)
	if err := notInUse(dst); err != nil {
		return info, err
	}
	// The old index goes first: should the copy fail, the old store is
	// left with none, which a start rebuilds.
	if err := os.Remove(filepath.Join(dir, IndexFileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return info, fmt.Errorf("restore: %w", err)
	}
	if _, err := WriteSnapshot(dst, func(w io.Writer) error {
		in, err := os.Open(from)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, in)
		return err
	}); err != nil {
		return info, fmt.Errorf("restore: %w", err)
	}
	return info, nil
}

// notInUse checks that no dpmon holds the store at path: bbolt locks the
// file it opens for writing, so opening it is refused while one runs.
func notInUse(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 200 * time.Millisecond})
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("restore into %s: %w: stop it first", filepath.Dir(path), ErrInUse)
	}
	if err != nil {
		return nil // not a store it could open either: it is replaced
	}
	return b.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// snapshotPrefix and snapshotSuffix frame the names of the snapshots
// SnapshotInto writes: dpmon-20261203T023000Z.db, in time order by name.
const (
	snapshotPrefix = "dpmon-"
	snapshotSuffix = ".db"
	snapshotTime   = "20060102T150405Z"
)

// SnapshotInto writes a snapshot of the store into dir, named for now,
// checks it before it counts as written, and then deletes the oldest
// snapshots there beyond keep: the scheduled backup. who is recorded in
// the audit log.
func (db *DB) SnapshotInto(ctx context.Context, who monitor.Actor, dir string, now time.Time, keep int) (string, SnapshotInfo, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", SnapshotInfo{}, fmt.Errorf("snapshot: %w", err)
	}
	path := filepath.Join(dir, snapshotPrefix+now.UTC().Format(snapshotTime)+snapshotSuffix)
	info, err := WriteSnapshot(path, func(w io.Writer) error {
		_, err := db.Backup(ctx, who, w, nil)
		return err
	})
	if err != nil {
		return "", info, err
	}
	return path, info, pruneSnapshots(dir, keep)
}

// WriteSnapshot writes a snapshot to path as write produces it: into
// path.partial, synced, checked with VerifySnapshot, and only then renamed
// to path, so that a file under that name is a checked snapshot. A
// partial file is never left behind.
func WriteSnapshot(path string, write func(io.Writer) error) (SnapshotInfo, error) {
	partial := path + ".partial"
	defer os.Remove(partial) // gone once renamed
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot: %w", err)
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot: %w", err)
	}
	info, err := VerifySnapshot(partial)
	if err != nil {
		return info, fmt.Errorf("the snapshot does not pass its check, so %s is not written: %w", path, err)
	}
	if err := os.Rename(partial, path); err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return info, fmt.Errorf("snapshot: %w", err)
	}
	return info, nil
}

// pruneSnapshots deletes the oldest snapshots in dir beyond keep; other
// files, also ones named like dpmon-before-upgrade.db, are left alone.
func pruneSnapshots(dir string, keep int) error {
	all, err := filepath.Glob(filepath.Join(dir, snapshotPrefix+"*"+snapshotSuffix))
	if err != nil {
		return err
	}
	var names []string
	for _, name := range all {
		stamp := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), snapshotPrefix), snapshotSuffix)
		if _, err := time.Parse(snapshotTime, stamp); err == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names) // the names sort by time
	for _, name := range names[:max(0, len(names)-keep)] {
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("prune snapshots: %w", err)
		}
	}
	return nil
}
