package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/store"
)

// retryInfo returns the delay a status asks for, if any.
func retryInfo(err error) (time.Duration, bool) {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

func sendsOf(account, prefix string, n int) []*pb.Event {
	evs := make([]*pb.Event, n)
	for i := range evs {
		evs[i] = &pb.Event{EventId: fmt.Sprint(prefix, i), AccountId: account, Type: pb.EventType_EVENT_TYPE_SEND,
			OccurredAt: timestamppb.Now(), Recipient: fmt.Sprintf("r%d@example.com", i)}
	}
	return evs
}

// When the disk refuses a write (here: the process may no longer grow
// files, as on a full disk), the server fails safe: the batch is not
// acknowledged, health turns NOT_SERVING, and every answer is UNAVAILABLE
// with a RetryInfo, so that clients back off instead of retrying in a
// loop. After a restart, what was acknowledged is all there.
func TestAFullDiskAnswersUnavailableWithARetryHint(t *testing.T) {
	addr, pid, dataDir := releaseServer(t, "")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer ops-token")
	conn := dial(t, addr)
	events, health := pb.NewEventServiceClient(conn), healthpb.NewHealthClient(conn)
	acked := sendsOf("acme", "a", 1000)
	if _, err := events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: acked}); err != nil {
		t.Fatal(err)
	}
	// Writes beyond the first pages of the file now fail with EFBIG, as
	// they would with ENOSPC.
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 16 << 10, Max: 16 << 10}, nil); err != nil {
		t.Skipf("cannot limit the server's file size: %v", err)
	}
	_, err := events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: sendsOf("acme", "b", 1000)})
	if delay, ok := retryInfo(err); status.Code(err) != codes.Unavailable || !ok || delay < 10*time.Second {
		t.Fatalf("a batch the disk refused: got %v (retry %v), want UNAVAILABLE with a RetryInfo of at least 10s", err, delay)
	}
	if h, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health after the failure: %v, %v; want NOT_SERVING", h, err)
	}
	_, err = events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: sendsOf("acme", "c", 10)})
	if _, ok := retryInfo(err); status.Code(err) != codes.Unavailable || !ok {
		t.Errorf("the next batch: got %v, want UNAVAILABLE with a RetryInfo", err)
	}

	// A new server on the same data: the acknowledged batch is all there.
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	addr2, _ := startServer(t, dataDir, "--tokens", filepath.Join(filepath.Dir(dataDir), "tokens.yaml"))
	resp, err := pb.NewEventServiceClient(dial(t, addr2)).IngestEvents(ctx, &pb.IngestEventsRequest{Events: acked})
	if err != nil || resp.GetDuplicates() != uint32(len(acked)) {
		t.Fatalf("the acknowledged batch again: %v, %v; want all duplicates", resp, err)
	}
}

var listeningRE = regexp.MustCompile(`msg="dpmon listening; opening the store" addr=(\S+)`)

// The gRPC port opens before the store: while the store cannot be opened
// (here: another process holds its file), probes get NOT_SERVING and calls
// UNAVAILABLE with a retry hint, not a refused connection.
func TestThePortOpensBeforeTheStore(t *testing.T) {
	dir := t.TempDir()
	holder, err := bbolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", dir}, func(string) string { return "" }, pw)
		pw.Close()
	}()
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				listening <- m[1]
			}
		}
	}()
	// The store waits a second for its file's lock, then gives up: the
	// port must answer meanwhile.
	var addr string
	select {
	case addr = <-listening:
	case err := <-done:
		t.Fatalf("run ended before it listened: %v", err)
	}
	conn := dial(t, addr)
	ctx := context.Background()
	if h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health while the store opens: %v, %v; want NOT_SERVING", h, err)
	}
	_, err = pb.NewAccountServiceClient(conn).GetAccount(ctx, &pb.GetAccountRequest{AccountId: "acme"})
	if _, ok := retryInfo(err); status.Code(err) != codes.Unavailable || !ok {
		t.Errorf("a call while the store opens: got %v, want UNAVAILABLE with a RetryInfo", err)
	}
	if err := <-done; err == nil {
		t.Error("run succeeded on a store held by another process")
	}
}
