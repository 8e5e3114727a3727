package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

var metricsAddrRE = regexp.MustCompile(`msg="metrics serving" addr=(\S+)`)

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d, %v", resp.StatusCode, err)
	}
	return string(body)
}

// A scrape of /metrics shows the counters move with what the server does.
func TestMetricsMove(t *testing.T) {
	dir := t.TempDir()
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer receiver.Close()
	cfg := filepath.Join(dir, "dpmon.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("notify:\n  webhooks: [{name: ops, url: %q, secret: s}]\n  poll: 50ms\n", receiver.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startRun(t, []string{"--config", cfg, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")},
		func(string) string { return "" })
	m := metricsAddrRE.FindStringSubmatch(srv.Log())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", srv.Log())
	}
	before := scrape(t, m[1])
	for _, want := range []string{`dpmon_events_total{result="accepted",type="send"} 0`, `dpmon_accounts{phase="warning"} 0`} {
		if !strings.Contains(before, want+"\n") {
			t.Errorf("before: no %q", want)
		}
	}

	events := pb.NewEventServiceClient(dial(t, srv.addr))
	batch := warningBatch("acme")
	// A complaint without a time is rejected.
	batch = append(batch, &pb.Event{EventId: "bad", AccountId: "acme", Type: pb.EventType_EVENT_TYPE_COMPLAINT, Recipient: "r@example.com"})
	// The second time, all are duplicates or rejected again.
	for range 2 {
		if _, err := events.IngestEvents(context.Background(), &pb.IngestEventsRequest{Events: batch}); err != nil {
			t.Fatal(err)
		}
	}
	after := scrape(t, m[1])
	for _, want := range []string{
		`dpmon_events_total{result="accepted",type="send"} 1000`,
		`dpmon_events_total{result="duplicate",type="send"} 1000`,
		`dpmon_events_total{result="accepted",type="bounce"} 25`,
		`dpmon_events_total{result="rejected",type="complaint"} 2`,
		`dpmon_transitions_total{from="healthy",to="warning"} 1`,
		`dpmon_accounts{phase="warning"} 1`,
		`dpmon_dedupe_ids 1025`,
		`dpmon_dedupe_floor_timestamp_seconds 0`,
		`dpmon_recipient_journal_records{generation="merging"} 0`,
		`dpmon_grpc_server_handled_total{grpc_code="OK",grpc_method="IngestEvents",grpc_service="dpmon.v1.EventService",grpc_type="unary"} 2`,
	} {
		if !strings.Contains(after, want+"\n") {
			t.Errorf("after: no %q", want)
		}
	}
	// The bounces' recipients are journaled, not merged yet.
	if regexp.MustCompile(`(?m)^dpmon_recipient_journal_records\{generation="current"\} [1-9]`).FindString(after) == "" {
		t.Errorf("after: no recipient record counted in dpmon_recipient_journal_records")
	}
	if regexp.MustCompile(`(?m)^dpmon_commit_duration_seconds_count [1-9]`).FindString(after) == "" {
		t.Errorf("after: no commit counted in dpmon_commit_duration_seconds")
	}
	// The warning's notification reaches the webhook.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(scrape(t, m[1]), `dpmon_notification_attempts_total{receiver="ops",state="delivered"} 1`+"\n") {
		if time.Now().After(deadline) {
			t.Fatalf("the notification was not counted delivered:\n%s", scrape(t, m[1]))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := scrape(t, m[1]); !strings.Contains(s, `dpmon_notifications{receiver="ops",state="delivered"} 1`+"\n") ||
		!strings.Contains(s, `dpmon_notifications{receiver="ops",state="pending"} 0`+"\n") {
		t.Errorf("the outbox gauge does not show it delivered")
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
}

// warningBatch is 1,000 sends and 25 hard bounces of account, now: 2.5 %,
// a warning.
func warningBatch(account string) []*pb.Event {
	now := timestamppb.New(time.Now())
	var batch []*pb.Event
	for i := range 1000 {
		batch = append(batch, &pb.Event{EventId: fmt.Sprint("s", i), AccountId: account, Type: pb.EventType_EVENT_TYPE_SEND, OccurredAt: now, Recipient: "r@example.com"})
	}
	for i := range 25 {
		batch = append(batch, &pb.Event{EventId: fmt.Sprint("b", i), AccountId: account, Type: pb.EventType_EVENT_TYPE_BOUNCE, OccurredAt: now,
			Recipient: "r@example.com", Bounce: &pb.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1"}})
	}
	return batch
}

// Metrics show the whole platform's volume: beyond loopback they are not
// served without authentication unless told to, and with a token file a
// scrape needs a viewer's or an admin's token, never a sender's.
func TestMetricsAreForOperatorsOnly(t *testing.T) {
	dir := t.TempDir()
	err := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0", "--data-dir", dir},
		func(string) string { return "" }, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "refusing to serve metrics on 0.0.0.0:0 without authentication") {
		t.Fatalf("open metrics beyond loopback: got %v, want a refusal", err)
	}
	open := startRun(t, []string{"--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0", "--insecure", "--data-dir", dir},
		func(string) string { return "" })
	if err := open.stop(t); err != nil {
		t.Fatalf("with --insecure: %v", err)
	}

	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n"+
		"  - {name: platform-a, sha256: "+sha256Hex("sender-token")+", role: sender}\n"+
		"  - {name: auditor, sha256: "+sha256Hex("viewer-token")+", role: viewer}\n"+
		"  - {name: ops, sha256: "+sha256Hex("admin-token")+", role: admin}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startRun(t, []string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--tokens", tokens, "--data-dir", filepath.Join(t.TempDir(), "data")},
		func(string) string { return "" })
	m := metricsAddrRE.FindStringSubmatch(srv.Log())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", srv.Log())
	}
	get := func(path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+m[1]+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// Profiles show the program's insides: admins only.
	for token, want := range map[string]int{"": http.StatusUnauthorized, "viewer-token": http.StatusForbidden, "admin-token": http.StatusOK} {
		if code, _ := get("/debug/pprof/", token); code != want {
			t.Errorf("profiles with %q: status %d, want %d", token, code, want)
		}
	}
	for _, c := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"wrong", http.StatusUnauthorized}, {"sender-token", http.StatusForbidden}, {"viewer-token", http.StatusOK}} {
		code, body := get("/metrics", c.token)
		if code != c.want {
			t.Errorf("scrape with %q: status %d, want %d", c.token, code, c.want)
		}
		if leaked := strings.Contains(body, "dpmon_events_total"); leaked != (c.want == http.StatusOK) {
			t.Errorf("scrape with %q: metrics in the body: %v", c.token, leaked)
		}
	}
}
