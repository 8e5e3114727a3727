package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/monitor"
)

func TestTake(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	complaint := func(id, account string) monitor.Event {
		return monitor.Event{ID: id, AccountID: account, Type: monitor.EventComplaint, OccurredAt: t0, Recipient: id + "@example.org",
			Complaint: &monitor.Complaint{FeedbackType: "abuse"}}
	}
	res := intake.Result{
		Events:   []monitor.Event{complaint("a", "fallback"), complaint("b", "named"), complaint("c", "fallback")},
		Unmapped: []monitor.Event{complaint("d", "")},
	}
	bad := complaint("e", "fallback")
	bad.Recipient = ""
	res.Events = append(res.Events, bad)
	opts := TakeOptions{Source: "hook test", Kept: "test", Reason: "no tag", Received: t0,
		MayCreate: func(account string) bool { return account == "fallback" }}
	got, err := e.srv.Take(ctx, res, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The configured account is created; the named one, which does not
	// exist, is kept with the event no mapping named.
	if got.Accepted != 2 || got.Unmapped != 2 || len(got.Rejected) != 1 || got.Rejected[0].EventID != "e" || got.Rejected[0].Field != "recipient" {
		t.Fatalf("got %+v", got)
	}
	kept, _, err := e.db.Unmapped(ctx, "test", 10, "")
	if err != nil || len(kept) != 2 || kept[0].Event.ID != "b" || !strings.Contains(kept[0].Reason, `account "named" does not exist`) ||
		kept[1].Event.ID != "d" || kept[1].Reason != "no tag" {
		t.Fatalf("kept %+v, %v", kept, err)
	}
	// The sender's retry: nothing twice.
	again, err := e.srv.Take(ctx, res, opts)
	if err != nil || again.Accepted != 0 || again.Duplicates != 2 {
		t.Errorf("again: got %+v, %v", again, err)
	}
	if kept, _, _ := e.db.Unmapped(ctx, "test", 10, ""); len(kept) != 2 {
		t.Errorf("again: %d kept, want still 2", len(kept))
	}
	// While draining, the sender is told to come back.
	e.srv.Drain()
	_, err = e.srv.Take(ctx, intake.Result{Events: []monitor.Event{complaint("f", "fallback")}}, opts)
	var later *RetryLater
	if !errors.As(err, &later) || later.After <= 0 {
		t.Errorf("draining: got %v, want RetryLater with a delay", err)
	}
}
