package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/store"
)

// counter collects the reasons a server reports, from any goroutine.
type counter struct {
	mu      sync.Mutex
	reasons []string
}

func (c *counter) add(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reasons = append(c.reasons, reason)
}

func (c *counter) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reasons)
}

// retryDelay returns the RetryInfo of err, if it has one.
func retryDelay(err error) (time.Duration, bool) {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

func quotaSubject(err error) string {
	for _, d := range status.Convert(err).Details() {
		if qf, ok := d.(*errdetails.QuotaFailure); ok && len(qf.GetViolations()) > 0 {
			return qf.GetViolations()[0].GetSubject()
		}
	}
	return ""
}

// Beyond limits.max_accounts a new account is refused with
// RESOURCE_EXHAUSTED naming the limit, and the batch that would have
// created it changes nothing; the accounts already there go on.
func TestTheServerHoldsAtMostMaxAccounts(t *testing.T) {
	var refused counter
	e := newEnvOpts(t, func(o *store.Options) { o.MaxAccounts = 2 }, func(o *Options) { o.RefusedAccount = refused.add })
	ctx := context.Background()
	e.ingest(t, []*pb.Event{send("acme", "1"), send("beta", "1")})

	_, err := e.events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: []*pb.Event{send("acme", "2"), send("gamma", "1")}})
	if status.Code(err) != codes.ResourceExhausted || quotaSubject(err) != "accounts" || !strings.Contains(err.Error(), "limits.max_accounts") {
		t.Fatalf("a third account: got %v, want RESOURCE_EXHAUSTED with a QuotaFailure on accounts naming limits.max_accounts", err)
	}
	if _, ok := retryDelay(err); ok {
		t.Error("the account limit carries a RetryInfo, but waiting does not lift it")
	}
	if msg := status.Convert(err).Message(); strings.ContainsAny(msg, "0123456789") {
		t.Errorf("the refusal %q has numbers: a sender would learn how many accounts the platform has", msg)
	}
	// Nothing of the refused batch was applied: acme's event is new.
	if resp := e.ingest(t, []*pb.Event{send("acme", "2")}); resp.GetAccepted() != 1 {
		t.Errorf("acme's event of the refused batch: accepted %d, want 1 (new)", resp.GetAccepted())
	}
	_, err = e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "gamma", DisplayName: "Gamma"})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("UpdateAccount creating a third account: got %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := e.accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: "gamma"}); status.Code(err) != codes.NotFound {
		t.Errorf("gamma after being refused: got %v, want NOT_FOUND", err)
	}
	if got := refused.all(); !slices.Equal(got, []string{AccountsRefusedLimit, AccountsRefusedLimit}) {
		t.Errorf("refusals counted: %v, want two max_accounts", got)
	}
}

// A credential that may use every account creates accounts by events only
// when its configuration says so; an admin still creates one on purpose
// with UpdateAccount, and a scoped sender creates the accounts it lists.
func TestOnlyCredentialsThatMayCreateAccountsDo(t *testing.T) {
	auth, err := NewAuthenticator([]Credential{
		{Name: "relay", SHA256: digest("relay"), Role: RoleSender},
		{Name: "relay-onboarding", SHA256: digest("relay-onboarding"), Role: RoleSender, CreateAccounts: true},
		{Name: "platform-a", SHA256: digest("platform-a"), Role: RoleSender, Accounts: []string{"scoped"}},
		{Name: "ops", SHA256: digest("ops"), Role: RoleAdmin},
	})
	if err != nil {
		t.Fatal(err)
	}
	var refused counter
	e := newEnvOpts(t, func(*store.Options) {}, func(o *Options) { o.Auth, o.RefusedAccount = auth, refused.add })
	ingest := func(token, account string) error {
		_, err := e.events.IngestEvents(as(token), &pb.IngestEventsRequest{Events: []*pb.Event{send(account, "e-"+token)}})
		return err
	}
	if err := ingest("relay", "acme"); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "create_accounts") {
		t.Errorf("relay creating acme: got %v, want PERMISSION_DENIED naming create_accounts", err)
	}
	if err := ingest("ops", "acme"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("an admin creating acme by an event: got %v, want PERMISSION_DENIED", err)
	}
	if _, err := e.accounts.UpdateAccount(as("ops"), &pb.UpdateAccountRequest{AccountId: "acme", DisplayName: "Acme"}); err != nil {
		t.Fatalf("an admin creating acme with UpdateAccount: %v", err)
	}
	for _, c := range []struct{ token, account string }{{"relay", "acme"}, {"relay-onboarding", "beta"}, {"platform-a", "scoped"}} {
		if err := ingest(c.token, c.account); err != nil {
			t.Errorf("%s sending for %s: %v", c.token, c.account, err)
		}
	}
	stream, err := e.events.StreamEvents(as("relay"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sendAndRecv(stream, send("gamma", "1")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("relay creating gamma over a stream: got %v, want PERMISSION_DENIED", err)
	}
	if got := refused.all(); len(got) != 3 || got[0] != AccountsRefusedNotAllowed {
		t.Errorf("refusals counted: %v, want three not_allowed", got)
	}
}

// Each credential creates accounts at its own pace: past it, a batch with
// a new account is told when to retry, while the credential's other
// events, and other credentials, go on.
func TestNewAccountsArePacedPerCredential(t *testing.T) {
	auth, err := NewAuthenticator([]Credential{
		{Name: "a", SHA256: digest("a"), Role: RoleSender, CreateAccounts: true},
		{Name: "b", SHA256: digest("b"), Role: RoleSender, CreateAccounts: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	var refused counter
	e := newEnvOpts(t, func(*store.Options) {}, func(o *Options) {
		o.Auth, o.RefusedAccount, o.Limits = auth, refused.add, Limits{NewAccountsPerMinute: 3}
	})
	create := func(token string, accounts ...string) error {
		var evs []*pb.Event
		for _, a := range accounts {
			evs = append(evs, send(a, fmt.Sprint("e-", len(evs))))
		}
		_, err := e.events.IngestEvents(as(token), &pb.IngestEventsRequest{Events: evs})
		return err
	}
	if err := create("a", "a1", "a2", "a3"); err != nil {
		t.Fatalf("a's first three accounts: %v", err)
	}
	err = create("a", "a1", "a4")
	if delay, ok := retryDelay(err); status.Code(err) != codes.ResourceExhausted || !ok || delay < 15*time.Second || delay > 20*time.Second {
		t.Errorf("a's fourth account: got %v (retry %v), want RESOURCE_EXHAUSTED with a retry in about 20s", err, delay)
	}
	if err := create("a", "a1", "a2"); err != nil {
		t.Errorf("a's existing accounts: %v", err)
	}
	if err := create("b", "b1", "b2", "b3"); err != nil {
		t.Errorf("b's accounts, at its own pace: %v", err)
	}
	e.clock.Set(t0.Add(20 * time.Second))
	if err := create("a", "a4"); err != nil {
		t.Errorf("a's fourth account 20s later: %v", err)
	}
	err = create("b", "b4", "b5", "b6", "b7")
	if _, ok := retryDelay(err); status.Code(err) != codes.ResourceExhausted || ok {
		t.Errorf("more new accounts in one batch than a minute allows: got %v, want RESOURCE_EXHAUSTED without a retry", err)
	}
	if got := refused.all(); !slices.Equal(got, []string{AccountsRefusedRate, AccountsRefusedRate}) {
		t.Errorf("refusals counted: %v, want two rate", got)
	}
}
