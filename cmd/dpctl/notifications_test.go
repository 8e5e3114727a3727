package main

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestPrintNotifications(t *testing.T) {
	var b strings.Builder
	err := printNotifications(&b, []*dpmonv1.Notification{{
		NotificationId: "dpmon-1a2b-7", Receiver: "ops", Kind: "suspended", AccountId: "acme",
		State: dpmonv1.NotificationState_NOTIFICATION_STATE_PENDING, Attempts: 3,
		NextAttemptAt: timestamppb.New(t0), LastError: "http://hooks.example/: 503 Service Unavailable",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := "ID            RECEIVER  KIND       ACCOUNT  STATE    ATTEMPTS  NEXT                  LAST ERROR\n" +
		"dpmon-1a2b-7  ops       suspended  acme     pending  3         2026-11-24T10:00:00Z  http://hooks.example/: 503 Service Unavailable\n"
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunNotifications(t *testing.T) {
	d := startDpmon(t, t0)
	stdout, _, err := runDpctl(t, "--addr", d.addr, "notifications", "--state", "failed")
	if err != nil || !strings.HasPrefix(stdout, "ID ") || strings.Count(stdout, "\n") != 1 {
		t.Errorf("an empty outbox: %v\n%s", err, stdout)
	}
	if _, _, err := runDpctl(t, "--addr", d.addr, "notifications", "retry", "dpmon-0-1"); status.Code(err) != codes.NotFound {
		t.Errorf("retrying an unknown notification: got %v, want NotFound", err)
	}
	if _, _, err := runDpctl(t, "--addr", d.addr, "notifications", "--state", "lost"); err == nil {
		t.Errorf("an unknown state: no error")
	}
}
