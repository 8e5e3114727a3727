package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/server"
)

// tokenAuth knows platform-a (a sender for acme) and two admins; each
// token is its name.
func tokenAuth(t *testing.T) *server.Authenticator {
	t.Helper()
	digest := func(s string) string { d := sha256.Sum256([]byte(s)); return hex.EncodeToString(d[:]) }
	a, err := server.NewAuthenticator([]server.Credential{
		{Name: "platform-a", SHA256: digest("platform-a"), Role: server.RoleSender, Accounts: []string{"acme"}},
		{Name: "ops-alice", SHA256: digest("ops-alice"), Role: server.RoleAdmin, CreateAccounts: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRunTicketFlow(t *testing.T) {
	d := startDpmonWith(t, t0, tokenAuth(t), "ops-alice")
	t.Setenv("DPMON_ADDR", d.addr)
	t.Setenv("DPMON_TOKEN", "ops-alice")
	d.suspend(t, "acme")

	if _, _, err := runDpctl(t, "--token", "wrong", "ticket", "list"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a wrong token: got %v, want Unauthenticated", err)
	}
	stdout, _, err := runDpctl(t, "--token", "platform-a", "ticket", "create", "acme",
		"--description", "Removed every bounced address.", "--bounces-removed", "--opt-in", "confirmed opt-in", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var created dpmonv1.CreateTicketResponse
	unmarshalOutput(t, stdout, &created)
	id := created.GetTicket().GetTicketId()
	if id == "" || created.GetTicket().GetState() != dpmonv1.TicketState_TICKET_STATE_OPEN {
		t.Fatalf("create: %s", stdout)
	}
	if _, _, err := runDpctl(t, "--token", "platform-a", "ticket", "approve", id); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a sender approving: got %v, want PermissionDenied", err)
	}
	if _, _, err := runDpctl(t, "ticket", "comment", id, "Which", "list?"); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = runDpctl(t, "ticket", "list", "--state", "open")
	if err != nil || !strings.Contains(stdout, id+"  acme     open") {
		t.Fatalf("list: %v\n%s", err, stdout)
	}
	stdout, _, err = runDpctl(t, "ticket", "approve", id, "--note", "Clean now.")
	if err != nil || !strings.Contains(stdout, "account acme is now probation") || !strings.Contains(stdout, "Which list?") {
		t.Fatalf("approve: %v\n%s", err, stdout)
	}
	stdout, _, err = runDpctl(t, "audit", "--account", "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ApproveTicket", "suspended → probation", "AddTicketComment", "CreateTicket", "platform-a"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("audit lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, err = runDpctl(t, "account", "suspend", "acme", "--category", "fraud", "--note", "Phishing pages.")
	if err != nil || !strings.Contains(stdout, "suspended by hand  fraud") || !strings.Contains(stdout, "WHAT TO DO") {
		t.Fatalf("suspend: %v\n%s", err, stdout)
	}
	if _, _, err := runDpctl(t, "account", "ack-warning", "acme", "--note", "ok"); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("acknowledging a suspension: got %v, want FailedPrecondition", err)
	}
}
