package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/store"
)

// runBackup streams a snapshot of the server's store into FILE while the
// server keeps serving, written as store.WriteSnapshot writes: checked
// with bbolt's consistency check before it takes the name FILE.
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
	progress := newProgress(e.stderr)
	info, err := store.WriteSnapshot(path, func(w io.Writer) error {
		var size, got int64
		for {
			msg, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if size == 0 {
				size = msg.GetSize()
			}
			if _, err := w.Write(msg.GetData()); err != nil {
				return err
			}
			got += int64(len(msg.GetData()))
			progress.show(got, size)
		}
		progress.done()
		if got != size {
			return fmt.Errorf("the server said %d bytes and sent %d", size, got)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
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
