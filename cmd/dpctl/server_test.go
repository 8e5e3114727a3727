package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

// t0 is the instant the server's clock shows in most tests; the events
// of testdata/events.jsonl occur in the seconds after it.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// dpmon is a real dpmon server for dpctl to talk to: the gRPC services
// over a store in a temp dir, on a loopback port.
type dpmon struct {
	addr     string
	clock    *monitortest.Clock
	accounts dpmonv1.AccountServiceClient // for checks that do not go through dpctl
}

// startDpmon serves a real store in a temp dir on 127.0.0.1 with a clock
// fixed at now, and stops both when the test ends.
func startDpmon(t *testing.T, now time.Time) *dpmon {
	t.Helper()
	return startDpmonWith(t, now, nil, "")
}

// startDpmonWith is startDpmon with an authenticator; the test's own
// client calls with adminToken.
func startDpmonWith(t *testing.T, now time.Time, auth *server.Authenticator, adminToken string) *dpmon {
	t.Helper()
	c := monitortest.New(now)
	db, err := store.Open(t.TempDir(), store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(db, server.Options{Clock: c.Now, Auth: auth})
	gs := srv.GRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if adminToken != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: adminToken}))
	}
	conn, err := grpc.NewClient(lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Drain()
		gs.Stop()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return &dpmon{addr: lis.Addr().String(), clock: c, accounts: dpmonv1.NewAccountServiceClient(conn)}
}

// account returns the account id as the server has it now.
func (d *dpmon) account(t *testing.T, id string) *dpmonv1.Account {
	t.Helper()
	resp, err := d.accounts.GetAccount(context.Background(), &dpmonv1.GetAccountRequest{AccountId: id})
	if err != nil {
		t.Fatalf("GetAccount %s: %v", id, err)
	}
	return resp.GetAccount()
}

// ingest sends lines, JSON events, with "dpctl ingest" and fails the test
// unless the server accepts every one.
func (d *dpmon) ingest(t *testing.T, lines []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runDpctl(t, "--addr", d.addr, "ingest", "-o", "json", path)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	var sum ingestSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if sum.Accepted != len(lines) {
		t.Fatalf("ingest: got %s, want all %d events accepted", stdout, len(lines))
	}
}

// sends returns n send events of account occurring at at, as JSON lines;
// their IDs start with prefix.
func sends(account, prefix string, n int, at time.Time) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"event_id":"%s-%d","account_id":%q,"type":"EVENT_TYPE_SEND","occurred_at":%q,"recipient":"r%d@example.com"}`,
			prefix, i, account, at.Format(time.RFC3339Nano), i)
	}
	return lines
}

// hardBounces returns n hard bounces (550 5.1.1, user unknown) of account
// occurring at at, as JSON lines; their IDs start with prefix.
func hardBounces(account, prefix string, n int, at time.Time) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"event_id":"%s-%d","account_id":%q,"type":"EVENT_TYPE_BOUNCE","occurred_at":%q,"recipient":"r%d@example.com","bounce":{"smtp_code":550,"enhanced_status":"5.1.1"}}`,
			prefix, i, account, at.Format(time.RFC3339Nano), i)
	}
	return lines
}

// suspend drives account to suspended at the clock's instant: 1000 sends
// and 100 hard bounces put its hard-bounce rate at 10 %, above the
// suspend threshold of 8 %.
func (d *dpmon) suspend(t *testing.T, account string) {
	t.Helper()
	now := d.clock.Now()
	d.ingest(t, append(sends(account, account+"-s", 1000, now), hardBounces(account, account+"-b", 100, now)...))
	if got := d.account(t, account).GetPhase(); got != dpmonv1.Phase_PHASE_SUSPENDED {
		t.Fatalf("%s after 10%% hard bounces: got phase %v, want suspended", account, got)
	}
}
