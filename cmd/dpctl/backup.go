package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/store"
)

// runBackup streams a snapshot of the server's store into FILE while the
// server keeps serving: into FILE.partial first, then verified with
// bbolt's consistency check, and only then renamed to FILE.
func runBackup(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "backup", "FILE")
	force := fs.Bool("force", false, "replace FILE if it exists")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	path := operands[0]
	if _, err := os.Stat(path); err == nil && !*force {
		return fmt.Errorf("backup: %s exists (give --force to replace it)", path)
	}
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := dpmonv1.NewBackupServiceClient(conn).Backup(ctx, &dpmonv1.BackupRequest{})
	if err != nil {
		return err
	}
	partial := path + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(partial) // gone once renamed; left behind by nothing
	progress := newProgress(e.stderr)
	var size, got int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return err
		}
		if size == 0 {
			size = msg.GetSize()
		}
		if _, err := f.Write(msg.GetData()); err != nil {
			f.Close()
			return fmt.Errorf("backup: %w", err)
		}
		got += int64(len(msg.GetData()))
		progress.show(got, size)
	}
	progress.done()
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if got != size {
		return fmt.Errorf("backup: the server said %d bytes and sent %d", size, got)
	}
	info, err := store.VerifySnapshot(partial)
	if err != nil {
		return fmt.Errorf("backup: the snapshot received does not pass its check, so %s is not written: %w", path, err)
	}
	if err := os.Rename(partial, path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // the rename, durable
		d.Close()
	}
	_, err = fmt.Fprintf(e.stdout, "wrote %s: %d bytes, %d accounts, checked\n", path, info.Size, info.Accounts)
	return err
}

// progress shows how far a download is on a terminal, at most a few times
// a second; elsewhere (a file, a pipe, cron's mail) it stays quiet.
type progress struct {
	w    io.Writer
	tty  bool
	last time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) show(got, size int64) {
	if !p.tty || time.Since(p.last) < 200*time.Millisecond || size <= 0 {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r%.1f of %.1f MiB (%d%%)", float64(got)/(1<<20), float64(size)/(1<<20), got*100/size)
}

func (p *progress) done() {
	if p.tty && !p.last.IsZero() {
		fmt.Fprintln(p.w)
	}
}
