package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

var addrRE = regexp.MustCompile(`msg="dpmon serving" addr=(\S+)`)

// waitForAddr reads the server's log until it says where it listens, then
// keeps draining the log so the server never blocks on it.
func waitForAddr(t *testing.T, log io.Reader) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(log)
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start within 30s")
		return ""
	}
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// runningServer is run serving in this process.
type runningServer struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
	// finished is closed when run has returned.
	finished chan struct{}
	mu       sync.Mutex
	log      strings.Builder
}

// startRun runs dpmon in this process with args and getenv and waits until
// it listens.
func startRun(t *testing.T, args []string, getenv func(string) string) *runningServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{cancel: cancel, done: make(chan error, 1), finished: make(chan struct{})}
	pr, pw := io.Pipe()
	go func() {
		s.done <- run(ctx, args, getenv, pw)
		pw.Close()
		close(s.finished)
	}()
	s.addr = waitForAddr(t, io.TeeReader(pr, s))
	// A server left running would go on into the next test (its shutdown
	// writing to that test's files and sockets): wait for it to end.
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.finished:
		case <-time.After(30 * time.Second):
			t.Error("run did not return within 30s of its cancel")
		}
	})
	return s
}

// Write keeps the server's log for the test to read.
func (s *runningServer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

// Log returns what the server has logged so far.
func (s *runningServer) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop cancels run as a signal would and returns its result.
func (s *runningServer) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of its cancel")
		return nil
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "dpmon.yaml")
	if err := os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:1\npolicy:\n  decision: confident\nwindows:\n  long: {length: 7d, min_sends: 10}\nsuppression: {first_block: 24h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DPMON_DATA_DIR": filepath.Join(dir, "data")}
	// The flag wins over the file's listen address.
	srv := startRun(t, []string{"--config", cfgPath, "--listen", "127.0.0.1:0"}, func(k string) string { return env[k] })
	conn := dial(t, srv.addr)
	ctx := context.Background()

	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}
	resp, err := pb.NewEventServiceClient(conn).IngestEvents(ctx, &pb.IngestEventsRequest{Events: []*pb.Event{{
		EventId: "e1", AccountId: "acme", Type: pb.EventType_EVENT_TYPE_SEND,
		OccurredAt: timestamppb.Now(), Recipient: "a@example.com",
	}}})
	if err != nil || resp.GetAccepted() != 1 {
		t.Fatalf("ingest = %v, %v", resp, err)
	}
	bouncedAt := time.Now().Truncate(time.Second)
	resp, err = pb.NewEventServiceClient(conn).IngestEvents(ctx, &pb.IngestEventsRequest{Events: []*pb.Event{{
		EventId: "e2", AccountId: "acme", Type: pb.EventType_EVENT_TYPE_BOUNCE, OccurredAt: timestamppb.New(bouncedAt),
		Recipient: "a@example.com", Bounce: &pb.Bounce{SmtpCode: 452, EnhancedStatus: "4.2.2", Diagnostic: "452 4.2.2 Mailbox full"},
	}}})
	if err != nil || resp.GetAccepted() != 1 {
		t.Fatalf("ingest = %v, %v", resp, err)
	}
	check, err := pb.NewSuppressionServiceClient(conn).CheckRecipients(ctx, &pb.CheckRecipientsRequest{AccountId: "acme", Recipients: []string{"a@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if until := check.GetResults()[0].GetUntil().AsTime(); !until.Equal(bouncedAt.Add(24 * time.Hour)) {
		t.Errorf("soft-bounce block until %v, want the config file's first block of 24h after %v", until, bouncedAt)
	}
	acct, err := pb.NewAccountServiceClient(conn).GetAccount(ctx, &pb.GetAccountRequest{AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if p := acct.GetAccount().GetPolicy(); p.GetDecision() != pb.Decision_DECISION_CONFIDENT || p.GetWindows()[1].GetMinSends() != 10 {
		t.Errorf("policy %v, want the config file's decision and min sends", p)
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("run = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "dpmon.db")); err != nil {
		t.Errorf("data file: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tt := range map[string]struct{ body, want string }{
		"unknown key":            {"polcy: {}\n", "polcy"},
		"bad duration":           {"policy: {cool_down: soon}\n", "soon"},
		"bad decision":           {"policy: {decision: maybe}\n", "policy.decision"},
		"warn above suspend":     {"policy: {hard_bounce_rate: {warn: 0.1, suspend: 0.05}}\n", "policy.hard_bounce_rate.warn"},
		"horizon too short":      {"events: {dedupe_horizon: 3d}\n", "dedupe_horizon"},
		"window not in bucket":   {"windows: {short: {length: 90m}}\n", "windows[0].length"},
		"bad schedule":           {"schedule: {evaluate: \"every minute\"}\n", "schedule.evaluate"},
		"block rate above 1":     {"policy: {block_rate: {warn: 2}}\n", "policy.block_rate.warn"},
		"shrinking blocks":       {"suppression: {block_growth: 0.5}\n", "suppression.block_growth"},
		"provider in capitals":   {"suppression: {provider_domains: [Gmail.com]}\n", "suppression.provider_domains"},
		"negative deadline":      {"escalation: {ack_deadline: -1h}\n", "escalation.ack_deadline"},
		"missing token file":     {"auth: {tokens_file: /nonexistent/tokens.yaml}\n", "tokens"},
		"client CA without TLS":  {"auth: {tls_client_ca: /ca.pem}\n", "tls_client_ca needs tls_cert"},
		"operators without SMTP": {"notify: {operator_emails: [ops@example.com]}\n", "needs notify.smtp"},
		"unsigned webhook":       {"notify: {webhooks: [{url: \"https://hooks.example/x\"}]}\n", "secret"},
		"unknown kind":           {"notify: {slack: [{url: \"https://hooks.example/x\", kinds: [exploded]}]}\n", "unknown kind"},
		"bad retry":              {"notify: {retry: {first: 0s}}\n", "notify.retry"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%x.yaml", name))
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--config", path, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")}
			err := run(context.Background(), args, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "90s": 90 * time.Second, "24h": 24 * time.Hour} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "week"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) succeeded", in)
		}
	}
}

// TestShutdownForcesStreamsThatDoNotEnd: a client that never reads its
// answers keeps its stream from ending; after the shutdown timeout the
// server cuts it and run returns.
func TestShutdownForcesStreamsThatDoNotEnd(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "dpmon.yaml")
	if err := os.WriteFile(cfgPath, []byte("shutdown_timeout: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfgPath, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")}
	srv := startRun(t, args, func(string) string { return "" })
	// A fixed, small flow-control window (no dynamic growth): answers that
	// are never read soon fill it, and the server's sends block.
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := pb.NewEventServiceClient(conn).StreamEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Batches of events without a recipient: each answer lists 100
	// rejections, a few kilobytes.
	var invalid []*pb.Event
	for i := range 100 {
		invalid = append(invalid, &pb.Event{EventId: fmt.Sprint(i), AccountId: "acme", Type: pb.EventType_EVENT_TYPE_SEND, OccurredAt: timestamppb.Now()})
	}
	go func() {
		for i := 0; ; i++ {
			if stream.Send(&pb.StreamEventsRequest{BatchId: fmt.Sprint(i), Events: invalid}) != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := srv.stop(t); err != nil {
		t.Fatalf("run = %v", err)
	}
	if log := srv.Log(); !strings.Contains(log, "shutdown timeout") {
		t.Errorf("log does not say the shutdown timed out:\n%s", log)
	}
}
