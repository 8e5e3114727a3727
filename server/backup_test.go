package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/store"
)

// readBackup reads a whole snapshot, checking that its size comes first.
func readBackup(ctx context.Context, c pb.BackupServiceClient) ([]byte, error) {
	stream, err := c.Backup(ctx, &pb.BackupRequest{})
	if err != nil {
		return nil, err
	}
	var data []byte
	var size int64
	for first := true; ; first = false {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if first {
			size = msg.GetSize()
		}
		data = append(data, msg.GetData()...)
	}
	if int64(len(data)) != size {
		return nil, errors.New("the snapshot is not as long as its first message said")
	}
	return data, nil
}

// A snapshot streamed over gRPC, in several messages, is a store that
// opens with what it held.
func TestBackupStreamsASnapshot(t *testing.T) {
	e := newEnv(t)
	// A fresh store's file is larger than one message already; events
	// make it more so.
	for b := range 5 {
		var evs []*pb.Event
		for i := range 5000 {
			evs = append(evs, send("acme", fmt.Sprint("s-", b, "-", i)))
		}
		e.ingest(t, evs)
	}
	data, err := readBackup(context.Background(), pb.NewBackupServiceClient(e.conn))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= backupChunk {
		t.Errorf("the snapshot is %d bytes: too small to test chunking", len(data))
	}
	path := filepath.Join(t.TempDir(), "snapshot.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if info, err := store.VerifySnapshot(path); err != nil || info.Accounts != 1 {
		t.Errorf("VerifySnapshot = %+v, %v; want acme", info, err)
	}
}
