package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// watched opens a watch and returns its stream; the test ends it.
func watched(t *testing.T, e *env, req *pb.WatchTransitionsRequest) (grpc.ServerStreamingClient[pb.WatchTransitionsResponse], context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	stream, err := e.accounts.WatchTransitions(ctx, req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return stream, cancel
}

func recvTransition(t *testing.T, stream grpc.ServerStreamingClient[pb.WatchTransitionsResponse]) *pb.WatchTransitionsResponse {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return resp
}

func moved(r *pb.WatchTransitionsResponse) string {
	tr := r.GetTransition()
	return tr.GetAccountId() + " " + tr.GetFrom().String() + "->" + tr.GetTo().String()
}

// A watcher that reconnects with its last cursor receives exactly the
// transitions it missed, in order, then the live ones.
func TestWatchResumesFromItsCursor(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, many(1000, send, "old", "s"))
	e.ingest(t, many(25, hardBounce, "old", "b")) // before the watch: not sent
	stream, cancel := watched(t, e, &pb.WatchTransitionsRequest{})
	// The header says the watch is in place, and from where.
	md, err := stream.Header()
	if err != nil || len(md.Get("x-dpmon-cursor")) != 1 {
		t.Fatalf("header: %v, %v; want one cursor", md, err)
	}
	if seq, ok := e.db.CursorSeq(md.Get("x-dpmon-cursor")[0]); !ok || seq != 1 {
		t.Fatalf("header cursor %q opens to %d, %v; want the cursor of old's warning, 1", md.Get("x-dpmon-cursor")[0], seq, ok)
	}
	e.ingest(t, many(1000, send, "acme", "s"))
	e.ingest(t, many(25, hardBounce, "acme", "b"))
	first := recvTransition(t, stream)
	if moved(first) != "acme PHASE_HEALTHY->PHASE_WARNING" || first.GetCursor() == "" {
		t.Fatalf("first: got %s (cursor %q)", moved(first), first.GetCursor())
	}
	cancel()

	// Missed while disconnected:
	e.ingest(t, many(100, hardBounce, "acme", "more"))
	e.ingest(t, many(1000, send, "beta", "s"))
	e.ingest(t, many(25, hardBounce, "beta", "b"))

	stream, _ = watched(t, e, &pb.WatchTransitionsRequest{Cursor: first.GetCursor()})
	for _, want := range []string{"acme PHASE_WARNING->PHASE_SUSPENDED", "beta PHASE_HEALTHY->PHASE_WARNING"} {
		if got := moved(recvTransition(t, stream)); got != want {
			t.Fatalf("after reconnecting: got %s, want %s", got, want)
		}
	}
	// Nothing else was missed: the next one is live.
	e.ingest(t, many(1000, send, "gamma", "s"))
	e.ingest(t, many(25, hardBounce, "gamma", "b"))
	if got := moved(recvTransition(t, stream)); got != "gamma PHASE_HEALTHY->PHASE_WARNING" {
		t.Fatalf("live: got %s, want gamma's warning", got)
	}
}

func TestWatchFiltersAndEnds(t *testing.T) {
	e := newEnv(t)
	for _, acc := range []string{"acme", "beta"} {
		e.ingest(t, many(1000, send, acc, "s"))
		e.ingest(t, many(25, hardBounce, acc, "b"))
		e.ingest(t, many(100, hardBounce, acc, "more"))
	}
	stream, _ := watched(t, e, &pb.WatchTransitionsRequest{Cursor: "0", AccountId: "beta", Phase: pb.Phase_PHASE_SUSPENDED})
	if got := moved(recvTransition(t, stream)); got != "beta PHASE_WARNING->PHASE_SUSPENDED" {
		t.Fatalf("filtered replay: got %s", got)
	}
	e.srv.Drain()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after Drain: got %v, want Unavailable", err)
	}
	bad, _ := watched(t, e, &pb.WatchTransitionsRequest{Cursor: "x"})
	if _, err := bad.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a bad cursor: got %v, want InvalidArgument", err)
	}
	ahead, _ := watched(t, e, &pb.WatchTransitionsRequest{Cursor: e.db.Cursor(99)})
	if _, err := ahead.Recv(); status.Code(err) != codes.FailedPrecondition || strings.ContainsAny(strings.ReplaceAll(status.Convert(err).Message(), `"0"`, ""), "0123456789") {
		t.Errorf("a cursor ahead of the log: got %v, want FailedPrecondition without numbers", err)
	}
}
