package main

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestPrintCheckSend(t *testing.T) {
	tests := []struct {
		name string
		resp *dpmonv1.CheckSendResponse
		want string
	}{
		{
			"allowed",
			&dpmonv1.CheckSendResponse{Allowed: true, Phase: dpmonv1.Phase_PHASE_WARNING},
			"allowed  yes\nphase    warning\n",
		},
		{
			"suspended",
			&dpmonv1.CheckSendResponse{
				Phase:   dpmonv1.Phase_PHASE_SUSPENDED,
				Reasons: []string{"Hard bounces reached 5 %.", "Complaints reached 0.3 %."},
			},
			"allowed  no\nphase    suspended\nreasons  Hard bounces reached 5 %.\n         Complaints reached 0.3 %.\n",
		},
		{
			"with what to do",
			&dpmonv1.CheckSendResponse{
				Phase:           dpmonv1.Phase_PHASE_SUSPENDED,
				Reasons:         []string{"Suspended."},
				Recommendations: []string{"Clean the list.", "Open a ticket."},
			},
			"allowed     no\nphase       suspended\nreasons     Suspended.\nwhat to do  Clean the list.\n            Open a ticket.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := printCheckSend(&b, tt.resp); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRunCheckSend(t *testing.T) {
	d := startDpmon(t, t0)
	t.Setenv("DPMON_ADDR", d.addr)
	d.ingest(t, sends("beta", "beta", 10, t0))
	d.suspend(t, "acme")

	tests := []struct {
		id      string
		allowed bool
		phase   dpmonv1.Phase
	}{
		{"beta", true, dpmonv1.Phase_PHASE_HEALTHY},
		{"newcomer", true, dpmonv1.Phase_PHASE_HEALTHY}, // unseen: nothing stops it
		{"acme", false, dpmonv1.Phase_PHASE_SUSPENDED},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			stdout, _, err := runDpctl(t, "check-send", tt.id, "-o", "json")
			if err != nil {
				t.Fatal(err)
			}
			// "allowed" is spelled out even when false, for scripts.
			if !strings.Contains(stdout, `"allowed": `) {
				t.Errorf("no allowed field in %s", stdout)
			}
			var got dpmonv1.CheckSendResponse
			unmarshalOutput(t, stdout, &got)
			if got.GetAllowed() != tt.allowed || got.GetPhase() != tt.phase {
				t.Errorf("got allowed %v in %v, want %v in %v", got.GetAllowed(), got.GetPhase(), tt.allowed, tt.phase)
			}
			if !tt.allowed && len(got.GetReasons()) == 0 {
				t.Errorf("not allowed, but no reasons: %s", stdout)
			}
		})
	}

	stdout, _, err := runDpctl(t, "check-send", "acme")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := d.accounts.CheckSend(context.Background(), &dpmonv1.CheckSendRequest{AccountId: "acme"})
	if err != nil || len(resp.GetReasons()) != 1 {
		t.Fatalf("CheckSend acme: got %v, %v; want one reason", resp, err)
	}
	want := "allowed     no\nphase       suspended\nreasons     " + resp.GetReasons()[0] + "\n"
	for i, r := range resp.GetRecommendations() {
		label := "            "
		if i == 0 {
			label = "what to do  "
		}
		want += label + r + "\n"
	}
	if len(resp.GetRecommendations()) == 0 || stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", stdout, want)
	}
	if _, _, err := runDpctl(t, "check-send", " "); status.Code(err) != codes.InvalidArgument {
		t.Errorf("blank ID: got %v, want code InvalidArgument", err)
	}
}
