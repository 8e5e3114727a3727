package main

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

func TestPrintUnmapped(t *testing.T) {
	var b strings.Builder
	err := printUnmapped(&b, &dpmonv1.ListUnmappedEventsResponse{Events: []*dpmonv1.UnmappedEvent{
		{Seq: 12, Source: "mailgun", ReceivedAt: timestamppb.New(t0.Add(time.Minute)), Reason: `no "tag" value and no hooks.mailgun.default_account`,
			Event: &dpmonv1.Event{EventId: "mg-2", Type: dpmonv1.EventType_EVENT_TYPE_BOUNCE, Recipient: "b@example.com"}},
		// A hostile post: an escape that would clear the screen, a tab and
		// a line break that would split the table, a right-to-left override.
		{Seq: 11, Source: "ses", ReceivedAt: timestamppb.New(t0), Reason: "no mapping\nfor set \x1b[2Jnews",
			Event: &dpmonv1.Event{EventId: "ses\t1", Type: dpmonv1.EventType_EVENT_TYPE_SPAM_TRAP_HIT, Recipient: "\u202etrap@example.com\xff"}},
		{Seq: 10, Source: "ses", Event: &dpmonv1.Event{Type: dpmonv1.EventType_EVENT_TYPE_COMPLAINT}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "hooks_unmapped.golden", b.String())
}

// startUnmapped serves, with tokenAuth's credentials, a real store that
// has kept an SES complaint and two Mailgun bounces no mapping assigned.
func startUnmapped(t *testing.T) string {
	t.Helper()
	c := monitortest.New(t0)
	db, err := store.Open(t.TempDir(), store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	reason := `no "tag" value and no hooks.mailgun.default_account`
	bounce := func(id string) monitor.Event {
		return monitor.Event{ID: id, Type: monitor.EventBounce, OccurredAt: t0, Recipient: "b@example.com", Bounce: &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}}
	}
	if err := db.KeepUnmapped(t.Context(), []store.Unmapped{
		{Source: "ses", Received: t0, Reason: "no mapping for configuration set news",
			Event: monitor.Event{ID: "ses-1", Type: monitor.EventComplaint, OccurredAt: t0, Recipient: "c@example.com"}},
		{Source: "mailgun", Received: t0.Add(time.Minute), Reason: reason, Event: bounce("mg-1")},
		{Source: "mailgun", Received: t0.Add(2 * time.Minute), Reason: reason, Event: bounce("mg-2")},
	}); err != nil {
		t.Fatal(err)
	}
	srv := server.New(db, server.Options{Clock: c.Now, Auth: tokenAuth(t)})
	gs := srv.GRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(func() {
		srv.Drain()
		gs.Stop()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return lis.Addr().String()
}

func TestRunHooksUnmapped(t *testing.T) {
	addr := startUnmapped(t)
	admin := []string{"--addr", addr, "--token", "ops-alice"}

	stdout, stderr, err := runDpctl(t, append(admin, "hooks", "unmapped", "--source", "mailgun", "--limit", "1")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "SEQ ") || !strings.HasPrefix(lines[1], "3 ") || !strings.Contains(lines[1], "mg-2") {
		t.Errorf("got:\n%s\nwant the header and mg-2, seq 3", stdout)
	}
	if !strings.Contains(stderr, "more events follow") {
		t.Errorf("got stderr %q, want a word on the next page", stderr)
	}

	stdout, _, err = runDpctl(t, append(admin, "-o", "json", "hooks", "unmapped", "--limit", "1", "--all")...)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Events []struct {
			Seq        string `json:"seq"`
			Source     string `json:"source"`
			ReceivedAt string `json:"received_at"`
			Reason     string `json:"reason"`
			Event      struct {
				EventID string `json:"event_id"`
				Type    string `json:"type"`
			} `json:"event"`
		} `json:"events"`
		NextPageToken string `json:"next_page_token"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	var got []string
	for _, u := range list.Events {
		got = append(got, u.Seq+" "+u.Source+" "+u.Event.EventID)
	}
	if want := []string{"3 mailgun mg-2", "2 mailgun mg-1", "1 ses ses-1"}; strings.Join(got, ",") != strings.Join(want, ",") || list.NextPageToken != "" {
		t.Errorf("got %v and next page %q, want %v and none", got, list.NextPageToken, want)
	}
	if e := list.Events[2]; e.ReceivedAt != "2026-11-24T10:00:00Z" || e.Reason != "no mapping for configuration set news" || e.Event.Type != "EVENT_TYPE_COMPLAINT" {
		t.Errorf("got %+v, want ses-1's time, reason and type", e)
	}

	if _, _, err := runDpctl(t, "--addr", addr, "--token", "platform-a", "hooks", "unmapped"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a sender: got %v, want PermissionDenied", err)
	}
	for _, args := range [][]string{{"hooks"}, {"hooks", "mapped"}, {"hooks", "unmapped", "--limit", "-1"}, {"hooks", "unmapped", "extra"}} {
		if _, _, err := runDpctl(t, append(admin, args...)...); !errors.As(err, new(usageError)) {
			t.Errorf("%q: got %v, want a usageError", args, err)
		}
	}
}
