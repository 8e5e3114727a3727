package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// sendsFrom returns n sends of account from sender to n recipients, as
// JSON lines.
func sendsFrom(account, sender string, n int, at time.Time) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"event_id":"bulk-%d","account_id":%q,"type":"EVENT_TYPE_SEND","occurred_at":%q,"recipient":"r%d@example.com","sender":%q}`,
			i, account, at.Format(time.RFC3339Nano), i, sender)
	}
	return lines
}

func TestRunBulkPolicyAndQuota(t *testing.T) {
	d := startDpmon(t, t0)
	t.Setenv("DPMON_ADDR", d.addr)
	if _, _, err := runDpctl(t, "account", "update", "relay", "--bulk-policy", "on", "--max-sends-per-day", "1000"); err != nil {
		t.Fatal(err)
	}
	if a := d.account(t, "relay"); !a.GetBulkPolicy().GetEnabled() || a.GetQuota().GetMaxSendsPerDay() != 1000 {
		t.Fatalf("after update: bulk %v, quota %v", a.GetBulkPolicy(), a.GetQuota())
	}
	d.ingest(t, sendsFrom("relay", "news@shop.example", 60, t0))

	stdout, _, err := runDpctl(t, "check-send", "--sender", "news@shop.example", "relay")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"allowed     no", "BULK_POLICY_VIOLATION", "news@shop.example: blocked for bulk sending, 41 distinct recipients in the window, limit 40"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check-send output lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, err = runDpctl(t, "account", "get", "relay")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"quota per day     1000 (in effect 1000), 60 sent in the last 24h", "bulk policy", "news@shop.example", "reputation  100/100"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("account get output lacks %q:\n%s", want, stdout)
		}
	}

	if _, _, err := runDpctl(t, "account", "unblock-sender", "relay", "news@shop.example"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unblock without a note: got %v, want InvalidArgument", err)
	}
	if _, _, err := runDpctl(t, "account", "unblock-sender", "relay", "news@shop.example", "--note", "Receipts, reviewed."); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = runDpctl(t, "check-send", "--sender", "news@shop.example", "relay", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var resp dpmonv1.CheckSendResponse
	unmarshalOutput(t, stdout, &resp)
	if !resp.GetAllowed() || resp.GetSender().GetBlocked() {
		t.Errorf("after unblock-sender: %s", stdout)
	}

	if _, _, err := runDpctl(t, "account", "update", "relay", "--max-sends-per-day", "50"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runDpctl(t, "check-send", "relay"); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("over the quota: got %v, want ResourceExhausted", err)
	}
	if _, _, err := runDpctl(t, "account", "update", "relay"); err == nil {
		t.Error("update with nothing to change succeeded")
	}

	stdout, _, err = runDpctl(t, "account", "reputation", "relay")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "reputation  100/100 over 7d") || !strings.Contains(stdout, "complaint rate ") {
		t.Errorf("account reputation output:\n%s", stdout)
	}
}
