package server

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dpmon/dpmon/monitor"
)

func TestIngestFromAnotherAdapter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// More than a batch's worth, so that it is committed in chunks; the
	// invalid ones are reported by their index in the whole.
	events := make([]monitor.Event, MaxBatchEvents+5)
	for i := range events {
		events[i] = monitor.Event{ID: fmt.Sprint("e", i), AccountID: "acme", Type: monitor.EventSend, OccurredAt: t0,
			Recipient: "jane@example.com", Sender: "news@acme.example"}
	}
	events[3].Recipient = ""
	events[MaxBatchEvents+1].AccountID = "bad\x00id"
	got, err := e.srv.ingestFrom(ctx, "hook test", events)
	if err != nil {
		t.Fatal(err)
	}
	if got.Accepted != len(events)-2 || got.Duplicates != 0 || len(got.Rejected) != 2 ||
		got.Rejected[0].Index != 3 || got.Rejected[0].Field != "recipient" ||
		got.Rejected[1].Index != MaxBatchEvents+1 || got.Rejected[1].Field != "account_id" {
		t.Fatalf("got %d accepted, %d duplicates, rejected %+v", got.Accepted, got.Duplicates, got.Rejected)
	}
	again, err := e.srv.ingestFrom(ctx, "hook test", events[:10])
	if err != nil || again.Accepted != 0 || again.Duplicates != 9 {
		t.Errorf("again: got %+v, %v; want 9 duplicates", again, err)
	}
	a, err := e.db.Account(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if w := a.Status(t0, monitor.DefaultPolicy()).Windows[0]; w.Sends != uint64(len(events)-2) {
		t.Errorf("account counts %d sends, want %d", w.Sends, len(events)-2)
	}

	starting := Starting(Options{})
	if _, err := starting.ingestFrom(ctx, "hook test", events[:1]); status.Code(err) != codes.Unavailable {
		t.Errorf("starting server: got %v, want UNAVAILABLE", err)
	}
	e.srv.Drain()
	if _, err := e.srv.ingestFrom(ctx, "hook test", events[:1]); status.Code(err) != codes.Unavailable {
		t.Errorf("draining server: got %v, want UNAVAILABLE", err)
	}
}
