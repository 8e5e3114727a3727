package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/store"
)

// loadBatch is one batch of the load: its own account's batchSends sends,
// and when it was sent and acknowledged.
type loadBatch struct {
	account      string
	sent, acked  time.Time
	acknowledged bool
}

const batchSends = 200

// A snapshot taken under ingest load, restored into a new directory and
// served, holds every batch acknowledged before the backup began, once,
// and nothing sent after its first byte: each batch is an account of its
// own, so a batch is all there or not at all.
func TestBackupUnderLoadRestores(t *testing.T) {
	srv := startRun(t, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, func(string) string { return "" })
	conn := dial(t, srv.addr)
	events := pb.NewEventServiceClient(conn)
	ctx := context.Background()

	var (
		mu      sync.Mutex
		batches []*loadBatch
		next    atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := &loadBatch{account: fmt.Sprintf("load-%05d", next.Add(1))}
				evs := sendsOf(b.account, b.account+"-", batchSends)
				b.sent = time.Now()
				_, err := events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: evs})
				b.acked, b.acknowledged = time.Now(), err == nil
				mu.Lock()
				batches = append(batches, b)
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // under load

	snapshot := filepath.Join(t.TempDir(), "snapshot.db")
	began := time.Now()
	stream, err := pb.NewBackupServiceClient(conn).Backup(ctx, &pb.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	var firstByte time.Time
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if firstByte.IsZero() {
			firstByte = time.Now() // the snapshot's transaction is open by now
		}
		if _, err := f.Write(msg.GetData()); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // and after it
	close(stop)
	wg.Wait()
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	dir := filepath.Join(t.TempDir(), "restored")
	if err := restore([]string{"--from", snapshot, "--data-dir", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := restore([]string{"--from", snapshot, "--data-dir", dir}, io.Discard, io.Discard); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("a second restore into the same directory: %v, want it refused", err)
	}
	restored := startRun(t, []string{"--listen", "127.0.0.1:0", "--data-dir", dir}, func(string) string { return "" })
	rconn := dial(t, restored.addr)
	accounts, revents := pb.NewAccountServiceClient(rconn), pb.NewEventServiceClient(rconn)

	var before, after, between int
	for _, b := range batches {
		got, err := accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: b.account})
		present := err == nil
		if err != nil && status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		var sends uint64
		if present {
			sends = got.GetAccount().GetWindows()[0].GetSends()
		}
		switch {
		case b.acknowledged && b.acked.Before(began):
			before++
			if !present || sends != batchSends {
				t.Errorf("%s, acknowledged before the backup began: present %v, %d sends; want %d", b.account, present, sends, batchSends)
			}
		case b.sent.After(firstByte):
			after++
			if present {
				t.Errorf("%s, sent after the snapshot's first byte, is in it", b.account)
			}
		default:
			between++
			if present && sends != batchSends {
				t.Errorf("%s, in flight as the backup began: %d sends, want all %d or none", b.account, sends, batchSends)
			}
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("%d batches acknowledged before the backup and %d sent after it: the test saw no load on one side", before, after)
	}
	t.Logf("%d batches before the backup, %d in flight as it began, %d after; %s", before, between, after, strings.TrimSpace(out.String()))
	// Their ids came back with them: sending one again counts nothing.
	res, err := revents.IngestEvents(ctx, &pb.IngestEventsRequest{Events: sendsOf(batches[0].account, batches[0].account+"-", batchSends)})
	if err != nil || res.GetDuplicates() != batchSends {
		t.Errorf("the first batch again after the restore: %v, %v; want all duplicates", res, err)
	}
}

// The scheduled backup writes checked snapshots into its directory and
// keeps the newest; a configuration that would keep none is refused.
func TestScheduledBackups(t *testing.T) {
	dir, backups := t.TempDir(), t.TempDir()
	config := filepath.Join(dir, "dpmon.yaml")
	if err := os.WriteFile(config, []byte("backup: {dir: "+backups+", schedule: \"@every 1s\", keep: 2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startRun(t, []string{"--config", config, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")}, func(string) string { return "" })
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(srv.Log(), "backup written and checked") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 scheduled backups in 30s:\n%s", srv.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(backups, "dpmon-*.db"))
	if len(left) != 2 {
		t.Fatalf("snapshots left: %v, want the newest 2", left)
	}
	for _, path := range left {
		if _, err := store.VerifySnapshot(path); err != nil {
			t.Error(err)
		}
	}

	if err := os.WriteFile(config, []byte("backup: {dir: "+backups+", keep: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"--config", config, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data2")}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "backup.keep") {
		t.Errorf("keep: 0: %v, want it refused", err)
	}
}
