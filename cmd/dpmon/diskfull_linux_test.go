package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

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
